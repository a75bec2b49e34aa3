"""Model folders of other engines: recognise them, load them as posenn networks, import them
as posenn model folders."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

import posenn
from posenn.config import Config, save_config
from posenn.errors import PosennError
from posenn.interop import sleap_legacy, sleap_nn
from posenn.interop.model import SleapModel, posenn_config, posenn_network
from posenn.io.atomic import atomic_path, write_text_atomic
from posenn.models.model import PoseModel

IMPORT_RECORD = "imported_from.json"


def foreign_kind(model_dir: Path) -> str | None:
    """"sleap-nn" or "SLEAP 1.x" for those engines' model folders, None otherwise."""
    model_dir = Path(model_dir)
    if (model_dir / sleap_nn.CONFIG_NAME).is_file():
        return "sleap-nn"
    if (model_dir / sleap_legacy.CONFIG_NAME).is_file():
        return "SLEAP 1.x"
    return None


def foreign_files(model_dir: Path) -> list[Path]:
    """The config and weights files of a sleap-nn or SLEAP 1.x model folder; empty for others."""
    model_dir = Path(model_dir)
    kind = foreign_kind(model_dir)
    if kind == "sleap-nn":
        return [model_dir / sleap_nn.CONFIG_NAME, model_dir / sleap_nn.CHECKPOINT_NAME]
    if kind == "SLEAP 1.x":
        return [model_dir / sleap_legacy.CONFIG_NAME, model_dir / sleap_legacy.WEIGHTS_NAME]
    return []


def read_foreign(model_dir: Path) -> SleapModel:
    """Read a sleap-nn or SLEAP 1.x model folder.

    Raises:
        PosennError: when the folder is neither, or cannot be run by posenn.
    """
    kind = foreign_kind(model_dir)
    if kind == "sleap-nn":
        return sleap_nn.read_sleap_nn(model_dir)
    if kind == "SLEAP 1.x":
        return sleap_legacy.read_sleap_legacy(model_dir)
    raise PosennError(
        f"{model_dir}: not a model folder posenn knows (expected config.yaml from posenn, "
        f"{sleap_nn.CONFIG_NAME} from sleap-nn, or {sleap_legacy.CONFIG_NAME} from SLEAP 1.x)."
    )


def load_foreign(model_dir: Path) -> tuple[Config, PoseModel, Path]:
    """posenn's config and network (eval mode, the engine's weights) for a sleap-nn or SLEAP 1.x
    model folder, and the weights file they came from."""
    model = read_foreign(model_dir)
    config = posenn_config(model)
    return config, posenn_network(model, config), model.checkpoint


def sha256(path: Path) -> str:
    """Hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_model(model_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Write a posenn model folder (`config.yaml`, `best.ckpt`, `imported_from.json`) for a
    sleap-nn or SLEAP 1.x model folder; every file is written whole or not at all.

    Returns:
        The import record: where the model came from (folder, engine, files and their sha256),
        when, and by which posenn version.

    Raises:
        PosennError: when the source cannot be run by posenn, or `out_dir` is a file or already
            holds a posenn model.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model = read_foreign(model_dir)
    config = posenn_config(model)
    network = posenn_network(model, config)
    if out_dir.exists() and not out_dir.is_dir():
        raise PosennError(f"-o {out_dir}: is a file; expected a folder for the posenn model.")
    if (out_dir / "config.yaml").exists():
        raise PosennError(f"-o {out_dir}: already holds a posenn model (config.yaml); choose an empty folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    config_file = model_dir / (sleap_nn.CONFIG_NAME if model.kind == "sleap-nn" else sleap_legacy.CONFIG_NAME)
    record = {
        "source": str(model_dir.resolve()),
        "engine": model.kind,
        "files": {path.name: sha256(path) for path in (config_file, model.checkpoint)},
        "imported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "posenn": posenn.__version__,
    }
    state = {f"model.{key}": value for key, value in network.state_dict().items()}
    with atomic_path(out_dir / "best.ckpt") as temporary:
        torch.save({"state_dict": state, "imported_from": record}, temporary)
    write_text_atomic(out_dir / IMPORT_RECORD, json.dumps(record, indent=2) + "\n")
    save_config(config, out_dir / "config.yaml")
    return record
