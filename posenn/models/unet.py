"""UNet backbone: an encoder down to `max_stride`, a decoder back up to `output_stride`.

Each level is `convs_per_block` 3×3 convolutions with ReLU; the encoder halves the resolution
with max pooling, the decoder doubles it and concatenates the encoder's features of the same
stride. Doubling is bilinear interpolation alone ("bilinear", the classic UNet and sleap-nn's
`up_interpolate`), interpolation then a 3×3 conv that halves the channels ("bilinear_conv"), a
2×2 transposed conv ("transposed"), or a 3×3 transposed conv and a ReLU (SLEAP's UNets without
`up_interpolate`: "transposed_3x3" as sleap-nn aligns it, "transposed_3x3_keras" as SLEAP 1.x).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int, convs: int, batch_norm: bool, kernel_size: int = 3) -> nn.Sequential:
    """`convs` × (k×k conv, [batch norm], ReLU), keeping the resolution."""
    layers: list[nn.Module] = []
    for i in range(convs):
        conv_in = in_channels if i == 0 else out_channels
        layers.append(nn.Conv2d(conv_in, out_channels, kernel_size, padding=kernel_size // 2, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Upsample(nn.Module):
    """Double the resolution (see the module docstring for the modes); `out_channels` tells the
    channels it hands on: `in_channels` for "bilinear", the requested ones otherwise."""

    def __init__(self, in_channels: int, out_channels: int, mode: str):
        super().__init__()
        interpolate = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        if mode == "bilinear":
            self.layer, self.out_channels = interpolate, in_channels
        elif mode == "bilinear_conv":
            self.layer = nn.Sequential(interpolate, nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))
            self.out_channels = out_channels
        elif mode == "transposed":
            self.layer, self.out_channels = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2), out_channels
        elif mode in ("transposed_3x3", "transposed_3x3_keras"):
            drop = "first" if mode == "transposed_3x3" else "last"
            self.layer = nn.Sequential(SameTransposedConv(in_channels, out_channels, drop), nn.ReLU(inplace=True))
            self.out_channels = out_channels
        else:
            raise ValueError(
                "model.backbone.upsampling must be 'bilinear', 'bilinear_conv', 'transposed', 'transposed_3x3' or "
                f"'transposed_3x3_keras', got {mode!r}."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class SameTransposedConv(nn.ConvTranspose2d):
    """A 3×3 transposed conv of stride 2 with "same" output, `(h, w)` → `(2h, 2w)`: the full
    `(2h + 1, 2w + 1)` output without its first row and column (`drop="first"`, sleap-nn's) or
    its last (`drop="last"`, Keras' `padding="same"`, SLEAP 1.x's)."""

    def __init__(self, in_channels: int, out_channels: int, drop: str = "first"):
        super().__init__(in_channels, out_channels, 3, stride=2)
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = super().forward(x)
        return full[..., 1:, 1:] if self.drop == "first" else full[..., :-1, :-1]


class UNet(nn.Module):
    """UNet feature extractor.

    Args:
        in_channels: image channels (1 or 3).
        filters: channels of the first level.
        filters_rate: channel multiplier per level.
        max_stride: stride of the deepest level (a power of 2); depth = log2(max_stride).
        output_stride: stride of the returned features (a power of 2, ≤ max_stride).
        convs_per_block: 3×3 convolutions per level.
        upsampling: "bilinear", "bilinear_conv", "transposed", "transposed_3x3" or "transposed_3x3_keras".
        batch_norm: batch normalization after each convolution (faster, steadier training).
        kernel_size: side of the square convolution kernels (odd).
        middle_block: convolutions at the deepest level; without them the decoder starts from
            the pooled features of the last encoder level.
        widths: channels of each level, shallowest first (log2(max_stride) + 1 values); None
            derives them from `filters` and `filters_rate`.

    Input `(batch, in_channels, H, W)` with H, W multiples of `max_stride`; output
    `(batch, out_channels, H / output_stride, W / output_stride)`.
    """

    def __init__(
        self,
        in_channels: int,
        filters: int = 16,
        filters_rate: float = 2.0,
        max_stride: int = 16,
        output_stride: int = 2,
        convs_per_block: int = 2,
        upsampling: str = "bilinear",
        batch_norm: bool = True,
        kernel_size: int = 3,
        middle_block: bool = True,
        widths: list[int] | None = None,
    ):
        super().__init__()
        for name, value in (("max_stride", max_stride), ("output_stride", output_stride)):
            if value < 1 or value & (value - 1):
                raise ValueError(f"model.{name} must be a power of 2, got {value}.")
        if output_stride > max_stride:
            raise ValueError(f"model.output_stride ({output_stride}) must not exceed max_stride ({max_stride}).")
        self.depth = int(math.log2(max_stride))
        self.max_stride = max_stride
        self.pad_multiple = max_stride  # inputs are padded to a multiple of this
        self.output_stride = output_stride
        self.convs_per_block = convs_per_block
        self.upsampling = upsampling
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"model.backbone.kernel_size must be odd, got {kernel_size}.")
        self.kernel_size = kernel_size
        if widths is None:
            widths = [round(filters * filters_rate**level) for level in range(self.depth + 1)]
        elif len(widths) != self.depth + 1:
            raise ValueError(
                f"model.backbone.widths has {len(widths)} values; max_stride {max_stride} needs {self.depth + 1} "
                "(one per level, shallowest first)."
            )
        if not middle_block:
            widths = [*widths[: self.depth], widths[self.depth - 1]]
        self.widths = widths = list(widths)

        self.encoder = nn.ModuleList()
        channels = in_channels
        for level in range(self.depth):
            self.encoder.append(conv_block(channels, widths[level], convs_per_block, batch_norm, kernel_size))
            channels = widths[level]
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = conv_block(channels, widths[self.depth], convs_per_block if middle_block else 0, batch_norm, kernel_size)
        channels = widths[self.depth]

        self.upsamples = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(self.depth - 1, int(math.log2(output_stride)) - 1, -1):
            upsample = Upsample(channels, widths[level], upsampling)
            self.upsamples.append(upsample)
            self.decoder.append(
                conv_block(upsample.out_channels + widths[level], widths[level], convs_per_block, batch_norm, kernel_size)
            )
            channels = widths[level]
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[self.output_stride]

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Features of the bottleneck and of every decoder level, keyed by their stride."""
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        stride = self.max_stride
        levels = {stride: x}
        for upsample, block in zip(self.upsamples, self.decoder):
            x = upsample(x)
            x = block(torch.cat([x, skips.pop()], dim=1))
            stride //= 2
            levels[stride] = x
        return levels

    def channels_at(self, stride: int) -> int:
        """Channels of the features at `stride` (a power of 2 from output_stride to max_stride)."""
        if stride < self.output_stride or stride > self.max_stride or stride & (stride - 1):
            raise ValueError(
                f"stride {stride} is not a level of this UNet: expected a power of 2 from "
                f"output_stride {self.output_stride} to max_stride {self.max_stride}."
            )
        return self.widths[int(math.log2(stride))]

    def receptive_field(self) -> int:
        """Receptive field in input pixels of one output cell (k×k convs, 2×2 pools)."""
        reach = self.kernel_size - 1  # cells one conv adds to the field
        field, jump = 1, 1
        for _ in range(self.depth):
            field += reach * jump * self.convs_per_block
            field += jump  # pool
            jump *= 2
        field += reach * jump * (len(self.bottleneck) and self.convs_per_block)
        upsample_reach = 0 if self.upsampling == "transposed" else 1
        upsample_convs = int(self.upsampling == "bilinear_conv")
        for _ in self.decoder:
            field += upsample_reach * jump  # interpolation or a 3×3 transposed conv reads 2 coarse cells
            jump //= 2
            field += reach * jump * (self.convs_per_block + upsample_convs)
        return field


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every batch norm that follows a convolution into that convolution's weights, for
    inference (eval mode): the same outputs with one op instead of two. Changes `module` in
    place and returns it."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for sequential in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        layers = list(sequential)
        for i, (layer, following) in enumerate(zip(layers, layers[1:])):
            if isinstance(layer, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
                sequential[i] = fuse_conv_bn_eval(layer.eval(), following.eval())
                sequential[i + 1] = nn.Identity()
    return module
