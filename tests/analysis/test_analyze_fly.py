"""`posenn analyze` on the two-fly sample predictions, from the command line, and its errors."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from posenn.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def fly_run(tmp_path_factory, shared_file):
    source = shared_file("centered_pair_predictions.slp")
    out = tmp_path_factory.mktemp("fly")
    result = runner.invoke(app, ["analyze", str(source), "-o", str(out), "--seconds", "--pair", "head:abdomen"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_fly_sample_tables_and_figures(fly_run):
    out, output = fly_run
    assert "2 animals, 1100 frames" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units"]["time"] == "s" and summary["units"]["fps"] == 15.0
    assert sorted(summary["animals"]) == ["1", "2"]  # the 25 short track fragments are left out
    assert len(summary["dropped_tracks"]) == 25
    assert summary["body_axis"] == ["abdomen", "head"]
    animals = pd.read_csv(out / "animals.csv")
    assert animals["frames_seen"].tolist() == [1100, 1100]
    assert ((animals["body_length"] > 40) & (animals["body_length"] < 100)).all()  # flies in a 384-px frame
    assert (animals["time_moving"] + animals["time_still"] <= 1100 / 15 + 1e-9).all()
    distances = pd.read_csv(out / "distances.csv")
    assert set(zip(distances["node_a"], distances["node_b"])) == {("centroid", "centroid"), ("head", "abdomen"), ("abdomen", "head")}
    assert distances["time"].max() == pytest.approx(1099 / 15)
    for figure in ("trajectories", "speed", "distance", "occupancy"):
        assert (out / f"{figure}.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair", "head:nose"], "node(s) nose not in the skeleton"),
        (["--smooth", "4"], "--smooth must be 0 or an odd number"),
        (["--centroid", "tail"], "--centroid: node 'tail'"),
        (["--axis", "abdomen"], "--axis: expected TAIL:HEAD"),
        (["--min-presence", "1.5"], "--min-presence must be a fraction"),
    ],
)
def test_bad_options_name_the_option(shared_file, tmp_path, args, message):
    source = shared_file("centered_pair_predictions.slp")
    result = runner.invoke(app, ["analyze", str(source), "-o", str(tmp_path / "out"), "-q", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out" / "summary.json").exists()


def test_missing_file_and_untracked_predictions(shared_file, tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path / "none.slp"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Predictions file not found" in result.output
    result = runner.invoke(app, ["analyze", str(shared_file("minimal_instance.pkg.slp")), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "without a track" in result.output
