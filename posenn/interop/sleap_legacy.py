"""SLEAP 1.x model folders: `training_config.json` and `best_model.h5` (Keras), read with h5py;
TensorFlow is not needed.

Keras stores kernels channels-last: convolutions `(kh, kw, in, out)`, transposed convolutions
`(kh, kw, out, in)`, dense layers `(in, out)`; they are turned into PyTorch's layouts here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posenn.errors import PosennError
from posenn.interop.model import SleapModel, unet_and_head
from posenn.interop.weights import Layer

CONFIG_NAME = "training_config.json"
WEIGHTS_NAME = "best_model.h5"
# SLEAP 1.x's head names in `model.heads` → posenn's model types.
MODEL_TYPES = {
    "single_instance": "single_instance",
    "centroid": "centroid",
    "centered_instance": "centered_instance",
    "multi_instance": "bottomup",
    "multi_class_bottomup": "multiclass_bottomup",
    "multi_class_topdown": "multiclass_topdown",
}


def read_keras_layers(path: Path) -> tuple[dict[str, Layer], list[int | None]]:
    """The weights of a Keras `.h5` model file by layer name, in PyTorch's layout, and the
    input shape `[batch, height, width, channels]` its graph declares.

    Raises:
        PosennError: when the file is not a Keras model file.
    """
    import h5py

    try:
        with h5py.File(path, "r") as file:
            graph = json.loads(file.attrs["model_config"])
            weights = file["model_weights"]
            classes = {layer["config"]["name"]: layer["class_name"] for layer in graph["config"]["layers"]}
            layers: dict[str, Layer] = {}
            for name, kind in classes.items():
                if name not in weights or not len(weights[name]):
                    continue
                group = weights[name][name] if name in weights[name] else weights[name]
                values = {key.split(":")[0]: np.asarray(group[key]) for key in group}
                layers[name] = torch_layer(kind, values, f"{path}: layer '{name}'")
            input_shape = graph["config"]["layers"][0]["config"].get("batch_input_shape") or []
    except (OSError, KeyError, ValueError) as exc:
        raise PosennError(f"{path}: cannot be read as a SLEAP 1.x Keras model file ({exc}).") from None
    return layers, list(input_shape)


def torch_layer(kind: str, values: dict[str, np.ndarray], where: str) -> Layer:
    """A Keras layer's kernel and bias in PyTorch's layout."""
    if "kernel" not in values:
        raise PosennError(f"{where}: a {kind} layer without a kernel; posenn reads Conv2D, Conv2DTranspose and Dense layers.")
    kernel = torch.from_numpy(values["kernel"].astype(np.float32))
    bias = torch.from_numpy(values["bias"].astype(np.float32)) if "bias" in values else None
    if kind in ("Conv2D", "Conv2DTranspose"):
        return Layer(kernel.permute(3, 2, 0, 1).contiguous(), bias)
    if kind == "Dense":
        return Layer(kernel.T.contiguous(), bias)
    raise PosennError(f"{where}: a {kind} layer; posenn reads Conv2D, Conv2DTranspose and Dense layers.")


def read_sleap_legacy(model_dir: Path) -> SleapModel:
    """A SLEAP 1.x model folder, read into a `SleapModel`.

    Raises:
        PosennError: for a missing or unreadable file, or a model posenn cannot run (naming the
            config field and its value).
    """
    model_dir = Path(model_dir)
    config_path, weights_path = model_dir / CONFIG_NAME, model_dir / WEIGHTS_NAME
    try:
        raw = json.loads(config_path.read_text())
        model, data = raw["model"], raw["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PosennError(f"{config_path}: cannot be read as a SLEAP 1.x training config ({exc}).") from None
    if not weights_path.is_file():
        raise PosennError(f"{model_dir}: no {WEIGHTS_NAME} beside {CONFIG_NAME}; has training finished?")
    unet, model_type, head = unet_and_head(model, "backbone", "heads", MODEL_TYPES, f"{config_path}: model", "SLEAP 1.x")
    layers, input_shape = read_keras_layers(weights_path)
    preprocessing = data.get("preprocessing") or {}
    channels = input_shape[-1] if input_shape and input_shape[-1] else 1
    if preprocessing.get("ensure_rgb"):
        channels = 3
    elif preprocessing.get("ensure_grayscale"):
        channels = 1
    crop_size = (data.get("instance_cropping") or {}).get("crop_size")
    if crop_size is None and model_type in ("centered_instance", "multiclass_topdown") and input_shape[1:2] != [None]:
        crop_size = input_shape[1]
    return SleapModel(
        source=model_dir,
        kind="SLEAP 1.x",
        model_type=model_type,
        confmaps=head.get("confmaps") or head,
        second=head.get("pafs") or head.get("class_maps"),
        class_vectors=head.get("class_vectors"),
        unet=unet,
        channels=int(channels),
        scale=float(preprocessing.get("input_scaling") or 1.0),
        crop_size=crop_size,
        skeleton=skeleton(raw, str(config_path)),
        layers=layers,
        checkpoint=weights_path,
    )


def skeleton(raw: dict[str, Any], source: str) -> dict[str, list[Any]]:
    """The first skeleton of a SLEAP 1.x training config (stored as jsonpickle), read by sleap-io."""
    from sleap_io.io.skeleton import decode_training_config

    try:
        skeletons = decode_training_config(raw)
    except Exception as exc:
        raise PosennError(f"{source}: data.labels.skeletons cannot be read ({exc}).") from None
    first = skeletons[0] if isinstance(skeletons, list) else skeletons
    if first is None or not first.nodes:
        raise PosennError(f"{source}: data.labels.skeletons is empty; expected the skeleton the model was trained on.")
    return {
        "nodes": [node.name for node in first.nodes],
        "edges": [[edge.source.name, edge.destination.name] for edge in first.edges],
        "symmetries": [[node.name for node in symmetry.nodes] for symmetry in first.symmetries],
    }
