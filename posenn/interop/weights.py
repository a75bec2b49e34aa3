"""SLEAP-style UNet weights (sleap-nn checkpoints, SLEAP 1.x Keras files) → posenn's state dict.

SLEAP 1.x and sleap-nn name their layers alike: `stack0_enc{level}_conv{i}`,
`stack0_enc{n}_middle_expand_conv{i}`, `stack0_enc{n}_middle_contract_conv0`,
`stack0_dec{level}_s{a}_to_s{b}_trans_conv`, `stack0_dec{level}_s{a}_to_s{b}_refine_conv{i}`, one
1×1 convolution per head named for the head (`CentroidConfmapsHead`, `PartAffinityFieldsHead`,
...), and `pre_classification{i}_fc` layers before `ClassVectorsHead`. Readers hand this module
those layers in PyTorch's layout; it finds where each goes in posenn's `PoseModel`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from posenn.errors import PosennError

# Heads whose 1×1 convolution is the model's main output.
MAP_HEADS = ("SingleInstanceConfmapsHead", "CentroidConfmapsHead", "CenteredInstanceConfmapsHead", "MultiInstanceConfmapsHead")
# Heads whose 1×1 convolution is the model's second output, at its own stride.
SECOND_HEADS = ("PartAffinityFieldsHead", "ClassMapsHead")
# Heads posenn reads but does not run: it refines peaks from the maps themselves.
UNUSED_HEADS = ("OffsetRefinementHead",)


@dataclass(frozen=True)
class Layer:
    """One layer's parameters in PyTorch's layout: conv `(out, in, kh, kw)`, transposed conv
    `(in, out, kh, kw)`, dense `(out, in)`."""

    weight: torch.Tensor
    bias: torch.Tensor | None


def head_name(layer: str) -> str:
    """`CentroidConfmapsHead_0` → `CentroidConfmapsHead` (Keras numbers its head layers)."""
    return re.sub(r"_\d+$", "", layer)


def unet_widths(layers: dict[str, Layer], source: str) -> list[int]:
    """Channels of each UNet level, shallowest first, read from the weights: encoder levels,
    then the middle block (or the last encoder level's when there is none)."""
    encoder = sorted(
        (int(match[1]), layer.weight.shape[0])
        for name, layer in layers.items()
        if (match := re.fullmatch(r"stack0_enc(\d+)_conv0", name))
    )
    if not encoder:
        raise PosennError(f"{source}: no UNet encoder layers (stack0_enc0_conv0, ...); is this a UNet model?")
    widths = [width for _, width in encoder]
    middle = [layer.weight.shape[0] for name, layer in layers.items() if re.fullmatch(r"stack0_enc\d+_middle_expand_conv0", name)]
    return [*widths, middle[0] if middle else widths[-1]]


def posenn_state_dict(layers: dict[str, Layer], state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Fill a copy of posenn's `state` (a `PoseModel.state_dict()`, for the shapes) from SLEAP
    layers.

    Args:
        layers: SLEAP layer name → parameters, PyTorch layout.
        state: the state dict of the posenn model the weights are for.
        source: the file the layers came from, for messages.

    Returns:
        The new state dict: every posenn parameter set from a SLEAP layer.

    Raises:
        PosennError: when a SLEAP layer has no place in the model, a shape differs, or a posenn
            parameter gets no value.
    """
    target = dict(state)
    filled: set[str] = set()
    skip_widths = {int(m[1]): layer.weight.shape[0] for name, layer in layers.items() if (m := re.fullmatch(r"stack0_enc(\d+)_conv0", name))}
    expand = sorted(int(m[1]) for name in layers if (m := re.fullmatch(r"stack0_enc\d+_middle_expand_conv(\d+)", name)))
    fc = sorted(int(m[1]) for name in layers if (m := re.fullmatch(r"pre_classification(\d+)_fc", name)))

    def put(key: str, layer: Layer, name: str) -> None:
        for suffix, value in (("weight", layer.weight), ("bias", layer.bias)):
            full = f"{key}.{suffix}"
            if value is None:
                continue
            if full not in target:
                raise PosennError(f"{source}: layer '{name}' has no counterpart in the posenn model ({full}).")
            if tuple(target[full].shape) != tuple(value.shape):
                raise PosennError(
                    f"{source}: layer '{name}' has shape {tuple(value.shape)}; the posenn model expects "
                    f"{tuple(target[full].shape)} for {full}."
                )
            target[full] = value.to(target[full].dtype).clone()
            filled.add(full)

    for name, layer in layers.items():
        head = head_name(name)
        if match := re.fullmatch(r"stack0_enc(\d+)_conv(\d+)", name):
            put(f"backbone.encoder.{match[1]}.{2 * int(match[2])}", layer, name)
        elif match := re.fullmatch(r"stack0_enc\d+_middle_expand_conv(\d+)", name):
            put(f"backbone.bottleneck.{2 * int(match[1])}", layer, name)
        elif re.fullmatch(r"stack0_enc\d+_middle_contract_conv0", name):
            put(f"backbone.bottleneck.{2 * len(expand)}", layer, name)
        elif match := re.fullmatch(r"stack0_dec(\d+)_s\d+_to_s\d+_trans_conv", name):
            put(f"backbone.upsamples.{match[1]}.layer.0", layer, name)
        elif match := re.fullmatch(r"stack0_dec(\d+)_s(\d+)_to_s(\d+)_refine_conv(\d+)", name):
            level, conv = int(match[1]), int(match[4])
            weight = layer.weight
            if conv == 0:  # SLEAP concatenates [skip, upsampled]; posenn [upsampled, skip]
                skip = skip_widths[len(skip_widths) - 1 - level]
                weight = torch.cat([weight[:, skip:], weight[:, :skip]], dim=1)
            put(f"backbone.decoder.{level}.{2 * conv}", Layer(weight, layer.bias), name)
        elif head in MAP_HEADS:
            put("head", layer, name)
        elif head in SECOND_HEADS:
            put("extra_head.0" if "extra_head.0.weight" in target else "extra_head", layer, name)
        elif match := re.fullmatch(r"pre_classification(\d+)_fc", name):
            put(f"classifier.layers.{2 * fc.index(int(match[1]))}", layer, name)
        elif head == "ClassVectorsHead":
            put(f"classifier.layers.{2 * len(fc)}", layer, name)
        elif head not in UNUSED_HEADS:
            raise PosennError(f"{source}: layer '{name}' is not one posenn knows how to run (a UNet layer or a head).")
    missing = sorted(key for key in target if key not in filled)
    if missing:
        raise PosennError(f"{source}: no weights for {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} of the posenn model.")
    return target


def unused_heads(layers: dict[str, Layer]) -> dict[str, Layer]:
    """The layers of heads posenn reads but does not run (offset refinement), by head name."""
    return {head_name(name): layer for name, layer in layers.items() if head_name(name) in UNUSED_HEADS}
