"""Identity accuracy: a ground-truth animal counts as named right when its nearest prediction
(one-to-one, within the match distance) carries a track of its name."""

import numpy as np
import pytest
import sleap_io as sio

from posenn.evaluation.identity import mean_distance, named_right

SKELETON = sio.Skeleton(["a", "b"])
VIDEO = sio.Video.from_filename("video.mp4")


def labels(frames: list[list[tuple[float, str | None]]], tracks: dict[str, sio.Track]) -> sio.Labels:
    """One frame per entry, each animal `(x, track name)` with parts at (x, 0) and (x + 4, 0)."""
    labeled = []
    for frame_idx, animals in enumerate(frames):
        instances = [
            sio.Instance.from_numpy(np.array([[x, 0.0], [x + 4, 0.0]]), skeleton=SKELETON, track=tracks.get(name))
            for x, name in animals
        ]
        labeled.append(sio.LabeledFrame(video=VIDEO, frame_idx=frame_idx, instances=instances))
    return sio.Labels(labeled_frames=labeled, videos=[VIDEO], skeletons=[SKELETON], tracks=list(tracks.values()))


def test_named_right_counts_matched_names_and_unmatched_animals():
    truth_tracks = {"female": sio.Track("female"), "male": sio.Track("male")}
    truth = labels([[(0, "female"), (100, "male")]] * 3, truth_tracks)
    predicted_tracks = {"female": sio.Track("female"), "male": sio.Track("male")}
    predictions = labels(
        [
            [(101, "male"), (1, "female")],  # both right, listed in another order
            [(2, "male"), (99, "female")],  # both swapped
            [(3, "female"), (150, "male")],  # the male's prediction is 50 px off: unmatched
        ],
        predicted_tracks,
    )
    right, unmatched = named_right(truth, predictions)
    assert right == pytest.approx(3 / 6) and unmatched == 1
    assert named_right(truth, predictions, match_px=60.0) == (pytest.approx(4 / 6), 0)


def test_named_right_refuses_ground_truth_without_names():
    truth = labels([[(0, None)]], {})
    with pytest.raises(ValueError, match="frame 0: an instance has no track"):
        named_right(truth, truth)


def test_mean_distance_uses_the_parts_both_have():
    a = np.array([[[0.0, 0.0], [np.nan, np.nan]]])
    b = np.array([[[3.0, 4.0], [10.0, 10.0]], [[np.nan, np.nan], [1.0, 1.0]]])
    np.testing.assert_allclose(mean_distance(a, b), [[5.0, np.inf]])
