"""Identities in predictions: kept aligned with instances, assigned once per frame, written as tracks."""

import numpy as np
import sleap_io as sio

from posenn.inference.loop import chunk_part
from posenn.inference.results import BatchPrediction, FramePrediction, without_duplicates
from posenn.io.slp_writer import FrameBlock, write_predictions


def prediction(identities=None, probabilities=None) -> FramePrediction:
    points = np.stack([np.full((2, 2), 20.0 * i) + [[0, 0], [8, 6]] for i in range(3)]).astype(np.float32)
    return FramePrediction(7, points, np.ones((3, 2), np.float32), np.array([0.9, 0.8, 0.7], np.float32),
                           identities, probabilities)


def test_subset_keeps_identities_with_their_instances():
    subset = prediction(np.array([2, 0, 1]), np.eye(3)).subset(np.array([False, True, True]))
    assert subset.identities.tolist() == [0, 1]
    np.testing.assert_array_equal(subset.class_probabilities, np.eye(3)[1:])
    assert subset.points[0, 0, 0] == 20


def test_identities_are_assigned_once_per_frame_and_extra_instances_dropped():
    probabilities = np.array([[0.8, 0.2], [0.7, 0.3], [0.1, 0.9]])
    assigned = prediction(probabilities=probabilities).with_assigned_identities()
    assert assigned.identities.tolist() == [0, 1]
    assert assigned.points[:, 0, 0].tolist() == [0, 40]  # the second instance had no identity left
    np.testing.assert_array_equal(assigned.class_probabilities, probabilities[[0, 2]])


def test_batch_keeps_class_probabilities_of_its_kept_instances_for_pooling():
    points = prediction().points[None]  # (1 frame, 3 slots, 2 nodes, 2)
    batch = BatchPrediction.from_points(np.array([7]), points, np.ones((1, 3, 2), np.float32))
    probabilities = np.array([[[0.8, 0.2], [0.7, 0.3], [0.1, 0.9]]], np.float32)
    assigned = batch.with_assigned_identities(probabilities)
    (frame,) = assigned.frames()
    assert frame.identities.tolist() == [0, 1]
    np.testing.assert_array_equal(frame.class_probabilities, probabilities[0, [0, 2]])
    chunk = chunk_part(assigned)
    assert chunk.identities.tolist() == [0, 1] and chunk.class_probabilities.shape == (2, 2)
    assert chunk_part(batch).class_probabilities.shape == (3, 0)  # models without identities


def test_duplicates_are_removed_with_their_identities():
    duplicated = prediction(np.array([0, 1, 2]))
    duplicated.points[1] = duplicated.points[0] + 0.1
    kept = without_duplicates(duplicated, 0.5)
    assert kept.identities.tolist() == [0, 2]


def block(identities: np.ndarray) -> FrameBlock:
    """One frame of the three test instances, `identities` as track indices."""
    p = prediction()
    return FrameBlock(0, np.array([7]), np.array([3]), p.points, p.point_scores, p.scores, identities, np.zeros(3, np.float32))


def test_identities_become_the_named_tracks(tmp_path):
    skeleton = sio.Skeleton(["a", "b"])
    tracks = [sio.Track("male"), sio.Track("female")]
    video = sio.Video.from_filename("video.mp4")
    write_predictions(tmp_path / "named.slp", [video], skeleton, tracks, {}, [block(np.array([1, -1, 0]))])
    (frame,) = sio.load_slp(str(tmp_path / "named.slp"), open_videos=False).labeled_frames
    assert frame.frame_idx == 7
    assert [inst.track.name if inst.track else None for inst in frame.instances] == ["female", None, "male"]
    np.testing.assert_allclose(frame.instances[2].numpy(), prediction().points[2])
    write_predictions(tmp_path / "untracked.slp", [video], skeleton, [], {}, [block(np.full(3, -1))])
    (untracked,) = sio.load_slp(str(tmp_path / "untracked.slp"), open_videos=False).labeled_frames
    assert all(inst.track is None for inst in untracked.instances)
