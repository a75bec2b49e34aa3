"""`posenn track`'s bottom-up grouping options reach the model's grouping, in its input pixels."""

import sleap_io as sio
import torch
from typer.testing import CliRunner

from posenn.cli import app
from posenn.inference.predictor import load_model
from posenn.inference.run import TrackOptions, grouped
from posenn.synth import generate

MODEL = "zoo:flies-bottomup"  # shipped with the package


def test_given_options_replace_the_models_own_and_others_stay():
    model = load_model(MODEL, torch.device("cpu"))
    own = model.head.grouping
    changed = grouped(model, TrackOptions(min_instance_score=0.9, max_hop_length=20.0, min_points=3)).head.grouping
    assert (changed.min_score, changed.min_points) == (0.9, 3)
    assert changed.max_hop_length == 20.0 * model.config.data.scale
    assert (changed.min_line_score, changed.max_edge_length) == (own.min_line_score, own.max_edge_length)
    assert grouped(model, TrackOptions()).head.grouping == own
    assert grouped(model, TrackOptions(max_hop_length=0.0)).head.grouping.max_hop_length == 0.0


def test_track_cli_min_instance_score_filters_instances(tmp_path):
    video = generate(tmp_path / "clip", animals=2, frames=4, size=128, seed=0).with_suffix(".mp4")
    counts = {}
    for name, extra in (("all", ["--min-instance-score", "0", "--min-points", "1"]), ("none", ["--min-instance-score", "1"])):
        output = tmp_path / f"{name}.slp"
        result = CliRunner().invoke(app, ["track", str(video), "-m", MODEL, "-o", str(output), "--tracker", "none", "-q", *extra])
        assert result.exit_code == 0, result.output
        counts[name] = sum(len(frame.instances) for frame in sio.load_slp(str(output)))
    assert counts["all"] > 0 and counts["none"] == 0  # no instance has every limb perfectly supported
