"""Zoo model files on disk: checked against their sha256, downloaded once into a cache when needed.

The cache is `POSENN_ZOO_DIR`, else `$XDG_CACHE_HOME/posenn/zoo`, else `~/.cache/posenn/zoo`;
a model's files go to `CACHE/NAME/PATH`. Downloads are written to a temporary file beside the
target and renamed only once their checksum is right, so an interrupted or corrupted download
never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from posenn.errors import PosennError
from posenn.io.atomic import atomic_path
from posenn.zoo.registry import ZooFile, ZooModel, file_source, find_model

CACHE_ENV = "POSENN_ZOO_DIR"
BLOCK = 1 << 20


def cache_root() -> Path:
    """Where downloaded zoo models are kept."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "posenn" / "zoo"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, file: ZooFile, label: str, quiet: bool) -> None:
    """Download `url` to `target` atomically, keeping it only if its sha256 is `file.sha256`.

    Raises:
        PosennError: offline or unreachable (saying which file to put where), or a checksum mismatch.
    """
    digest = hashlib.sha256()
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    try:
        with atomic_path(target) as temporary, urllib.request.urlopen(url, timeout=60) as response:
            with temporary.open("wb") as out, Progress(*columns, console=Console(stderr=True), disable=quiet, transient=True) as bar:
                task = bar.add_task("download", total=file.size)
                while block := response.read(BLOCK):
                    out.write(block)
                    digest.update(block)
                    bar.advance(task, len(block))
            if digest.hexdigest() != file.sha256:
                raise PosennError(
                    f"{label}: the file downloaded from {url} has sha256 {digest.hexdigest()}, expected {file.sha256}; "
                    "it was not kept (a changed or damaged file at the source?)."
                )
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PosennError(
            f"{label}: cannot download {url} ({reason}). Offline? Get the file on a machine with internet and put it at "
            f"{target} (sha256 {file.sha256}), or set {CACHE_ENV} to a folder that holds NAME/{file.path}."
        ) from None


def local_file(model: ZooModel, file: ZooFile, source: str) -> Path:
    """A file that lies beside its index (the package's models): checked in place."""
    path = Path(source)
    if not path.is_file():
        raise PosennError(f"zoo:{model.name}: {path} is missing; reinstall posenn (or restore the index's models folder).")
    if (found := sha256_of(path)) != file.sha256:
        raise PosennError(f"zoo:{model.name}: {path} has sha256 {found}, expected {file.sha256}; the file is damaged or was edited.")
    return path


def cached_file(model: ZooModel, file: ZooFile, source: str, quiet: bool) -> Path:
    """A downloaded file: from the cache when its checksum is right, else downloaded (again)."""
    target = cache_root() / model.name / file.path
    if target.is_file() and sha256_of(target) == file.sha256:
        return target
    download(source, target, file, f"zoo:{model.name} {file.path}", quiet)
    return target


def fetch(name: str, quiet: bool = False) -> Path:
    """The folder holding every file of zoo model `name`, downloading what is missing.

    Each part's model folder is `FOLDER/PART`.

    Raises:
        PosennError: for an unknown name, a damaged file, a checksum mismatch or a failed download.
    """
    model, index = find_model(name)
    folders = set()
    for file in model.files:
        source = file_source(model, file, index)
        path = cached_file(model, file, source, quiet) if "://" in source else local_file(model, file, source)
        folders.add(path.parents[len(Path(file.path).parts) - 1])
    if len(folders) != 1:
        raise PosennError(f"zoo:{name}: its files lie in several folders ({', '.join(map(str, sorted(folders)))}).")
    return folders.pop()
