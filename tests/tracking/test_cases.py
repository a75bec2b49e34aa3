"""The tracker on small hand-made sequences."""

import numpy as np
import pytest

from posenn.errors import PosennError
from posenn.tracking import FrameInstances, TrackerOptions, track_frames
from posenn.tracking.postprocess import infer_count

from .test_similarity import animal


def crossing(gap: range) -> list[FrameInstances]:
    """Two animals walking towards each other along x, 4 px/frame, passing at frame 50, with
    neither detected during `gap`. Detection 0 is always the one coming from the left."""
    frames = []
    for f in range(100):
        if f in gap:
            continue
        points = np.array([animal(4 * f, 0), animal(400 - 4 * f, 15)])
        frames.append(FrameInstances(frame_idx=f, points=points, scores=np.ones(2)))
    return frames


@pytest.mark.parametrize("max_tracks", [2, None])
def test_animals_crossing_during_a_gap_keep_their_identities(max_tracks):
    ids = track_frames(crossing(range(44, 57)), TrackerOptions(max_tracks=max_tracks))
    assert all(list(frame_ids) == [0, 1] for frame_ids in ids)


def test_without_the_global_pass_the_gap_splits_the_tracks():
    ids = track_frames(crossing(range(44, 57)), TrackerOptions(global_pass=False))
    assert len({t for frame_ids in ids for t in frame_ids.tolist()}) == 4


@pytest.mark.parametrize("matching", ["hungarian", "greedy"])
@pytest.mark.parametrize("similarity", ["oks", "iou", "centroid"])
def test_every_matching_and_similarity_tracks_an_easy_case(matching, similarity):
    frames = [
        FrameInstances(f, np.array([animal(f, 0), animal(200 - f, 100)])[:: 1 if f % 2 else -1], np.ones(2))
        for f in range(30)
    ]
    ids = track_frames(frames, TrackerOptions(matching=matching, similarity=similarity))
    for f, frame_ids in enumerate(ids):
        assert list(frame_ids) == ([1, 0] if f % 2 else [0, 1])  # the first detection seen is track 0


def test_short_spurious_tracklet_is_untracked():
    frames = [FrameInstances(f, animal(f)[None], np.ones(1)) for f in range(20)]
    for f in (8, 9):
        frames[f] = FrameInstances(f, np.array([animal(f), animal(150, 150)]), np.array([1.0, 0.3]))
    ids = track_frames(frames, TrackerOptions(min_track_length=3))
    assert [list(frame_ids) for frame_ids in ids[8:10]] == [[0, -1], [0, -1]]
    kept = track_frames(frames, TrackerOptions(min_track_length=1, global_pass=False))
    assert [list(frame_ids) for frame_ids in kept[8:10]] == [[0, 1], [0, 1]]


def test_max_tracks_drops_the_lowest_scores_first():
    frames = [
        FrameInstances(f, np.array([animal(0), animal(100), animal(200)]), np.array([0.9, 0.2, 0.8]))
        for f in range(10)
    ]
    ids = track_frames(frames, TrackerOptions(max_tracks=2))
    assert all(list(frame_ids) == [0, -1, 1] for frame_ids in ids)


def test_number_of_animals_is_the_count_in_most_frames():
    counts = [2] * 90 + [3] * 5 + [1] * 5 + [0] * 50
    ids = np.concatenate([np.arange(n) for n in counts])
    frame_rows = np.repeat(np.arange(len(counts)), counts)
    assert infer_count(frame_rows, ids) == 2


def test_frames_out_of_order_or_flow_without_images_are_refused():
    frames = [FrameInstances(f, animal(0)[None], np.ones(1)) for f in (3, 1)]
    with pytest.raises(PosennError, match="increasing"):
        track_frames(frames, TrackerOptions())
    with pytest.raises(PosennError, match="images"):
        track_frames(frames[:1], TrackerOptions(optical_flow=True))
    with pytest.raises(PosennError, match="similarity"):
        TrackerOptions(similarity="euclid")
