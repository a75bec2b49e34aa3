"""The tracker on noisy detections of synthetic videos with known identities."""

import numpy as np
import pytest

from posenn.synth import synthesize
from posenn.tracking import FrameInstances, TrackerOptions, track_frames
from posenn.tracking.flow import flow_shift
from posenn.tracking.pipeline import track_stream

from .synthetic import identity_switches, noisy_detections, track_count, tracked_fraction

CASES = [(2, 0), (2, 1), (3, 0), (3, 1)]  # (animals, seed)


@pytest.mark.parametrize("animals, seed", CASES)
@pytest.mark.parametrize("motion", ["none", "constant_velocity"])
def test_known_number_of_animals_gives_that_many_tracks_and_no_switches(animals, seed, motion):
    frames, owners = noisy_detections(animals, seed)
    ids = track_frames(frames, TrackerOptions(max_tracks=animals, motion=motion))
    assert track_count(ids) == animals
    assert identity_switches(owners, ids, animals) == 0  # measured: 0 on every case
    assert tracked_fraction(owners, ids) >= 0.99  # measured: 0.996-1.0


@pytest.mark.parametrize("animals, seed", CASES)
def test_global_pass_infers_the_number_of_animals(animals, seed):
    frames, owners = noisy_detections(animals, seed)
    ids = track_frames(frames, TrackerOptions())
    assert track_count(ids) <= animals + 1  # measured: exactly `animals`
    assert identity_switches(owners, ids, animals) <= 1  # measured: 0
    assert tracked_fraction(owners, ids) >= 0.95


def test_global_pass_joins_the_pieces_the_online_pass_leaves():
    frames, owners = noisy_detections(3, 0)
    online_only = track_frames(frames, TrackerOptions(global_pass=False, min_track_length=1))
    assert track_count(online_only) > 6  # measured: 10 (a new track after every drop-out)
    assert track_count(track_frames(frames, TrackerOptions())) == 3


@pytest.mark.parametrize("similarity", ["iou", "centroid"])
def test_other_similarities_track_with_few_switches(similarity):
    frames, owners = noisy_detections(2, 0)
    ids = track_frames(frames, TrackerOptions(similarity=similarity, max_tracks=2))
    assert track_count(ids) == 2
    assert identity_switches(owners, ids, 2) <= 2  # measured: 0; iou/centroid are weaker on 3 animals


def test_optical_flow_follows_the_rendered_animals():
    synth = synthesize(animals=2, frames=60, size=256, seed=3)
    moved = flow_shift(synth.images[10], synth.images[11], synth.points[10])
    before = np.nanmean(np.linalg.norm(synth.points[10] - synth.points[11], axis=-1))
    after = np.nanmean(np.linalg.norm(moved - synth.points[11], axis=-1))
    assert after < before
    frames = [FrameInstances(f, synth.points[f][:: -1 if f % 2 else 1], np.ones(2)) for f in range(60)]
    options = TrackerOptions(optical_flow=True, max_tracks=2)
    ids = track_frames(frames, options, images=lambda f: synth.images[f])
    owners = [np.array([1, 0]) if f % 2 else np.array([0, 1]) for f in range(60)]
    assert identity_switches(owners, ids, 2) == 0 and track_count(ids) == 2


@pytest.mark.parametrize("max_tracks", [None, 3])
def test_a_stream_of_frames_is_tracked_as_the_list(max_tracks, monkeypatch):
    monkeypatch.setattr("posenn.tracking.pipeline.BLOCK_FRAMES", 7)  # many joined blocks
    frames, _ = noisy_detections(3, 1)
    options = TrackerOptions(max_tracks=max_tracks)
    ids, scores = track_stream(iter(frames), options)  # consumed once, in order
    expected = track_frames(frames, options)
    assert ids.tolist() == np.concatenate(expected).tolist()
    assert len(scores) == len(ids) and (scores[ids < 0] == 0).all()
