"""`posenn track --tracking-only` and tracking metrics in `posenn eval`, through the CLI."""

import json
from pathlib import Path

import numpy as np
import sleap_io as sio
from typer.testing import CliRunner

from posenn.cli import app
from posenn.synth import generate, noisy_detections

runner = CliRunner()


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def tracking_metrics(truth_path: Path, tracked: Path, out: Path) -> dict:
    invoke("eval", truth_path, tracked, "--json", out)
    return json.loads(out.read_text())["tracking"]


def test_crossing_animals_keep_identities(tmp_path):
    truth_path = generate(tmp_path / "synth", animals=2, frames=300, size=256, seed=5)
    predictions = tmp_path / "pred.slp"
    # Ground truth + 1.5 px noise, shuffled, 3% dropped and a 20-frame gap for one animal.
    sio.save_slp(noisy_detections(sio.load_slp(str(truth_path)), seed=0), str(predictions))

    invoke("track", predictions, "--tracking-only", "--max-tracks", "2", "-o", tmp_path / "capped.slp", "-q")
    capped = tracking_metrics(truth_path, tmp_path / "capped.slp", tmp_path / "capped.json")
    invoke("track", predictions, "--tracking-only", "-o", tmp_path / "free.slp", "-q")
    free = tracking_metrics(truth_path, tmp_path / "free.slp", tmp_path / "free.json")
    print(f"capped: {capped['id_switches']} switches, IDF1 {capped['idf1']:.3f}; "
          f"free: {free['n_pred_tracks']} tracks, {free['id_switches']} switches, IDF1 {free['idf1']:.3f}")

    assert capped["n_pred_tracks"] == 2
    assert capped["id_switches"] <= 2
    assert capped["idf1"] >= 0.95
    assert free["n_pred_tracks"] <= 3
    assert free["idf1"] >= 0.9


def test_sample_predictions_retracked_into_two_flies(shared_file, tmp_path):
    output = tmp_path / "flies.slp"
    invoke("track", shared_file("centered_pair_predictions.slp"), "--tracking-only", "--max-tracks", "2", "-o", output, "-q")
    labels = sio.load_slp(str(output))
    assert len(labels.tracks) == 2
    assert labels.n_pred_instances == 2274
    tracked = [inst.track is not None for lf in labels for inst in lf.instances]
    assert np.mean(tracked) > 0.95


def test_eval_without_tracks_in_ground_truth_has_no_tracking_section(shared_file, tmp_path):
    out = tmp_path / "m.json"
    invoke("eval", shared_file("dance.mp4.labels.slp"), shared_file("dance.mp4.labels.slp"), "--json", out)
    assert "tracking" not in json.loads(out.read_text())
