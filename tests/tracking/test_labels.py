"""Re-tracking SLEAP labels: a small round trip and the centered_pair sample predictions."""

import time
from collections import Counter

import numpy as np
import sleap_io as sio

from posenn.tracking import TrackerOptions, track_labels

from .test_similarity import animal


def small_labels() -> sio.Labels:
    """Two animals over 10 frames, predicted in a shuffled order, with one old track each."""
    skeleton = sio.Skeleton(["head", "tail", "side"])
    video = sio.Video(filename="fake.mp4")
    old = [sio.Track("old_a"), sio.Track("old_b")]
    frames = []
    for f in range(10):
        poses = [animal(2 * f, 0), animal(100 - 2 * f, 80)]
        order = [1, 0] if f % 3 else [0, 1]
        instances = [
            sio.PredictedInstance.from_numpy(
                poses[k], skeleton, point_scores=np.full(3, 0.5), score=0.9 - k / 10, track=old[(k + f) % 2]
            )
            for k in order
        ]
        frames.append(sio.LabeledFrame(video=video, frame_idx=f, instances=instances))
    return sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=old)


def test_round_trip_assigns_new_tracks_and_keeps_points_and_scores():
    labels = small_labels()
    out = track_labels(labels, TrackerOptions(min_track_length=1))
    assert [t.name for t in out.tracks] == ["track_0", "track_1"]
    for before, after in zip(labels, out):
        assert after.frame_idx == before.frame_idx
        for a, b in zip(before.predicted_instances, after.predicted_instances):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            assert b.score == a.score
            np.testing.assert_array_equal(b.points["score"], 0.5)
        by_animal = {round(inst.numpy()[0, 1]): inst.track.name for inst in after.predicted_instances}
        assert by_animal == {0: "track_0", 80: "track_1"}
    assert labels[5].predicted_instances[0].track.name.startswith("old")  # input untouched


def test_centered_pair_predictions_become_two_tracks(shared_file):
    labels = sio.load_slp(str(shared_file("centered_pair_predictions.slp")))
    assert len(labels.tracks) == 27
    start = time.perf_counter()
    out = track_labels(labels, TrackerOptions(max_tracks=2))
    rate = len(labels) / (time.perf_counter() - start)
    assert len(out.tracks) == 2
    tracked = [inst.track is not None for lf in out for inst in lf.predicted_instances]
    assert np.mean(tracked) > 0.95
    assert rate > 200  # frames/s; measured ~5000 on a laptop-class CPU
    free = track_labels(labels, TrackerOptions())
    sizes = sorted(Counter(i.track.name for lf in free for i in lf.predicted_instances if i.track).values())
    assert sizes[-2:] == [1099, 1100]  # the two flies, whole
    assert sum(sizes[:-2]) < 50  # measured: 8 spurious low-score tracks, 41 detections in all
