"""`zoo:NAME` wherever a model folder is accepted: `zoo:NAME` is all of a model's parts (both
folders of a top-down pair), `zoo:NAME/PART` one of them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from posenn.errors import PosennError

PREFIX = "zoo:"


def is_zoo_ref(ref: str | Path) -> bool:
    return str(ref).startswith(PREFIX)


def zoo_folders(ref: str | Path, quiet: bool = False) -> list[Path]:
    """The model folders that `zoo:NAME` or `zoo:NAME/PART` names, fetched if needed.

    Raises:
        PosennError: for an unknown name or part, or files that cannot be had.
    """
    from posenn.zoo.fetch import fetch
    from posenn.zoo.registry import find_model

    name, _, part = str(ref)[len(PREFIX):].partition("/")
    model, _ = find_model(name)
    if part and part not in model.parts:
        raise PosennError(f"{ref}: zoo model '{name}' has no part '{part}'; its parts are {', '.join(model.parts)}.")
    folder = fetch(name, quiet)
    return [folder / p for p in ([part] if part else model.parts)]


def model_dirs(refs: Iterable[str | Path], quiet: bool = False) -> list[Path]:
    """Model folders and zoo references → model folders, in order (a pair's name gives both)."""
    return [folder for ref in refs for folder in (zoo_folders(ref, quiet) if is_zoo_ref(ref) else [Path(ref)])]


def model_dir(ref: str | Path, quiet: bool = False) -> Path:
    """One model folder, or a zoo reference that names exactly one.

    Raises:
        PosennError: when a zoo model with several parts is named without its part.
    """
    if not is_zoo_ref(ref):
        return Path(ref)
    folders = zoo_folders(ref, quiet)
    if len(folders) != 1:
        parts = ", ".join(f"{ref}/{folder.name}" for folder in folders)
        raise PosennError(f"{ref} holds {len(folders)} models; name one of them here: {parts}.")
    return folders[0]
