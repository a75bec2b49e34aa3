"""A model trained by SLEAP 1.x or sleap-nn, described in one shape, and turned into posenn's
config and network.

Both engines train the same UNet and heads; they differ in file formats, which
`posenn.interop.sleap_nn` and `posenn.interop.sleap_legacy` read into a `SleapModel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from posenn.config import Config, validate_config
from posenn.errors import PosennError
from posenn.interop.weights import Layer, head_name, posenn_state_dict, unet_widths, unused_heads
from posenn.models.model import PoseModel, build_head, build_model

# sleap-nn's and SLEAP's defaults for inference, as posenn's settings.
PEAK_THRESHOLD = 0.2
LINE_POINTS = 10
MIN_LINE_SCORE = 0.25


@dataclass(frozen=True)
class UNetSettings:
    """The UNet fields SLEAP's configs share."""

    max_stride: int
    filters: int
    filters_rate: float
    convs_per_block: int = 2
    kernel_size: int = 3
    middle_block: bool = True
    up_interpolate: bool = True
    stem_stride: int | None = None
    stacks: int = 1

    @classmethod
    def from_dict(cls, unet: dict[str, Any], field: str) -> UNetSettings:
        """Read and check a config's UNet section (`field` names it in messages).

        Raises:
            PosennError: for the settings posenn's UNet does not have (stem blocks, stacks).
        """
        if unet.get("stem_stride"):
            raise PosennError(f"{field}.stem_stride = {unet['stem_stride']}: posenn's UNet has no stem blocks; expected null.")
        if (unet.get("stacks") or 1) != 1:
            raise PosennError(f"{field}.stacks = {unet['stacks']}: posenn runs single-stack UNets; expected 1.")
        try:
            return cls(
                max_stride=int(unet["max_stride"]),
                filters=int(unet["filters"]),
                filters_rate=float(unet["filters_rate"]),
                convs_per_block=int(unet.get("convs_per_block") or 2),
                kernel_size=int(unet.get("kernel_size") or 3),
                middle_block=bool(unet.get("middle_block", True)),
                up_interpolate=bool(unet.get("up_interpolate", True)),
            )
        except KeyError as exc:
            raise PosennError(f"{field}: no '{exc.args[0]}' field; expected max_stride, filters and filters_rate.") from None


def unet_and_head(
    section: dict[str, Any], backbone_key: str, heads_key: str, model_types: dict[str, str], where: str, engine: str
) -> tuple[UNetSettings, str, dict[str, Any]]:
    """The UNet settings and the one head that a SLEAP config's model section sets.

    Args:
        section: the model section (`model` of SLEAP 1.x, `model_config` of sleap-nn).
        backbone_key, heads_key: its fields for the backbones and the heads.
        model_types: the engine's head names → posenn's model types.
        where: the file and section, for messages (e.g. "training_config.yaml: model_config").
        engine: "sleap-nn" or "SLEAP 1.x", for messages.

    Returns:
        The UNet settings, posenn's model type, and the head's settings.

    Raises:
        PosennError: naming the field when the backbone is not a UNet or not one head is set.
    """
    backbones = {name: value for name, value in (section.get(backbone_key) or {}).items() if value}
    if set(backbones) != {"unet"}:
        raise PosennError(
            f"{where}.{backbone_key} uses {', '.join(sorted(backbones)) or 'no backbone'}; "
            f"posenn runs {engine} models with the unet backbone."
        )
    heads = {name: value for name, value in (section.get(heads_key) or {}).items() if value}
    if len(heads) != 1 or next(iter(heads)) not in model_types:
        raise PosennError(f"{where}.{heads_key} sets {sorted(heads)}; expected one of {sorted(model_types)}.")
    head_kind, head = next(iter(heads.items()))
    return UNetSettings.from_dict(backbones["unet"], f"{where}.{backbone_key}.unet"), model_types[head_kind], head


@dataclass(frozen=True)
class SleapModel:
    """A SLEAP 1.x or sleap-nn model folder, read.

    Attributes:
        source: the model folder.
        kind: "sleap-nn" or "SLEAP 1.x".
        model_type: posenn's model type.
        confmaps: the part (or centroid) maps' settings: sigma, output_stride, anchor_part.
        second: the second maps' settings (part affinity fields or class maps), or None.
        class_vectors: the class vectors' settings (multi-class top-down), or None.
        unet: the backbone.
        channels: image channels the network reads.
        scale: input scale.
        crop_size: side of the instance crops (top-down instance models), else None.
        skeleton: `{"nodes": [...], "edges": [[a, b], ...], "symmetries": [[a, b], ...]}`.
        layers: the weights by SLEAP layer name, PyTorch layout.
        checkpoint: the weights file.
    """

    source: Path
    kind: str
    model_type: str
    confmaps: dict[str, Any]
    second: dict[str, Any] | None
    class_vectors: dict[str, Any] | None
    unet: UNetSettings
    channels: int
    scale: float
    crop_size: int | None
    skeleton: dict[str, list[Any]]
    layers: dict[str, Layer]
    checkpoint: Path

    @property
    def transposed_upsampling(self) -> str:
        """posenn's name for the engine's 3×3 transposed convolution (they align it differently)."""
        return "transposed_3x3_keras" if self.kind == "SLEAP 1.x" else "transposed_3x3"

    @property
    def classes(self) -> list[str]:
        """Identity names of multi-class models; empty for the others."""
        settings = self.class_vectors or (self.second if self.model_type == "multiclass_bottomup" else None) or {}
        return [str(name) for name in settings.get("classes") or []]


