"""The command line end to end: config → train → track on the dance sample, and bad input."""

from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio
import torch
import yaml
from typer.testing import CliRunner

from posenn.cli import app

runner = CliRunner()

TINY = [
    "data.instances=predicted",
    "train.epochs=2",
    "train.steps_per_epoch=3",
    "train.batch_size=2",
    "model.backbone.filters=4",
    "data.scale=0.25",
    "inference.peak_threshold=0.0",
]


def invoke(*args: str):
    """Run `posenn ARGS` in-process; return the result."""
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def dance_run(tmp_path_factory, shared_file) -> Path:
    """A tiny single-instance model trained on dance.mp4.labels.slp through the CLI."""
    folder = tmp_path_factory.mktemp("dance")
    config = folder / "cfg.yaml"
    result = invoke("config", shared_file("dance.mp4.labels.slp"), "--type", "single_instance", "-o", config)
    assert result.exit_code == 0, result.output
    result = invoke("train", config, *TINY, f"train.run_dir={folder / 'model'}", "--quiet")
    assert result.exit_code == 0, result.output
    return folder / "model"


def test_config_describes_the_labels(dance_run):
    config = yaml.safe_load((dance_run / "config.yaml").read_text())
    assert len(config["data"]["skeleton"]["nodes"]) == 17
    assert config["data"]["channels"] == 3
    assert ["left_eye", "right_eye"] in config["data"]["skeleton"]["symmetries"]
    assert config["train"]["epochs"] == 2 and config["data"]["instances"] == "predicted"


def test_model_folder_contents(dance_run):
    for name in ("config.yaml", "best.ckpt", "last.ckpt", "training_log.csv", "metrics.json",
                 "labels_train.slp", "labels_val.slp"):
        assert (dance_run / name).is_file(), name
    log = (dance_run / "training_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,step,train_loss,val_loss")
    assert [row.split(",")[0] for row in log[1:]] == ["0", "1"]
    train = sio.load_slp(str(dance_run / "labels_train.slp"))
    val = sio.load_slp(str(dance_run / "labels_val.slp"))
    assert len(train) + len(val) == 450 and len(val) == 45
    assert not {lf.frame_idx for lf in train} & {lf.frame_idx for lf in val}


def test_track_video_writes_predictions(dance_run, shared_file, tmp_path):
    output = tmp_path / "dance.predictions.slp"
    result = invoke("track", shared_file("dance.mp4"), "-m", dance_run, "-o", output,
                    "--frames", "0-9,100-104", "--batch-size", "4", "--quiet")
    assert result.exit_code == 0, result.output
    labels = sio.load_slp(str(output))
    assert sorted(lf.frame_idx for lf in labels) == list(range(10)) + list(range(100, 105))
    assert labels.skeleton.node_names == sio.load_slp(str(shared_file("dance.mp4.labels.slp"))).skeleton.node_names
    assert Path(labels.video.filename).name == "dance.mp4"
    for frame in labels:
        (instance,) = frame.instances
        assert isinstance(instance, sio.PredictedInstance)
        points = instance.numpy(scores=True)
        assert points.shape == (17, 3)
        found = ~np.isnan(points[:, 0])
        x, y = points[found, 0], points[found, 1]
        assert found.any() and np.all((x > -1) & (x < 406) & (y > -1) & (y < 720))
        assert np.isclose(instance.score, points[found, 2].mean(), atol=1e-5)
    assert labels.provenance["posenn_version"]
    assert labels.provenance["model_paths"] == [str(dance_run.resolve())]
    assert labels.provenance["device"] == "cpu"
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_track_labels_predicts_labeled_frames(dance_run, tmp_path):
    output = tmp_path / "val.predictions.slp"
    result = invoke("track", dance_run / "labels_val.slp", "-m", dance_run, "-o", output, "--quiet")
    assert result.exit_code == 0, result.output
    expected = {lf.frame_idx for lf in sio.load_slp(str(dance_run / "labels_val.slp"))}
    assert {lf.frame_idx for lf in sio.load_slp(str(output))} == expected


def test_resume_continues_the_run(dance_run, tmp_path):
    run_dir = tmp_path / "resumed"
    for name in ("config.yaml", "last.ckpt", "best.ckpt", "training_log.csv"):
        (run_dir / name).parent.mkdir(exist_ok=True)
        (run_dir / name).write_bytes((dance_run / name).read_bytes())
    before = torch.load(run_dir / "last.ckpt", weights_only=False)
    result = invoke("train", "--resume", run_dir, "train.epochs=3", "--quiet")
    assert result.exit_code == 0, result.output
    after = torch.load(run_dir / "last.ckpt", weights_only=False)
    assert after["epoch"] == before["epoch"] + 1
    assert after["global_step"] == before["global_step"] + 3
    assert len(after["optimizer_states"][0]["state"]) > 0
    rows = (run_dir / "training_log.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2"]


