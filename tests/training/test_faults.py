"""Faults during training: a kill mid-epoch resumes exactly, and NaN losses, Ctrl-C, a full
disk, memory running out and a second run on one folder each leave the checkpoints intact and
say what to do."""

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from posenn.autoconfig import config_from_labels
from posenn.config import Config, save_config
from posenn.errors import PosennError
from posenn.synth import generate
from posenn.training.faults import LOCK_NAME, hold_run_folder
from posenn.training.module import PoseModule
from posenn.training.run import resume_config, train

pytestmark = pytest.mark.usefixtures("torch_single_thread")

KILL_SCRIPT = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from posenn.config import load_config
from posenn.training.module import PoseModule
from posenn.training.run import train

step = PoseModule.training_step

def killed_at_step(self, batch, batch_idx):
    if self.global_step == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, batch, batch_idx)

PoseModule.training_step = killed_at_step
train(load_config(sys.argv[1]), quiet=True)
"""


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("faults"), animals=1, frames=12, size=64, seed=0)


def tiny_config(labels: Path, run_dir: Path, epochs: int = 3) -> Config:
    """A single-instance model that trains 3 steps per epoch in well under a second."""
    config = config_from_labels(labels, "single_instance", "user")
    config.model.backbone.filters = 4
    config.model.backbone.max_stride = 8
    config.data.val_fraction = 0.25
    config.train.epochs = epochs
    config.train.steps_per_epoch = 3
    config.train.batch_size = 2
    config.train.val_precision = "32"
    config.train.device = "cpu"
    config.train.run_dir = run_dir
    return config


def final_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict]:
    checkpoint = torch.load(run_dir / "last.ckpt", map_location="cpu", weights_only=False)
    return checkpoint["state_dict"], json.loads((run_dir / "metrics.json").read_text())


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(labels, tmp_path):
    whole = train(tiny_config(labels, tmp_path / "whole"), quiet=True)

    killed = tmp_path / "killed"
    config = tiny_config(labels, killed)
    save_config(config, tmp_path / "killed.yaml")
    process = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "killed.yaml"), "4"],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr  # step 4: in the middle of epoch 1
    assert torch.load(killed / "last.ckpt", weights_only=False)["epoch"] == 0
    assert not list(killed.glob(".*tmp*")), "a temporary checkpoint was left behind"

    train(resume_config(killed, []), resume=True, quiet=True)
    weights, metrics = final_state(killed)
    expected_weights, expected_metrics = final_state(whole)
    assert weights.keys() == expected_weights.keys()
    difference = max((weights[k].double() - expected_weights[k].double()).abs().max().item() for k in weights)
    assert difference <= 1e-6
    assert metrics.keys() == expected_metrics.keys()
    for key, value in expected_metrics.items():
        if isinstance(value, float):
            assert metrics[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
    log = (killed / "training_log.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in log] == ["0", "1", "2"]


def test_a_nan_loss_stops_training_naming_the_step_and_keeps_the_checkpoint(labels, tmp_path, monkeypatch):
    run_dir = tmp_path / "nan"
    loss = PoseModule._loss

    def nan_from_step_4(self, batch, outputs):
        value = loss(self, batch, outputs)
        return value * float("nan") if self.training and self.global_step >= 4 else value

    monkeypatch.setattr(PoseModule, "_loss", nan_from_step_4)
    with pytest.raises(PosennError, match=r"loss is nan at step 4 \(epoch 1\).*learning rate.*last.ckpt keeps"):
        train(tiny_config(labels, run_dir), quiet=True)
    checkpoint = torch.load(run_dir / "last.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 0
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values())


def test_ctrl_c_keeps_the_last_epoch_and_resume_finishes(labels, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "interrupted"
    step = PoseModule.training_step

    def interrupted_at_step_4(self, batch, batch_idx):
        if self.global_step == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(PoseModule, "training_step", interrupted_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(labels, run_dir), quiet=True)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert f"posenn train --resume {run_dir}" in capsys.readouterr().err
    assert torch.load(run_dir / "last.ckpt", weights_only=False)["epoch"] == 0
    monkeypatch.setattr(PoseModule, "training_step", step)
    train(resume_config(run_dir, []), resume=True, quiet=True)
    assert torch.load(run_dir / "last.ckpt", weights_only=False)["epoch"] == 2


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(labels, tmp_path, monkeypatch):
    run_dir = tmp_path / "full"
    save = torch.save
    saved = []

    def disk_full_after_two(obj, target, *args, **kwargs):
        if len(saved) >= 2:  # epoch 0 wrote best.ckpt and last.ckpt
            target.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(target)
        return save(obj, target, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_after_two)
    with pytest.raises(PosennError, match="No space left on device.*earlier file there is unchanged"):
        train(tiny_config(labels, run_dir), quiet=True)
    monkeypatch.setattr(torch, "save", save)
    for name in ("best.ckpt", "last.ckpt"):
        assert torch.load(run_dir / name, weights_only=False)["epoch"] == 0
    assert not list(run_dir.glob(".*tmp*"))


def test_running_out_of_memory_suggests_a_batch_size(labels, tmp_path, monkeypatch):
    def out_of_memory(self, batch, batch_idx):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(PoseModule, "training_step", out_of_memory)
    with pytest.raises(PosennError, match=r"Out of memory on cpu training with train.batch_size=2: set train.batch_size=1"):
        train(tiny_config(labels, tmp_path / "oom"), quiet=True)


def test_two_runs_on_one_folder_are_refused(labels, tmp_path):
    run_dir = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from posenn.training.faults import hold_run_folder\n"
         "with hold_run_folder(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", str(run_dir)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PosennError, match=rf"in use by a training run \(process {holder.pid}\)"):
            train(tiny_config(labels, run_dir), quiet=True)
    finally:
        holder.kill()
        holder.wait()
    with hold_run_folder(run_dir):  # the killed holder left no stale lock
        assert (run_dir / LOCK_NAME).is_file()
