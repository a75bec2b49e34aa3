"""Callbacks: a readable per-epoch log (`training_log.csv`), random state kept in checkpoints."""

from __future__ import annotations

import csv
import math
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

LOG_COLUMNS = ["epoch", "step", "train_loss", "val_loss", "val_oks_map", "val_dist_p50", "learning_rate", "elapsed_s"]


class TrainingLog(L.Callback):
    """Append one row per epoch to `training_log.csv`: losses, validation figures, LR, time."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.start = time.monotonic()
        self.last_logged = self._last_logged_epoch()

    def _last_logged_epoch(self) -> int:
        """The last epoch already in the file (a resumed run must not log it twice), or -1."""
        if not self.path.is_file():
            return -1
        with self.path.open(newline="") as handle:
            epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
        return max(epochs, default=-1)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.current_epoch <= self.last_logged:
            return
        self.last_logged = trainer.current_epoch
        metrics = trainer.callback_metrics
        row = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "train_loss": metrics.get("train_loss_epoch"),
            "val_loss": metrics.get("val_loss"),
            "val_oks_map": metrics.get("val_oks_map"),
            "val_dist_p50": metrics.get("val_dist_p50"),
            "learning_rate": trainer.optimizers[0].param_groups[0]["lr"],
            "elapsed_s": round(time.monotonic() - self.start, 2),
        }
        row = {key: _plain(value) for key, value in row.items()}
        is_new = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
            if is_new:
                writer.writeheader()
            writer.writerow(row)


def _plain(value) -> float | int | str:
    """A number for the CSV: tensors to floats, missing or NaN to an empty cell."""
    if value is None:
        return ""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 6)
    return value


class RandomState(L.Callback):
    """Keep the random generators' state in each checkpoint and restore it on resume.

    Augmentation draws from torch's global generator (and the CUDA ones on GPUs); a run resumed
    from an epoch's checkpoint then draws what the uninterrupted run drew after that epoch, so on
    the CPU it reaches the same weights. The training sampler needs no state here: its draws
    depend only on the seed and the epoch (`SeededRandomSampler.set_epoch`).

    Lightning restores callback state before `on_fit_start`, so the per-process seeds of a DDP
    run (`PoseModule.on_fit_start`) still apply after it.
    """

    def state_dict(self) -> dict[str, Any]:
        name, keys, position, has_gauss, cached = np.random.get_state()
        numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached]  # loads weights-only
        state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        name, keys, position, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available() and len(state_dict["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
