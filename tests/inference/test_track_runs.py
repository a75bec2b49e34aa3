"""`posenn track` over long runs: killed mid-run and rerun, several inputs, shards, finished
outputs skipped, and the output the same as before the chunked writer."""

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio
from typer.testing import CliRunner

from posenn.cli import app
from posenn.errors import PosennError
from posenn.inference.run import TrackOptions, track
from posenn.io.slp_writer import written_provenance
from posenn.synth import generate
from posenn.tracking import TrackerOptions

TINY = ["train.epochs=2", "train.steps_per_epoch=20", "train.batch_size=4", "model.backbone.filters=8",
        "train.early_stopping_patience=null", "inference.peak_threshold=0.0", "data.val_fraction=0.1"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, pair_trainer) -> list[Path]:
    """A small top-down pair trained briefly on synthetic animals: enough to find animals in
    every frame, which is all these tests need."""
    return pair_trainer(tmp_path_factory.mktemp("pair"), TINY)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 240-frame synthetic video of two animals."""
    return generate(tmp_path_factory.mktemp("clip") / "clip", animals=2, frames=240, size=128, seed=3).with_suffix(".mp4")


def command(video: Path, pair: list[Path], output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "posenn.cli", "track", str(video), "-m", str(pair[0]), "-m", str(pair[1]), "-o", str(output),
            "--max-instances", "2", "--max-tracks", "2", "--device", "cpu", "--quiet", *extra]


def predictions(path: Path) -> tuple[np.ndarray, list[int], list[str | None], np.ndarray]:
    """Frame indices, points, track names and scores of a predictions file."""
    labels = sio.load_slp(str(path), open_videos=False)
    instances = [(lf.frame_idx, inst) for lf in labels.labeled_frames for inst in lf.instances]
    points = np.stack([inst.numpy() for _, inst in instances])
    return points, [f for f, _ in instances], [inst.track.name if inst.track else None for _, inst in instances], \
        np.array([inst.score for _, inst in instances])


def assert_same_predictions(a: Path, b: Path) -> None:
    pa, fa, ta, sa = predictions(a)
    pb, fb, tb, sb = predictions(b)
    assert fa == fb and ta == tb
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(sa, sb)


def test_killed_run_continues_where_it_stopped(pair, clip, tmp_path):
    whole = tmp_path / "whole.slp"
    subprocess.run(command(clip, pair, whole, "--chunk-frames", "16"), check=True)
    resumed = tmp_path / "resumed.slp"
    parts = resumed.with_name(resumed.name + ".parts") / "video0"
    # Batches of one frame keep the run going long enough to be killed mid-way.
    process = subprocess.Popen(command(clip, pair, resumed, "--chunk-frames", "16", "--batch-size", "1"))
    deadline = time.monotonic() + 120
    while len(list(parts.glob("chunk_*.npz"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = {path.name: path.stat().st_mtime_ns for path in parts.glob("chunk_*.npz")}
    assert 3 <= len(kept) < 15, "the run must be killed while it still has chunks to do"
    assert not resumed.exists()

    result = subprocess.run(command(clip, pair, resumed, "--chunk-frames", "16", "--batch-size", "1"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not parts.parent.exists()  # the chunks are gone once the output is written
    assert_same_predictions(whole, resumed)
    assert len(predictions(whole)[1]) >= 240  # every frame had animals


def test_resumed_run_does_not_redo_saved_chunks(pair, clip, tmp_path, monkeypatch):
    from posenn.inference import loop

    output = tmp_path / "out.slp"
    options = TrackOptions(batch_size=8, max_instances=2, device="cpu", quiet=True, tracker=TrackerOptions(max_tracks=2), chunk_frames=40,
                           decoders=1)  # one decoder: the chunks are predicted in order
    real, calls = loop.chunk_part, []

    def crashing(prediction):
        calls.append(prediction.indices[0])
        if len(calls) == 23:  # a crash in the fifth chunk (batches of 8, chunks of 40 frames)
            raise RuntimeError("simulated crash")
        return real(prediction)

    monkeypatch.setattr(loop, "chunk_part", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        track(clip, pair, output, options)
    saved = sorted(p.name for p in (output.with_name("out.slp.parts") / "video0").glob("chunk_*.npz"))
    assert saved == [f"chunk_{k:06d}.npz" for k in range(4)]
    calls.clear()
    labels = track(clip, pair, output, options)
    assert calls == list(range(160, 240, 8))  # only the batches of the two missing chunks
    assert {lf.frame_idx for lf in labels.labeled_frames} == set(range(240))


def test_two_decoders_write_what_one_writes(pair, clip, tmp_path):
    options = TrackOptions(batch_size=8, max_instances=2, device="cpu", quiet=True, tracker=TrackerOptions(max_tracks=2), chunk_frames=40)
    for decoders in (1, 2):
        track(clip, pair, tmp_path / f"decoders{decoders}.slp", replace(options, decoders=decoders))
    assert_same_predictions(tmp_path / "decoders1.slp", tmp_path / "decoders2.slp")


def test_several_inputs_go_to_one_folder_and_finished_ones_are_skipped(pair, clip, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copy(clip, videos / name)
    out = tmp_path / "out"
    runner = CliRunner()
    base = ["track", str(videos), "-m", str(pair[0]), "-m", str(pair[1]), "-o", str(out), "--frames", "0-31", "--device", "cpu"]
    result = runner.invoke(app, base + ["--shard", "1/2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["b.mp4.predictions.slp"]
    result = runner.invoke(app, base, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "b.mp4.predictions.slp: already complete, skipped" in result.output.replace("\n", "")
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4.predictions.slp", "b.mp4.predictions.slp", "c.mp4.predictions.slp"]
    assert_same_predictions(out / "a.mp4.predictions.slp", out / "c.mp4.predictions.slp")
    provenance = written_provenance(out / "a.mp4.predictions.slp")
    assert provenance["source"] == str((videos / "a.mp4").resolve())
    # Other options are another job: the output is redone, not skipped.
    result = runner.invoke(app, base + ["--max-instances", "1"], catch_exceptions=False)
    assert "skipped" not in result.output
    assert max(len(lf) for lf in sio.load_slp(str(out / "a.mp4.predictions.slp"), open_videos=False)) == 1


def test_several_inputs_with_one_output_file_are_refused(pair, clip, tmp_path):
    result = CliRunner().invoke(app, ["track", str(clip), str(clip.with_suffix(".slp")), "-m", str(pair[0]), "-m", str(pair[1]),
                                      "-o", str(tmp_path / "x.slp")])
    assert result.exit_code == 2
    assert "must be a folder" in result.output


def test_inputs_spread_over_two_devices_match_one_device(pair, clip, tmp_path):
    videos = [tmp_path / f"{name}.mp4" for name in ("a", "b", "c")]
    for video in videos:
        shutil.copy(clip, video)
    runner = CliRunner()
    base = ["track", *map(str, videos), "-m", str(pair[0]), "-m", str(pair[1]), "--frames", "0-15", "--quiet"]
    result = runner.invoke(app, base + ["-o", str(tmp_path / "two"), "--devices", "cpu,cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, base + ["-o", str(tmp_path / "one"), "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for video in videos:
        name = video.name + ".predictions.slp"
        assert_same_predictions(tmp_path / "one" / name, tmp_path / "two" / name)


@pytest.mark.parametrize("text, message", [("cuda:0", "not one of this machine's 0 CUDA"), ("all", "no CUDA GPU"), ("gpu7", "not a device")])
def test_unknown_devices_are_refused(text, message):
    from posenn.inference.devices import parse_devices

    with pytest.raises(PosennError, match=message):
        parse_devices(text, available_gpus=0)
