"""Writing labels and predictions: always to a temporary file, renamed when complete."""

from __future__ import annotations

from pathlib import Path

import sleap_io as sio

from posenn.io.atomic import atomic_path


def save_labels(labels: sio.Labels, path: Path) -> None:
    """Save a `.slp` atomically (videos referenced, not embedded)."""
    with atomic_path(Path(path)) as tmp:
        sio.save_slp(labels, str(tmp), embed=False, verbose=False)
