"""Identities pooled along tracklets: one crop's mistake is outvoted by the rest of its tracklet."""

import numpy as np
import pytest

from posenn.tracking import FrameInstances
from posenn.tracking.identities import (
    class_log_probabilities,
    cut_at_swaps,
    frame_identities,
    pooled_identities,
    pooled_log_probabilities,
    tracklet_lengths,
)

from .test_similarity import animal


def two_animals(frames: int, probabilities: np.ndarray, stray_at: int | None = None) -> list[FrameInstances]:
    """Animal 0 moving right, animal 1 moving left 60 px below, detected in the order of
    `probabilities`' rows; a third, weak detection far away at `stray_at`."""
    out = []
    for f in range(frames):
        points = [animal(2 * f, 0), animal(100 - 2 * f, 60)]
        if f == stray_at:
            points.append(animal(300, 300))
        out.append(FrameInstances(frame_idx=f, points=np.array(points, float), scores=np.ones(len(points))))
    return out


def test_confident_mistakes_in_single_frames_are_outvoted_by_the_tracklet():
    frames = 20
    probabilities = np.tile([[0.8, 0.2], [0.3, 0.7]], (frames, 1))
    for f in (5, 12):  # the model swaps the names in two frames, confidently
        probabilities[2 * f : 2 * f + 2] = [[0.01, 0.99], [0.99, 0.01]]
    per_frame = np.argmax(probabilities, axis=1)
    assert (per_frame != np.tile([0, 1], frames)).sum() == 4
    identities = pooled_identities(two_animals(frames, probabilities), probabilities)
    np.testing.assert_array_equal(identities, np.tile([0, 1], frames))


def test_extra_detections_get_no_identity_and_rows_must_match():
    probabilities = np.tile([[0.9, 0.1], [0.1, 0.9]], (6, 1))
    probabilities = np.insert(probabilities, 2 * 3 + 2, [0.6, 0.4], axis=0)  # the stray of frame 3
    identities = pooled_identities(two_animals(6, probabilities, stray_at=3), probabilities)
    assert identities.tolist() == [0, 1] * 4 + [-1] + [0, 1] * 2
    with pytest.raises(ValueError, match="13 detections but 12 rows"):
        pooled_identities(two_animals(6, probabilities, stray_at=3), probabilities[:12])


def test_pooled_log_probabilities_multiply_the_frames_of_a_tracklet():
    probabilities = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    pooled = pooled_log_probabilities(np.array([0, 0, -1]), class_log_probabilities(probabilities))
    np.testing.assert_allclose(np.exp(pooled[0]), [0.9, 0.1])  # 0.45 : 0.05
    np.testing.assert_allclose(pooled[1], pooled[0])
    np.testing.assert_allclose(np.exp(pooled[2]), [0.2, 0.8])


def test_a_biased_model_still_names_the_likelier_tracklet():
    """Both animals look more like identity 1 to the model in every frame (0.38 and 0.29 for
    identity 0, as on the fly sample); pooled over 100 frames both tracklets' probabilities of
    identity 0 underflow, but the first animal is the likelier identity 0 in every frame."""
    frames = 100
    probabilities = np.tile([[0.38, 0.62], [0.29, 0.71]], (frames, 1))
    pooled = pooled_log_probabilities(np.tile([0, 1], frames), class_log_probabilities(probabilities))
    assert np.exp(pooled[:2, 0]).max() < 1e-20
    identities = pooled_identities(two_animals(frames, probabilities), probabilities)
    np.testing.assert_array_equal(identities, np.tile([0, 1], frames))


def test_frame_identities_leave_out_the_shortest_tracklets():
    log_probabilities = np.log([[0.6, 0.4], [1e-20, 1.0], [1e-30, 1.0]])  # a lone stray first, then two long tracklets
    np.testing.assert_array_equal(frame_identities(log_probabilities, np.array([1, 100, 100])), [-1, 0, 1])
    np.testing.assert_array_equal(frame_identities(log_probabilities[:1], np.array([1])), [0])


def test_untracked_detections_count_one_and_lengthen_no_tracklet():
    tracklets = np.array([-1, -1, -1, 0, 1, 1])
    np.testing.assert_array_equal(tracklet_lengths(tracklets), [1, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(tracklet_lengths(np.array([-1, -1])), [1, 1])
    assert tracklet_lengths(np.zeros(0, dtype=np.int64)).shape == (0,)


def test_tracklets_are_cut_where_the_class_evidence_turns_for_good():
    rng = np.random.default_rng(0)
    turned = np.log(np.r_[np.tile([0.8, 0.2], (25, 1)), np.tile([0.2, 0.8], (15, 1))])  # a swap after 25
    first = 0.5 + np.clip(rng.normal(0, 0.08, 200), -0.3, 0.3)
    weak = np.log(np.stack([first, 1 - first], axis=1))  # a weak, noisy model: nothing to cut
    lone = np.log([[0.01, 0.99]])
    tracklets = np.r_[np.zeros(40, int), np.ones(200, int), -1]
    cut = cut_at_swaps(tracklets, np.concatenate([turned, weak, lone]))
    assert (cut[:25] == 0).all() and (cut[25:40] == cut[25]).all() and cut[25] not in (0, 1)
    assert (cut[40:240] == 1).all() and cut[240] == -1
    short = cut_at_swaps(np.zeros(5, int), np.log(np.tile([[0.01, 0.99], [0.99, 0.01]], (3, 1))[:5]))
    assert (short == 0).all()  # too short to cut into pieces of MIN_PIECE


def test_pooled_names_follow_a_swap_the_tracker_missed():
    """The tracked paths never cross, but the model's evidence swaps after frame 40 (as when two
    animals in contact trade places unseen by the tracker): the names swap with it."""
    frames, swap = 60, 40
    probabilities = np.tile([[0.8, 0.2], [0.2, 0.8]], (frames, 1))
    probabilities[2 * swap :] = probabilities[2 * swap :, ::-1]
    identities = pooled_identities(two_animals(frames, probabilities), probabilities)
    np.testing.assert_array_equal(identities, np.r_[np.tile([0, 1], swap), np.tile([1, 0], frames - swap)])
