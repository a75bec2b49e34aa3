"""`posenn analyze` against the exact motion of `posenn synth` animals.

The generator moves each thorax by `speed[t + 1] / fps` along `heading[t + 1]` from frame t to
t + 1, so the central-difference velocity at frame t is exactly the mean of the two steps'
velocity vectors; speeds, headings, path lengths, distances and bouts computed from the
generator's own state must match the analysis to float32 precision (movement stores positions as
float32): 1e-2 px/s for speeds, 1e-3 px for distances.
"""

import json

import numpy as np
import pandas as pd
import pytest
import sleap_io as sio

from posenn.analysis import AnalysisOptions, analyze
from posenn.analysis.interactions import runs
from posenn.analysis.poses import Cleaning
from posenn.synth import make_labels, synthesize
from posenn.synth.motion import unit
from posenn.synth.skeleton import ABDOMEN, HEAD

FPS = 30.0
FRAMES = 240
SIZE = 256
SEED = 3  # the two animals meet (centroids within a third of a body length)
EXACT = AnalysisOptions(
    cleaning=Cleaning(smooth=0, max_gap=0, min_presence=0.0), fps=FPS, centroid="thorax", axis=("abdomen", "head"),
    pairs=["head:head"], contact=1.0, approach=1.0,
)


@pytest.fixture(scope="module")
def synth():
    """The generator's video with every part labeled visible, as a pose model predicts them all."""
    video = synthesize(animals=2, frames=FRAMES, size=SIZE, seed=SEED, fps=FPS)
    video.hidden[:] = False
    return video


