"""What a training run does when something goes wrong, so that nothing already written is lost.

- Checkpoints are written to a temporary file and renamed (`AtomicCheckpointIO`): a full disk or a
  kill while saving leaves the previous `last.ckpt`/`best.ckpt` as they were.
- One run at a time per run folder (`hold_run_folder`): a second `posenn train` or `--resume` on a
  folder in use is refused. The lock is an OS file lock, released when the process ends however
  it ends (SIGKILL included), so no stale lock is ever left to remove by hand.
- A loss that is not finite stops training at once (`check_loss`), before the step that would
  spoil the weights; the checkpoints keep the last complete epoch.
- GPU out of memory and Ctrl-C become messages that say what to do next (`out_of_memory`,
  `interrupted`).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from posenn.errors import PosennError
from posenn.io.atomic import atomic_path

LOCK_NAME = ".posenn-train.lock"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing each checkpoint to a temporary file that is renamed
    only once complete.

    Raises:
        PosennError: when the disk is full or the folder cannot be written (the earlier
            checkpoint is unchanged).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        with atomic_path(Path(path)) as temporary:
            super().save_checkpoint(checkpoint, temporary, storage_options)


@contextmanager
def hold_run_folder(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for this process while the block runs (creating the folder).

    Raises:
        PosennError: when another process holds it, naming that process.
    """
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = (run_dir / LOCK_NAME).open("a+")
    except OSError as exc:
        raise PosennError(f"Cannot write to the run folder {run_dir}: {exc.strerror or exc}.") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PosennError(
                f"{run_dir} is in use by a training run ({holder}); two runs cannot write one folder. Wait for it to "
                "end, or choose another train.run_dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def check_loss(loss: torch.Tensor, step: int, epoch: int, learning_rate: float, run_dir: Path) -> None:
    """Stop training on a loss that is NaN or infinite.

    Raises:
        PosennError: naming the step, the likely causes and the checkpoint that is kept.
    """
    if bool(torch.isfinite(loss.detach()).all()):
        return
    last = Path(run_dir) / "last.ckpt"
    kept = (
        f"{last} keeps the weights of the last complete epoch; continue from it with "
        f"`posenn train --resume {run_dir} train.learning_rate={learning_rate / 10:g}`."
        if last.is_file()
        else "No epoch was completed, so no checkpoint was written."
    )
    raise PosennError(
        f"Training stopped: the loss is {loss.item()} at step {step} (epoch {epoch}). Likely causes: a learning "
        f"rate too high for this model (train.learning_rate={learning_rate:g}; try {learning_rate / 10:g}), or "
        f"float16 overflow (train.precision; try 32). {kept}"
    )


def out_of_memory(exc: BaseException, batch_size: int, device: str) -> PosennError:
    """The message for memory running out while training: the batch size to try instead."""
    smaller = max(1, batch_size // 2)
    advice = (
        f"set train.batch_size={smaller}"
        if batch_size > 1
        else "lower data.scale, or train on crops with train.random_crop (whole-frame models)"
    )
    return PosennError(
        f"Out of memory on {device} training with train.batch_size={batch_size}: {advice}. "
        f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    )


def interrupted(run_dir: Path) -> str:
    """What an interrupted run left, and how to continue it."""
    last = Path(run_dir) / "last.ckpt"
    if not last.is_file():
        return f"Training interrupted before the first epoch ended: nothing to resume in {run_dir}."
    return f"Training interrupted: {last} holds the last complete epoch; continue with `posenn train --resume {run_dir}`."
