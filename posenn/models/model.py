"""A pose model: backbone + a 1×1 convolution to the head's output channels, any input size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posenn.config import Config
from posenn.heads.confmaps import output_size
from posenn.errors import PosennError
from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.centroid import CentroidHead
from posenn.heads.single_instance import SingleInstanceHead
from posenn.models.unet import UNet


class PoseModel(nn.Module):
    """Images in, head maps out.

    Input `(batch, channels, height, width)` float in [0, 1], any size: it is padded to a
    multiple of the backbone's max stride and the output cropped back to
    `(batch, head_channels, ceil(height / stride), ceil(width / stride))`.
    """

    def __init__(self, backbone: UNet, head_channels: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Conv2d(backbone.out_channels, head_channels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        multiple = self.backbone.max_stride
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h))
        maps = self.head(self.backbone(images))
        out_h, out_w = output_size(height, width, self.backbone.output_stride)
        return maps[..., :out_h, :out_w]


Head = SingleInstanceHead | CenteredInstanceHead | CentroidHead


def build_head(config: Config) -> Head:
    """The head named by `model.type`, sized from the skeleton in the config."""
    model = config.model
    nodes = config.data.skeleton.nodes
    if model.type == "centroid":
        return CentroidHead(model.sigma, model.output_stride, anchor_index(config), config.inference.max_instances)
    if model.type == "centered_instance":
        return CenteredInstanceHead(len(nodes), model.sigma, model.output_stride, crop_size(config))
    return SingleInstanceHead(len(nodes), model.sigma, model.output_stride)


def anchor_index(config: Config) -> int | None:
    """Index of `model.anchor_part` in the skeleton, or None when no anchor is set."""
    nodes = config.data.skeleton.nodes
    anchor = config.model.anchor_part
    if anchor is None:
        return None
    if anchor not in nodes:
        raise PosennError(f"model.anchor_part '{anchor}' is not a node of the skeleton; expected one of {nodes}.")
    return nodes.index(anchor)


def crop_size(config: Config) -> int:
    """`model.crop_size`, which centered-instance models require."""
    size, stride = config.model.crop_size, config.model.backbone.max_stride
    if size is None:
        raise PosennError("model.crop_size is not set: centered_instance models need a crop size (posenn config sets it).")
    if size % stride:
        raise PosennError(f"model.crop_size {size} must be a multiple of model.backbone.max_stride ({stride}).")
    return size


def build_model(config: Config, head_channels: int) -> PoseModel:
    """A `PoseModel` with the backbone described by `model.backbone`."""
    backbone_config = config.model.backbone
    backbone = UNet(
        in_channels=config.data.channels,
        filters=backbone_config.filters,
        filters_rate=backbone_config.filters_rate,
        max_stride=backbone_config.max_stride,
        output_stride=config.model.output_stride,
        convs_per_block=backbone_config.convs_per_block,
        upsampling=backbone_config.upsampling,
        batch_norm=backbone_config.batch_norm,
    )
    return PoseModel(backbone, head_channels)