@pytest.fixture(scope="module")
def result(synth, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    sio.save_slp(make_labels(synth, FPS), str(folder / "synth.slp"), verbose=False)
    out = folder / "analysis"
    res = analyze(folder / "synth.slp", out, EXACT, quiet=True)
    return res, out


def true_velocity(synth) -> np.ndarray:
    """Central-difference velocity of each thorax at frames 1..T-2, (T-2, animals, 2), px/s."""
    step = synth.motion.speed[..., None] * unit(synth.motion.heading)  # velocity of the step into frame t
    return (step[1:-1] + step[2:]) / 2


def table(out, name):
    return pd.read_csv(out / f"{name}.csv")


def thorax(kinematics: pd.DataFrame, animal: str, column: str) -> np.ndarray:
    rows = kinematics[(kinematics["animal"] == animal) & (kinematics["node"] == "thorax")].sort_values("frame")
    assert len(rows) == FRAMES
    return rows[column].to_numpy()


def test_speed_heading_and_acceleration_match_the_generator(synth, result):
    res, out = result
    kinematics = table(out, "kinematics")
    velocity = true_velocity(synth)
    dt = 1 / FPS
    true_acceleration = np.linalg.norm((velocity[2:] - velocity[:-2]) / (2 * dt), axis=-1)  # frames 2..T-3
    for k, animal in enumerate(synth.track_names):
        speed = thorax(kinematics, animal, "speed")[1:-1]
        np.testing.assert_allclose(speed, np.linalg.norm(velocity[:, k], axis=-1), atol=1e-2)
        moving = np.linalg.norm(velocity[:, k], axis=-1) > 1.0
        heading = thorax(kinematics, animal, "heading")[1:-1]
        true_heading = np.arctan2(velocity[:, k, 1], velocity[:, k, 0])
        error = np.angle(np.exp(1j * (heading - true_heading)))[moving]
        assert np.abs(error).max() < 1e-3
        acceleration = thorax(kinematics, animal, "acceleration")[2:-2]
        np.testing.assert_allclose(acceleration, true_acceleration[:, k], atol=0.5)
    assert res.summary["units"] == {"length": "px", "time": "s", "px_per_mm": None, "fps": FPS, "speed": "px/s"}


def test_path_length_and_time_moving_match_the_generator(synth, result):
    _, out = result
    nodes = table(out, "nodes")
    animals = table(out, "animals").set_index("animal")
    speed = synth.motion.speed
    for k, animal in enumerate(synth.track_names):
        row = nodes[(nodes["animal"] == animal) & (nodes["node"] == "thorax")].iloc[0]
        assert row["path_length"] == pytest.approx(speed[1:, k].sum() / FPS, abs=1e-2)
        threshold = animals.loc[animal, "still_speed"]
        true_moving = int((np.linalg.norm(true_velocity(synth)[:, k], axis=-1) > threshold).sum())
        measured = row["time_moving"] * FPS
        assert abs(measured - true_moving) <= 2  # 2 edge frames use one-sided differences
        assert (row["time_moving"] + row["time_still"]) * FPS == pytest.approx(FRAMES)


def test_body_length_is_the_median_head_to_abdomen_distance(synth, result):
    _, out = result
    animals = table(out, "animals").set_index("animal")
    for k, animal in enumerate(synth.track_names):
        axis = np.linalg.norm(synth.points[:, k, HEAD] - synth.points[:, k, ABDOMEN], axis=-1)
        assert animals.loc[animal, "body_length"] == pytest.approx(np.median(axis), abs=1e-3)
        # head and abdomen centres are 0.58 body lengths apart on a straight walk; turns bend the
        # body and shorten the axis a little
        straight = 0.58 * SIZE / 5 * synth.looks[k].scale
        assert 0.95 * straight < animals.loc[animal, "body_length"] <= straight


def test_distances_and_contact_bouts_match_the_generator(synth, result):
    _, out = result
    a, b = synth.track_names
    distances = table(out, "distances")
    centre = distances[(distances["node_a"] == "centroid") & (distances["node_b"] == "centroid")].sort_values("frame")
    truth = np.linalg.norm(synth.motion.centre[:, 0] - synth.motion.centre[:, 1], axis=-1)
    np.testing.assert_allclose(centre["distance"].to_numpy(), truth, atol=1e-3)
    heads = distances[(distances["node_a"] == "head") & (distances["node_b"] == "head")].sort_values("frame")
    np.testing.assert_allclose(heads["distance"].to_numpy(), np.linalg.norm(synth.points[:, 0, HEAD] - synth.points[:, 1, HEAD], axis=-1), atol=1e-3)

    lengths = table(out, "animals")["body_length"].to_numpy()
    true_bouts = [(s, e) for s, e in runs(truth < lengths.mean()) if e - s + 1 >= EXACT.min_bout_frames]
    bouts = table(out, "bouts")
    contacts = bouts[bouts["kind"] == "contact"]
    assert len(true_bouts) >= 1
    assert list(zip(contacts["start_frame"], contacts["end_frame"])) == true_bouts
    np.testing.assert_allclose(contacts["duration"], [(e - s + 1) / FPS for s, e in true_bouts])
    np.testing.assert_allclose(contacts["min_distance"], [truth[s : e + 1].min() for s, e in true_bouts], atol=1e-3)


def test_approacher_is_the_animal_that_closed_most_of_the_distance(synth, result):
    _, out = result
    bouts = table(out, "bouts")
    approaches = bouts[bouts["kind"] == "approach"]
    assert len(approaches) >= 1
    names = synth.track_names
    centre = synth.motion.centre
    velocity = np.concatenate([np.full((1, 2, 2), np.nan), true_velocity(synth), np.full((1, 2, 2), np.nan)])
    lengths = table(out, "animals")["body_length"].mean()
    for bout in approaches.itertuples():
        frames = slice(bout.start_frame, bout.end_frame + 1)
        towards = centre[frames, 1] - centre[frames, 0]
        towards /= np.linalg.norm(towards, axis=-1, keepdims=True)
        closed_by_0 = np.nansum((velocity[frames, 0] * towards).sum(-1))
        closed_by_1 = np.nansum((-velocity[frames, 1] * towards).sum(-1))
        assert bout.approacher == names[0 if closed_by_0 >= closed_by_1 else 1]
        assert -bout.distance_change >= lengths  # closed at least one body length


def test_outputs_and_summary(result):
    res, out = result
    for name in ("kinematics", "nodes", "animals", "distances", "bouts"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.parquet").is_file()
    for figure in ("trajectories", "speed", "distance", "occupancy"):
        assert (out / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == FRAMES and sorted(summary["animals"]) == ["animal_0", "animal_1"]
    assert summary["body_axis"] == ["abdomen", "head"]
    pair = summary["pairs"]["animal_0-animal_1"]
    assert pair["contact_bouts"] == res.bouts["contact"] >= 1
    kinematics = pd.read_parquet(out / "kinematics.parquet")
    assert len(kinematics) == FRAMES * 2 * 16  # 15 nodes and the centroid, every frame


def test_millimetres_scale_lengths_and_speeds(result, tmp_path):
    res, out = result
    options = AnalysisOptions(**{**EXACT.__dict__, "px_per_mm": 4.0, "figures": False})
    analyze(res.summary["source"], tmp_path, options, quiet=True)
    px, mm = table(out, "nodes"), table(tmp_path, "nodes")
    np.testing.assert_allclose(mm["path_length"], px["path_length"] / 4.0, rtol=1e-6)
    np.testing.assert_allclose(mm["mean_speed"], px["mean_speed"] / 4.0, rtol=1e-6)
    np.testing.assert_array_equal(mm["time_moving"], px["time_moving"])  # thresholds are in body lengths
    assert json.loads((tmp_path / "summary.json").read_text())["units"]["speed"] == "mm/s"
