"""Backbones from timm: a pretrained-capable encoder and a light decoder back to the output stride.

The encoder is `timm.create_model(name, features_only=True)`: its feature maps at strides 2, 4,
..., up to `max_stride` (ResNet, ConvNeXt, EfficientNet, RegNet, MobileNet, HRNet, ...). The
decoder is the UNet's: from the deepest features, each level doubles the resolution (bilinear),
concatenates the encoder's features of that stride when there are some, and refines with
3×3 convolutions, down to `output_stride`. Images are normalised inside the network with the
mean and standard deviation the encoder's weights expect, so every runtime (PyTorch, ONNX) feeds
it the same [0, 1] images as the UNet.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from posenn.errors import PosennError
from posenn.models.unet import conv_block


def timm_module():
    """timm, imported when a timm backbone is used (it is slow to import).

    Raises:
        PosennError: when timm is not installed.
    """
    try:
        import timm
    except ImportError:
        raise PosennError("model.backbone.name names a timm encoder, but timm is not installed (pip install timm).") from None
    return timm


def check_encoder_name(name: str) -> None:
    """Raise a clear error unless timm knows `name`."""
    timm = timm_module()
    if name not in timm.list_models():
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise PosennError(f"model.backbone.name '{name}' is not a timm model (nor 'unet').{hint}")


def features_model(name: str, in_channels: int, out_indices: tuple[int, ...] | None = None, pretrained: bool = False) -> nn.Module:
    """timm's `features_only` model of encoder `name` (all its feature maps, or `out_indices`).

    Raises:
        PosennError: when timm is missing or does not know `name`.
    """
    timm = timm_module()
    check_encoder_name(name)
    options = {} if out_indices is None else {"out_indices": out_indices}
    return timm.create_model(name, pretrained=pretrained, features_only=True, in_chans=in_channels, **options)


def encoder_strides(name: str, in_channels: int = 1) -> list[int]:
    """The strides of the feature maps a timm encoder gives, shallowest first."""
    return list(features_model(name, in_channels).feature_info.reduction())


class TimmBackbone(nn.Module):
    """A timm encoder with a UNet-style decoder; the same interface as `UNet`.

    Args:
        name: timm model name (e.g. "resnet18", "convnext_atto", "efficientnet_b0", "hrnet_w18_small").
        in_channels: image channels (1 or 3); timm adapts the stem (summing pretrained RGB kernels for 1).
        max_stride: deepest encoder stride used (a power of 2 the encoder reaches).
        output_stride: stride of the returned features.
        filters, filters_rate: decoder width at stride `s` is `filters * filters_rate ** log2(s)`.
        convs_per_block: 3×3 convolutions per decoder level.
        batch_norm: batch normalization in the decoder.

    The encoder starts from random weights; `load_pretrained` fills it.

    Input `(batch, in_channels, H, W)` in [0, 1] with H, W multiples of `max_stride`.
    """

    def __init__(
        self,
        name: str,
        in_channels: int,
        max_stride: int,
        output_stride: int,
        filters: int = 16,
        filters_rate: float = 2.0,
        convs_per_block: int = 2,
        batch_norm: bool = True,
    ):
        super().__init__()
        every_level = features_model(name, in_channels)
        strides = list(every_level.feature_info.reduction())
        if max_stride not in strides:
            raise PosennError(
                f"model.backbone.max_stride {max_stride}: the {name} encoder gives features at strides {strides}; "
                "choose one of them."
            )
        if output_stride > max_stride or output_stride < 1 or output_stride & (output_stride - 1):
            raise PosennError(f"model.output_stride {output_stride} must be a power of 2 up to max_stride {max_stride}.")
        indices = tuple(i for i, stride in enumerate(strides) if stride <= max_stride)
        # Built again only to stop before the deepest levels (they would run for nothing).
        self.encoder = every_level if len(indices) == len(strides) else features_model(name, in_channels, indices)
        self.name, self.in_channels, self.out_indices = name, in_channels, indices
        self.encoder_strides = [strides[i] for i in indices]
        encoder_channels = dict(zip(self.encoder_strides, self.encoder.feature_info.channels()))
        config = self.encoder.pretrained_cfg
        mean, std = torch.tensor(config.get("mean", (0.5,) * 3)), torch.tensor(config.get("std", (0.5,) * 3))
        if in_channels == 1:
            mean, std = mean.mean(dim=0, keepdim=True), std.mean(dim=0, keepdim=True)
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.reshape(1, -1, 1, 1), persistent=False)

        self.max_stride, self.output_stride = max_stride, output_stride
        # Inputs are padded to the encoder's own deepest stride: some (HRNet) run every stage.
        self.pad_multiple = max(strides)
        self.convs_per_block = convs_per_block
        self.widths = {stride: encoder_channels[stride] for stride in (max_stride,)}
        self.skip_channels = encoder_channels
        self.decoder = nn.ModuleList()
        channels = encoder_channels[max_stride]
        stride = max_stride
        while stride > output_stride:
            stride //= 2
            width = round(filters * filters_rate ** math.log2(stride))
            skip = encoder_channels.get(stride, 0)
            self.decoder.append(conv_block(channels + skip, width, convs_per_block, batch_norm))
            self.widths[stride] = channels = width
        self.out_channels = channels
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[self.output_stride]

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """The deepest encoder features and every decoder level, keyed by their stride."""
        encoded = dict(zip(self.encoder_strides, self.encoder((x - self.mean) / self.std)))
        x = encoded[self.max_stride]
        stride = self.max_stride
        levels = {stride: x}
        for block in self.decoder:
            stride //= 2
            x = self.upsample(x)
            if stride in encoded:
                x = torch.cat([x, encoded[stride]], dim=1)
            x = block(x)
            levels[stride] = x
        return levels

    def channels_at(self, stride: int) -> int:
        """Channels of the features at `stride` (a power of 2 from output_stride to max_stride)."""
        if stride not in self.widths:
            raise ValueError(
                f"stride {stride} is not a level of this backbone: expected a power of 2 from "
                f"output_stride {self.output_stride} to max_stride {self.max_stride}."
            )
        return self.widths[stride]

    def receptive_field(self) -> int | None:
        """Not computed for timm encoders (their blocks vary too much); None."""
        return None


def load_pretrained(backbone: TimmBackbone, pretrained: bool | str | Path) -> list[str]:
    """Fill the encoder with pretrained weights: timm's ImageNet weights (`True`, from timm's
    cache or downloaded) or a local weights file (a path, see `load_encoder_weights`).

    Returns:
        The names of the encoder tensors loaded (all of them); empty when `pretrained` is False.

    Raises:
        PosennError: when the weights cannot be found or do not fit, saying what was looked for.
    """
    if pretrained is False:
        return []
    if pretrained is True:
        try:
            source = features_model(backbone.name, backbone.in_channels, backbone.out_indices, pretrained=True)
        except PosennError:
            raise
        except Exception as exc:  # timm raises many kinds when weights cannot be fetched
            raise PosennError(
                f"model.backbone.pretrained: true, but timm could not load the pretrained weights of {backbone.name} "
                f"({type(exc).__name__}: {exc}). Offline, put them in timm's cache (~/.cache/huggingface/hub) or give "
                "model.backbone.pretrained: /path/to/weights.pth (or .safetensors)."
            ) from None
        backbone.encoder.load_state_dict(source.state_dict())
        return list(source.state_dict())
    return load_encoder_weights(backbone, Path(pretrained))


def load_encoder_weights(backbone: TimmBackbone, path: Path) -> list[str]:
    """Load an encoder's weights from a local file (a timm/PyTorch `.pth`/`.bin` state dict or
    `.safetensors`), as timm's `features_only` model names them; classifier weights are ignored.

    Returns:
        The names of the encoder's tensors that were loaded (every one of them).

    Raises:
        PosennError: when the file is missing or unreadable, or an encoder tensor is missing from
            it or has another shape.
    """
    path = Path(path)
    if not path.is_file():
        raise PosennError(f"model.backbone.pretrained: {path} not found; expected a weights file (.pth, .bin or .safetensors).")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PosennError(f"model.backbone.pretrained: {path} cannot be read as weights ({exc}).") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    target = backbone.encoder.state_dict()
    loaded = {}
    for key, value in target.items():
        source = state.get(key, state.get(key.replace("_", ".", 1)))
        if source is None:
            raise PosennError(f"model.backbone.pretrained: {path} has no tensor '{key}' of the {backbone.name} encoder.")
        if tuple(source.shape) != tuple(value.shape):
            if key.endswith("weight") and source.ndim == 4 and value.shape[1] == 1 and source.shape[1] == 3:
                source = source.sum(dim=1, keepdim=True)  # an RGB stem for a grayscale model, as timm adapts it
            else:
                raise PosennError(
                    f"model.backbone.pretrained: '{key}' in {path} has shape {tuple(source.shape)}; the {backbone.name} "
                    f"encoder expects {tuple(value.shape)}."
                )
        loaded[key] = source
    backbone.encoder.load_state_dict(loaded)
    return list(loaded)
