"""Callbacks: a readable per-epoch log (`training_log.csv`)."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import lightning as L

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
