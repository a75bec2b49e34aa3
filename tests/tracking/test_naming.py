"""Naming tracks by body length, and the fly sample's identity recipe (scripts/fly_identities.py)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio

from posenn.errors import PosennError
from posenn.tracking.naming import body_lengths, name_tracks_by_length

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fly_identities.py"


def worm(x: float, y: float, length: float) -> np.ndarray:
    """A 3-node animal: head at `(x, y)`, tail `length` px to the right, a side point."""
    return np.array([[x, y], [x + length, y], [x + length / 2, y + 5]])


def two_animals(frames: int = 12, long_small_at: int | None = None) -> sio.Labels:
    """A 30 px animal moving right and a 20 px one moving left, 80 px apart, plus a one-point
    stray detection in frame 3; at `long_small_at` the small animal measures 33 px (a bad pose, still linked to its track)."""
    skeleton = sio.Skeleton(["head", "tail", "side"])
    video = sio.Video(filename="fake.mp4")
    out = []
    for f in range(frames):
        small = 33.0 if f == long_small_at else 20.0
        poses = [worm(2 * f, 0, small), worm(100 - 2 * f, 80, 30.0)]  # the small one first
        instances = [sio.PredictedInstance.from_numpy(p, skeleton, point_scores=np.ones(3), score=1.0) for p in poses]
        if f == 3:
            stray = np.full((3, 2), np.nan)
            stray[0] = (300, 300)
            instances.append(sio.PredictedInstance.from_numpy(stray, skeleton, point_scores=np.ones(3), score=0.1))
        out.append(sio.LabeledFrame(video=video, frame_idx=f, instances=instances))
    return sio.Labels(labeled_frames=out, videos=[video], skeletons=[skeleton])


def test_the_longer_track_gets_the_first_name_and_strays_are_dropped():
    labels, report = name_tracks_by_length(two_animals(), ["big", "small"], front="head", back="tail")
    assert [t.name for t in labels.tracks] == ["big", "small"]
    assert report.median_lengths == pytest.approx([30.0, 20.0])
    assert report.frames == report.checked_frames == 12
    assert report.disagreements == [] and report.motion_swaps == [] and report.incomplete_frames == []
    assert report.dropped == 1
    assert report.smallest_margin == pytest.approx(10.0)
    for lf in labels.labeled_frames:
        named = {inst.track.name: inst.numpy() for inst in lf.instances}
        assert sorted(named) == ["big", "small"] and all(type(i) is sio.Instance for i in lf.instances)
        assert body_lengths(named["big"], 0, 1) == pytest.approx(30.0)


def test_a_frame_against_the_size_rule_is_reported_repaired_and_shows_as_a_motion_swap():
    labels, report = name_tracks_by_length(two_animals(long_small_at=6), ["big", "small"], front="head", back="tail")
    assert report.disagreements == [6]
    frame = next(lf for lf in labels.labeled_frames if lf.frame_idx == 6)
    big = next(inst for inst in frame.instances if inst.track.name == "big")
    assert body_lengths(big.numpy(), 0, 1) == pytest.approx(33.0)  # named by the size rule
    assert report.motion_swaps == [6, 7]  # ... which crosses the positions: in and out of frame 6


def test_bad_names_and_nodes_are_refused():
    with pytest.raises(PosennError, match="two or more distinct names"):
        name_tracks_by_length(two_animals(), ["only"], front="head", back="tail")
    with pytest.raises(PosennError, match="no node 'abdomen'"):
        name_tracks_by_length(two_animals(), ["a", "b"], front="head", back="abdomen")


def test_fly_recipe_names_both_flies_in_every_frame_without_a_swap(shared_file, tmp_path):
    source = shared_file("centered_pair_predictions.slp")
    shared_file("centered_pair_low_quality.mp4")
    output, strip = tmp_path / "flies.slp", tmp_path / "flies.png"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--labels", str(source), "-o", str(output), "--strip", str(strip)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "swaps by motion between consecutive frames: 0" in run.stdout
    assert strip.stat().st_size > 10_000
    labels = sio.load_slp(str(output))
    assert [t.name for t in labels.tracks] == ["female", "male"]
    assert len(labels.labeled_frames) == 1100
    nodes = labels.skeleton.node_names
    head, abdomen = nodes.index("head"), nodes.index("abdomen")
    margins = []
    for lf in labels.labeled_frames:
        names = [inst.track.name for inst in lf.instances if inst.track is not None]
        assert len(names) == len(lf.instances) and len(set(names)) == len(names)  # every instance named once
        if len(names) == 2:
            lengths = {inst.track.name: body_lengths(inst.numpy(), head, abdomen) for inst in lf.instances}
            margins.append(lengths["female"] - lengths["male"])
    margins = np.array(margins)
    assert len(margins) >= 1095  # both flies named in all frames but the last
    measured = margins[~np.isnan(margins)]
    assert len(measured) >= 1070 and (measured > 0).all()  # the female is the longer fly in every measured frame
