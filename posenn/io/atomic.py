"""Write outputs so that nothing is half-written: a temporary file beside the target, then rename."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from posenn.errors import PosennError

# Failures of the disk or of the folder, not of posenn: reported as the user's to fix.
STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR}


def current_umask() -> int:
    """The process's file-creation mask (reading it requires setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on error delete it.

    The temporary name keeps the target's suffix, so writers that choose a format by extension
    (`.slp`, `.mp4`) still work.

    Raises:
        PosennError: when the disk is full, the folder read-only or the path a folder (naming the
            file, and saying that an earlier file there is unchanged).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    except OSError as exc:
        if exc.errno not in STORAGE_ERRORS:
            raise
        raise storage_error(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~current_umask())  # mkstemp makes files private; outputs are not
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno not in STORAGE_ERRORS:
            raise
        raise storage_error(path, exc) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def storage_error(path: Path, exc: OSError) -> PosennError:
    """The user's message for a failure of the disk or folder (`STORAGE_ERRORS`) writing `path`."""
    if path.is_dir():
        return PosennError(f"Cannot write {path}: it is a folder; give a file name.")
    kept = " The earlier file there is unchanged." if path.is_file() else " Nothing was written."
    return PosennError(f"Cannot write {path}: {exc.strerror or exc}.{kept}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