def posenn_config(model: SleapModel) -> Config:
    """posenn's config for a SLEAP model: the same network, heads, preprocessing and inference
    defaults, with SLEAP's grid convention (`model.grid: corner`).

    Raises:
        PosennError: for a setting posenn cannot express, naming it.
    """
    unet, confmaps = model.unet, model.confmaps
    widths = unet_widths(model.layers, str(model.checkpoint))
    depth = int(math.log2(unet.max_stride))
    if len(widths) != depth + 1:
        raise PosennError(
            f"{model.checkpoint}: the weights have {len(widths) - 1} encoder levels; max_stride {unet.max_stride} needs {depth}."
        )
    output_stride = int(confmaps.get("output_stride", 1))
    second_stride = int(model.second["output_stride"]) if model.second else output_stride
    if second_stride < output_stride:
        raise PosennError(
            f"{model.source}: the second output's stride ({second_stride}) is finer than the maps' ({output_stride}); "
            "posenn needs the part maps at the finest stride."
        )
    raw: dict[str, Any] = {
        "data": {"scale": model.scale, "channels": model.channels, "skeleton": model.skeleton},
        "model": {
            "type": model.model_type,
            "backbone": {
                "filters": unet.filters,
                "filters_rate": unet.filters_rate,
                "max_stride": unet.max_stride,
                "convs_per_block": unet.convs_per_block,
                "kernel_size": unet.kernel_size,
                "middle_block": unet.middle_block,
                "upsampling": "bilinear" if unet.up_interpolate else model.transposed_upsampling,
                "batch_norm": False,
                "widths": widths,
            },
            "output_stride": output_stride,
            "sigma": float(confmaps.get("sigma", 5.0)),
            "anchor_part": confmaps.get("anchor_part"),
            "crop_size": model.crop_size,
            "grid": "corner",
            "classes": model.classes,
        },
        "inference": {
            "peak_threshold": PEAK_THRESHOLD, "line_points": LINE_POINTS, "min_line_score": MIN_LINE_SCORE,
            "refinement": "integral",
        },
    }
    if model.model_type == "bottomup":
        raw["model"]["paf_stride"] = second_stride
        raw["model"]["paf_width"] = 2 * float(model.second.get("sigma", 15.0))
        raw["inference"]["min_points"] = 1
        raw["inference"]["limb_peak_weight"] = 0.0  # SLEAP assigns limbs by line scores alone
    if model.model_type == "multiclass_bottomup":
        if second_stride != output_stride:
            raise PosennError(f"{model.source}: class maps at stride {second_stride}, part maps at {output_stride}; posenn needs one stride.")
        raw["model"]["class_maps_activation"] = "sigmoid"
    if model.class_vectors is not None:
        if not model.class_vectors.get("global_pool", True):
            raise PosennError(f"{model.source}: class_vectors.global_pool = false; posenn reads class vectors after global pooling.")
        raw["model"]["class_pooling"] = "global_max"
        raw["model"]["class_layers"] = [int(model.class_vectors.get("num_fc_units", 64))] * int(model.class_vectors.get("num_fc_layers", 1))
    return validate_config(raw, source=f"the posenn config made from {model.source}")


def posenn_network(model: SleapModel, config: Config) -> PoseModel:
    """posenn's network for `config`, with the SLEAP model's weights, in eval mode."""
    network = build_model(config, build_head(config))
    network.load_state_dict(posenn_state_dict(model.layers, network.state_dict(), str(model.checkpoint)))
    return network.eval()


def reference_outputs(model: SleapModel, network: PoseModel, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The network's outputs under SLEAP's head names, activated as SLEAP's graphs output them
    (class vectors as probabilities), plus the heads posenn reads but does not run (offsets);
    for checking a conversion against the engine's own outputs.

    Args:
        images: `(batch, channels, height, width)` in [0, 1].

    Returns:
        head name → `(batch, channels, h, w)` maps or `(batch, classes)` vectors.
    """
    with torch.no_grad():
        outputs = network(images)
        features = network.backbone.features(images)
    first, second = outputs if isinstance(outputs, tuple) else (outputs, None)
    names = {head_name(name): name for name in model.layers}
    named: dict[str, torch.Tensor] = {}
    for name in names:
        if name.endswith("ConfmapsHead"):
            named[name] = first
        elif name in ("PartAffinityFieldsHead", "ClassMapsHead"):
            named[name] = second
        elif name == "ClassVectorsHead":
            named[name] = second.softmax(dim=-1)
    for name, layer in unused_heads(model.layers).items():
        stride = model.confmaps.get("output_stride", network.backbone.output_stride)
        named[name] = torch.nn.functional.conv2d(features[stride], layer.weight, layer.bias)
    return named
