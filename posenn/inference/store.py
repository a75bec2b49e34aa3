"""Predictions saved in chunks as they are made, so a long run keeps what it finished.

A job (one video's frames to predict) is cut into chunks of consecutive frames. Each finished
chunk is written atomically as one `.npz` file in the job's folder, so a chunk file exists only
when it is complete: a run killed at any moment leaves only whole chunks, and the same command
run again predicts only the chunks that are missing. `manifest.json` holds the job's signature
(input, models, options); a folder made by a different job is cleared, never mixed in.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenn.errors import PosennError
from posenn.io.atomic import atomic_path, write_text_atomic


@dataclass
class Chunk:
    """The predictions of consecutive frames, flat over their instances.

    Attributes:
        frame_idx: `(frames,)` every frame predicted, with or without instances.
        counts: `(frames,)` instances in each frame.
        points: `(instances, nodes, 2)` float32, NaN for parts not found.
        point_scores: `(instances, nodes)` float32.
        scores: `(instances,)` float32 instance scores.
        identities: `(instances,)` int32 index into the model's classes, -1 for none.
        class_probabilities: `(instances, classes)` float32 of identity models, before
            the identities were assigned; `(instances, 0)` for other models.
    """

    frame_idx: np.ndarray
    counts: np.ndarray
    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray
    identities: np.ndarray
    class_probabilities: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.class_probabilities is None:
            self.class_probabilities = np.zeros((len(self.scores), 0), np.float32)

    @classmethod
    def concatenate(cls, parts: Sequence[Chunk]) -> Chunk:
        """One chunk of `parts`, in the order given."""
        return cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in FIELDS))

    def frame_rows(self) -> np.ndarray:
        """`(instances,)` the row of `frame_idx` each instance belongs to."""
        return np.repeat(np.arange(len(self.counts)), self.counts)


FIELDS = ("frame_idx", "counts", "points", "point_scores", "scores", "identities", "class_probabilities")


def chunk_spans(n_frames: int, chunk_frames: int) -> list[slice]:
    """Positions of each chunk in a job's list of frames."""
    return [slice(start, min(start + chunk_frames, n_frames)) for start in range(0, n_frames, chunk_frames)]


class PredictionStore:
    """The chunk files of one job, in `folder`.

    Args:
        folder: where the chunks live (created; cleared when it holds another job's chunks).
        signature: what makes two runs the same job (JSON-serialisable).
        n_chunks: how many chunks the job has.
    """

    def __init__(self, folder: Path, signature: dict, n_chunks: int):
        self.folder = Path(folder)
        self.n_chunks = n_chunks
        manifest = {"signature": signature, "n_chunks": n_chunks}
        manifest_path = self.folder / "manifest.json"
        if manifest_path.is_file() and self._read_manifest(manifest_path) != manifest:
            self.clear()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not manifest_path.is_file():
                write_text_atomic(manifest_path, json.dumps(manifest, indent=1, sort_keys=True))
        except OSError as exc:
            raise PosennError(f"{self.folder}: cannot write predictions there ({exc.strerror}).") from None

    @staticmethod
    def _read_manifest(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def path(self, k: int) -> Path:
        return self.folder / f"chunk_{k:06d}.npz"

    def done(self, k: int) -> bool:
        """Whether chunk `k` was written (chunk files are only ever complete)."""
        return self.path(k).is_file()

    def missing(self) -> list[int]:
        """The chunks still to predict, in order."""
        return [k for k in range(self.n_chunks) if not self.done(k)]

    def write(self, k: int, chunk: Chunk) -> None:
        """Save chunk `k` atomically, flushed to disk before it gets its name."""
        with atomic_path(self.path(k)) as tmp:
            with tmp.open("wb") as handle:
                np.savez(handle, **{name: getattr(chunk, name) for name in FIELDS})
                handle.flush()
                os.fsync(handle.fileno())

    def read(self, k: int) -> Chunk:
        """Load chunk `k`.

        Raises:
            PosennError: if the file cannot be read (it is then removed, so a rerun redoes it).
        """
        try:
            with np.load(self.path(k)) as data:
                return Chunk(*(data[name] for name in FIELDS))
        except (OSError, ValueError, KeyError) as exc:
            self.path(k).unlink(missing_ok=True)
            raise PosennError(f"{self.path(k)}: unreadable saved predictions ({exc}); removed, run the command again to redo them.") from None

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk in order, one at a time."""
        for k in range(self.n_chunks):
            yield self.read(k)

    def clear(self) -> None:
        """Remove the folder and its chunks."""
        shutil.rmtree(self.folder, ignore_errors=True)
