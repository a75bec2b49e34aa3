"""sleap-nn model folders: `training_config.yaml` and `best.ckpt` (PyTorch Lightning).

The checkpoint pickles sleap-nn's configuration objects (OmegaConf) beside the weights; they are
read as plain placeholders, so neither sleap-nn nor OmegaConf is needed, and nothing in the file
is run.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import torch
import yaml

from posenn.errors import PosennError
from posenn.interop.model import SleapModel, unet_and_head
from posenn.interop.weights import Layer

CONFIG_NAME = "training_config.yaml"
CHECKPOINT_NAME = "best.ckpt"
# sleap-nn's head names in `model_config.head_configs` → posenn's model types.
MODEL_TYPES = {
    "single_instance": "single_instance",
    "centroid": "centroid",
    "centered_instance": "centered_instance",
    "bottomup": "bottomup",
    "multi_class_bottomup": "multiclass_bottomup",
    "multi_class_topdown": "multiclass_topdown",
}


class Placeholder:
    """Stands in for any class a checkpoint names that is not needed to read its tensors."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class CheckpointUnpickler(pickle.Unpickler):
    """Resolves the classes PyTorch needs; every other class becomes a `Placeholder`."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(("torch", "collections", "numpy", "builtins", "_codecs")):
            return super().find_class(module, name)
        return type(name, (Placeholder,), {"__module__": module})


TOLERANT_PICKLE = types.SimpleNamespace(Unpickler=CheckpointUnpickler, load=pickle.load, __name__="posenn_tolerant_pickle")


def read_checkpoint_layers(path: Path) -> dict[str, Layer]:
    """The layers of a sleap-nn checkpoint's `model.*` weights, by SLEAP layer name.

    Raises:
        PosennError: when the file cannot be read or holds no sleap-nn model weights.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, pickle_module=TOLERANT_PICKLE)
        state = checkpoint["state_dict"]
    except Exception as exc:
        raise PosennError(f"{path}: cannot be read as a sleap-nn checkpoint ({exc}).") from None
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if not key.startswith("model.") or not isinstance(value, torch.Tensor):
            continue
        module, _, kind = key.rpartition(".")
        layers.setdefault(layer_name(module), {})[kind] = value
    if not layers:
        raise PosennError(f"{path}: no model weights (keys starting with 'model.') in its state_dict.")
    return {name: Layer(parts["weight"], parts.get("bias")) for name, parts in layers.items()}


def layer_name(module: str) -> str:
    """The SLEAP layer name inside a sleap-nn module path: `model.backbone...blocks.stack0_enc0_conv0`
    → `stack0_enc0_conv0`; `model.head_layers.0.CentroidConfmapsHead.0` → `CentroidConfmapsHead`."""
    parts = module.split(".")
    named = [part for part in parts if not part.isdigit()]
    return named[-1]


def read_config(model_dir: Path) -> dict[str, Any]:
    """`training_config.yaml` of a sleap-nn model folder as a dict."""
    path = Path(model_dir) / CONFIG_NAME
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PosennError(f"{path}: cannot be read as a sleap-nn training config ({exc}).") from None
    for section in ("data_config", "model_config"):
        if not isinstance(raw, dict) or not isinstance(raw.get(section), dict):
            raise PosennError(f"{path}: no '{section}' section; is this a sleap-nn training_config.yaml?")
    return raw


def read_sleap_nn(model_dir: Path) -> SleapModel:
    """A sleap-nn model folder, read into a `SleapModel`.

    Raises:
        PosennError: for a missing or unreadable file, or a model posenn cannot run (naming the
            sleap-nn config field and its value).
    """
    model_dir = Path(model_dir)
    raw = read_config(model_dir)
    source = str(model_dir / CONFIG_NAME)
    data, model = raw["data_config"], raw["model_config"]
    unet, model_type, head = unet_and_head(
        model, "backbone_config", "head_configs", MODEL_TYPES, f"{source}: model_config", "sleap-nn"
    )
    in_channels = model["backbone_config"]["unet"].get("in_channels", 1)
    preprocessing = data.get("preprocessing") or {}
    channels = 3 if preprocessing.get("ensure_rgb") else 1 if preprocessing.get("ensure_grayscale") else in_channels
    checkpoint = model_dir / CHECKPOINT_NAME
    if not checkpoint.is_file():
        raise PosennError(f"{model_dir}: no {CHECKPOINT_NAME} beside {CONFIG_NAME}; has training finished?")
    return SleapModel(
        source=model_dir,
        kind="sleap-nn",
        model_type=model_type,
        confmaps=head.get("confmaps") or {},
        second=head.get("pafs") or head.get("class_maps"),
        class_vectors=head.get("class_vectors"),
        unet=unet,
        channels=int(channels),
        scale=float(preprocessing.get("scale") or 1.0),
        crop_size=preprocessing.get("crop_size"),
        skeleton=skeleton(data.get("skeletons") or [], source),
        layers=read_checkpoint_layers(checkpoint),
        checkpoint=checkpoint,
    )


def skeleton(skeletons: list[dict[str, Any]], source: str) -> dict[str, list[Any]]:
    """Nodes, edges and symmetries of the first skeleton in `data_config.skeletons`."""
    if not skeletons:
        raise PosennError(f"{source}: data_config.skeletons is empty; expected the skeleton the model was trained on.")
    first = skeletons[0]

    def name(node: Any) -> str:
        return node["name"] if isinstance(node, dict) else str(node)

    nodes = [name(node) for node in first.get("nodes") or []]
    edges = [[name(edge["source"]), name(edge["destination"])] for edge in first.get("edges") or []]
    symmetries = []
    for pair in first.get("symmetries") or []:
        ends = [name(node) for node in (pair if isinstance(pair, list) else [pair.get("source"), pair.get("destination")])]
        if sorted(ends) not in [sorted(s) for s in symmetries]:
            symmetries.append(ends)
    return {"nodes": nodes, "edges": edges, "symmetries": symmetries}
