"""Which files `posenn track` predicts, which of them this shard takes, and where each output goes."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from posenn.errors import PosennError
from posenn.io.images import IMAGE_SUFFIXES, is_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".h264", ".mjpeg")
OUTPUT_SUFFIX = ".predictions.slp"


def is_input_file(path: Path) -> bool:
    """A video or a labels file (by name)."""
    return path.suffix.lower() in VIDEO_SUFFIXES or path.name.endswith(".slp")


def is_image_input(path: Path) -> bool:
    """An input that is a sequence of images: an image file, a folder or a glob pattern (the
    only inputs `expand_inputs` keeps as folders or patterns)."""
    path = Path(path)
    return is_image(path) or path.is_dir() or glob.has_magic(str(path))


def input_name(path: Path) -> str:
    """The name an input's outputs take: its file or folder name; a pattern's folder name."""
    path = Path(path)
    return path.parent.resolve().name if glob.has_magic(str(path)) else path.name


def expand_inputs(arguments: Sequence[str | Path]) -> list[Path]:
    """Input files from command-line arguments: files, folders (their videos, sorted), glob
    patterns, and `.txt` files listing one input per line (relative to the list's folder;
    blank lines and `#` comments skipped). Duplicates are dropped, order is kept.

    Images are inputs too: an image file, a folder without videos but with images, or a pattern
    matching only images, each kept as one input (an image sequence, see `is_image_input`).

    Raises:
        PosennError: for an argument that matches nothing, or a folder without videos.
    """
    found: list[Path] = []
    for argument in arguments:
        text = str(argument)
        path = Path(text)
        if path.is_dir():
            videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not videos and any(is_image(p) for p in path.iterdir()):
                found.append(path)  # a folder of images is one input
                continue
            if not videos:
                raise PosennError(f"{path}: the folder holds no videos ({', '.join(VIDEO_SUFFIXES)}) or images ({', '.join(IMAGE_SUFFIXES)}).")
            found += videos
        elif path.suffix.lower() == ".txt" and path.is_file():
            lines = [line.strip() for line in path.read_text().splitlines()]
            listed = [Path(line) if Path(line).is_absolute() else path.parent / line for line in lines if line and not line.startswith("#")]
            missing = [str(p) for p in listed if not p.exists()]
            if missing:
                raise PosennError(f"{path}: listed inputs not found: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
            found += expand_inputs(listed)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text) if is_input_file(Path(p)))
            if not matches and any(is_image(Path(p)) for p in glob.glob(text)):
                found.append(path)  # images matched by a pattern are one input
                continue
            if not matches:
                raise PosennError(f"'{text}': no video or .slp file matches, nor any image.")
            found += matches
        else:
            raise PosennError(f"Input not found: {path}")
    return list(dict.fromkeys(found))


def parse_shard(text: str) -> tuple[int, int]:
    """`"K/N"` → (K, N), with 0 ≤ K < N.

    Raises:
        PosennError: for anything else.
    """
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise PosennError(f"--shard '{text}': expected K/N, e.g. 0/4 (shard K of N, K from 0 to N-1).") from None
    if n < 1 or not 0 <= k < n:
        raise PosennError(f"--shard '{text}': K must be from 0 to N-1 (e.g. $SLURM_ARRAY_TASK_ID/4 with --array=0-3).")
    return k, n


def shard(inputs: Sequence[Path], spec: str | None) -> list[Path]:
    """Every N-th input from the K-th (`spec` "K/N"), or all of them without a spec."""
    if spec is None:
        return list(inputs)
    k, n = parse_shard(spec)
    return list(inputs[k::n])


def outside_pattern(path: Path) -> Path:
    """The folder beside which an input's output goes: its own folder, or for a pattern the
    folder above the one it matches in (so `frames/*.png` writes `frames.predictions.slp`)."""
    return path.parent.parent if glob.has_magic(str(path)) else path.parent


def outputs_for(inputs: Sequence[Path], output: Path | None) -> list[Path]:
    """Where each input's predictions go: `output` itself for one input and a file name; into
    `output` as a folder (`NAME.predictions.slp`) for several inputs or an existing folder;
    beside each input without `output`.

    Raises:
        PosennError: for a file name with several inputs, or two inputs with one output name.
    """
    if output is None:
        return [outside_pattern(Path(path)) / (input_name(path) + OUTPUT_SUFFIX) for path in inputs]
    output = Path(output)
    if len(inputs) == 1 and not output.is_dir() and output.name.endswith(".slp"):
        return [output]
    if output.name.endswith(".slp") or (output.exists() and not output.is_dir()):
        raise PosennError(f"-o {output}: with several inputs, -o must be a folder (one predictions file is written per input).")
    targets = [output / (input_name(path) + OUTPUT_SUFFIX) for path in inputs]
    seen: dict[Path, Path] = {}
    for path, target in zip(inputs, targets):
        if target in seen:
            raise PosennError(f"{seen[target]} and {path} would both write {target}; give them separate -o folders.")
        seen[target] = path
    return targets