def assert_user_error(result, *fragments: str) -> None:
    """Exit code 2, one message naming what is wrong, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_missing_input_file(dance_run, tmp_path):
    assert_user_error(invoke("track", tmp_path / "nothere.mp4", "-m", dance_run), "not found", "nothere.mp4")


def test_video_that_cannot_be_decoded(dance_run, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    assert_user_error(invoke("track", broken, "-m", dance_run, "-o", tmp_path / "out.slp"), "broken.mp4")
    assert not (tmp_path / "out.slp").exists()


def test_model_folder_without_checkpoint(dance_run, shared_file, tmp_path):
    folder = tmp_path / "untrained"
    folder.mkdir()
    (folder / "config.yaml").write_text((dance_run / "config.yaml").read_text())
    assert_user_error(invoke("track", shared_file("dance.mp4"), "-m", folder), "no checkpoint", "untrained")


def test_config_that_does_not_fit_the_checkpoint(dance_run, shared_file, tmp_path):
    folder = tmp_path / "edited"
    folder.mkdir()
    config = yaml.safe_load((dance_run / "config.yaml").read_text())
    config["model"]["backbone"]["upsampling"] = "bilinear_conv"
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "best.ckpt").write_bytes((dance_run / "best.ckpt").read_bytes())
    assert_user_error(invoke("track", shared_file("dance.mp4"), "-m", folder, "-o", tmp_path / "out.slp"),
                      "do not fit", "edited", "upsampling: bilinear_conv")
    assert not (tmp_path / "out.slp").exists()


def test_labels_without_instances_of_the_kind(shared_file, tmp_path):
    config = tmp_path / "cfg.yaml"
    invoke("config", shared_file("centered_pair_predictions.slp"), "-o", config)
    result = invoke("train", config, "data.instances=user", f"train.run_dir={tmp_path / 'm'}", "--quiet")
    assert_user_error(result, "centered_pair_predictions.slp", "no labeled instances of kind 'user'")


def test_config_for_another_skeleton(dance_run, shared_file, tmp_path):
    result = invoke("train", dance_run / "config.yaml", f"data.train_labels={shared_file('small_robot_minimal.slp')}",
                    f"train.run_dir={tmp_path / 'm'}", "--quiet")
    assert_user_error(result, "small_robot_minimal.slp", "do not match")


def test_mistyped_key_suggests_the_closest(dance_run):
    result = invoke("train", dance_run / "config.yaml", "train.epoch=3")
    assert_user_error(result, "train.epoch", "Did you mean 'train.epochs'")


def test_wrong_value_names_key_and_allowed_values(dance_run):
    result = invoke("train", dance_run / "config.yaml", "train.precision=64")
    assert_user_error(result, "train.precision", "bf16-mixed")


def test_existing_run_is_not_overwritten(dance_run):
    result = invoke("train", dance_run / "config.yaml", f"train.run_dir={dance_run}")
    assert_user_error(result, "already holds a trained model", "--resume")


def track_dance(model: Path, video: Path, output: Path, *options: str) -> tuple[np.ndarray, sio.Labels]:
    """`posenn track` on the first 6 frames of the dance video; the first instance's points
    `(frames, nodes, 2)` and the predictions."""
    result = invoke("track", video, "-m", model, "-o", output, "--frames", "0-5", "--device", "cpu", "--tracker", "none",
                    "--quiet", *options)
    assert result.exit_code == 0, result.output
    labels = sio.load_slp(str(output))
    return np.stack([lf.instances[0].numpy() for lf in labels]), labels


def test_track_with_onnx_runtime_matches_torch(dance_run, shared_file, tmp_path):
    pytest.importorskip("onnxruntime")
    torch_points, _ = track_dance(dance_run, shared_file("dance.mp4"), tmp_path / "torch.slp", "--runtime", "torch")
    onnx_points, onnx = track_dance(dance_run, shared_file("dance.mp4"), tmp_path / "onnx.slp", "--runtime", "onnx")
    np.testing.assert_allclose(onnx_points, torch_points, atol=0.05)
    assert onnx.provenance["runtime"] == "onnx"


def test_track_in_bfloat16_stays_close_to_float32(dance_run, shared_file, tmp_path):
    full_points, _ = track_dance(dance_run, shared_file("dance.mp4"), tmp_path / "32.slp", "--precision", "32")
    reduced_points, reduced = track_dance(dance_run, shared_file("dance.mp4"), tmp_path / "bf16.slp", "--precision", "bf16")
    assert np.nanmedian(np.abs(reduced_points - full_points)) < 0.5  # pixels, on 0.25-scale maps
    assert reduced.provenance["precision"] == "bf16"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--precision", "8"], "expected 32, bf16 or 16"),
    (["--precision", "16"], "needs a GPU"),
    (["--precision", "bf16", "--runtime", "onnx"], "runs in float32"),
])
def test_unsupported_precisions_are_refused(dance_run, shared_file, tmp_path, arguments, message):
    result = invoke("track", shared_file("dance.mp4"), "-m", dance_run, "-o", tmp_path / "out.slp", "--frames", "0-1",
                    "--device", "cpu", *arguments)
    assert_user_error(result, message)


def test_export_command(dance_run, tmp_path):
    pytest.importorskip("onnxruntime")
    result = invoke("export", dance_run, "-o", tmp_path / "dance.onnx")
    assert result.exit_code == 2 and "give --height and --width" in result.output
    result = invoke("export", dance_run, "-o", tmp_path / "dance.onnx", "--height", "128", "--width", "96")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dance.onnx").stat().st_size > 10_000 and "largest difference" in result.output
