"""A pose model: backbone + a 1×1 convolution to the head's output channels, any input size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posenn.config import Config
from posenn.heads.confmaps import output_size
from posenn.errors import PosennError
from posenn.heads.bottomup import BottomUpHead, GroupingOptions
from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.centroid import CentroidHead
from posenn.heads.identity import MulticlassBottomUpHead, MulticlassTopDownHead
from posenn.heads.pafs import spanning_edges
from posenn.heads.single_instance import SingleInstanceHead
from posenn.models.encoders import TimmBackbone
from posenn.models.unet import UNet


class PoseModel(nn.Module):
    """Images in, head maps out.

    Input `(batch, channels, height, width)` float in [0, 1], any size: it is padded to a
    multiple of the backbone's `pad_multiple` (its max stride, or a timm encoder's deepest) and the output cropped back to
    `(batch, head_channels, ceil(height / stride), ceil(width / stride))`.

    Two optional outputs make the result a tuple `(maps, second)`: more maps at their own stride
    (`extra_channels`: part affinity fields, class maps; `extra_sigmoid` squashes them to
    (0, 1)), or class logits `(batch, n_classes)` from the bottleneck (`classifier`).
    """

    def __init__(
        self,
        backbone: UNet | TimmBackbone,
        head_channels: int,
        extra_channels: int = 0,
        extra_stride: int | None = None,
        classifier: ClassVectors | None = None,
        extra_sigmoid: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Conv2d(backbone.out_channels, head_channels, 1)
        self.extra_stride = extra_stride or backbone.output_stride
        self.extra_head = nn.Conv2d(backbone.channels_at(self.extra_stride), extra_channels, 1) if extra_channels else None
        if self.extra_head is not None and extra_sigmoid:
            self.extra_head = nn.Sequential(self.extra_head, nn.Sigmoid())
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        height, width = images.shape[-2:]
        multiple = self.backbone.pad_multiple
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h))
        features = self.backbone.features(images)
        maps = self.crop(self.head(features[self.backbone.output_stride]), height, width, self.backbone.output_stride)
        if self.extra_head is not None:
            extra = self.extra_head(features[self.extra_stride])
            return maps, self.crop(extra, height, width, self.extra_stride)
        if self.classifier is not None:
            return maps, self.classifier(features[self.backbone.max_stride])
        return maps

    @staticmethod
    def crop(maps: torch.Tensor, height: int, width: int, stride: int) -> torch.Tensor:
        """The part of `maps` at `stride` that covers an unpadded `height` × `width` input."""
        out_h, out_w = output_size(height, width, stride)
        return maps[..., :out_h, :out_w]


class ClassVectors(nn.Module):
    """Class logits from the bottleneck features of a crop centred on an animal, pooled then
    passed through fully connected layers (ReLU between them).

    Pooling "centre" takes the average and the maximum over the central half of the map (the
    animal, little of its neighbours); "global_max" the maximum over the whole map (SLEAP's).
    With `detached` features the class loss trains these layers only, not the backbone: shared,
    its gradient outweighs the part maps' once they are nearly fit, and the poses degrade.
    """

    def __init__(
        self, in_channels: int, n_classes: int, hidden: list[int] | tuple[int, ...] = (128,), pooling: str = "centre",
        detached: bool = False,
    ):
        super().__init__()
        if pooling not in ("centre", "global_max"):
            raise ValueError(f"model.class_pooling must be 'centre' or 'global_max', got {pooling!r}.")
        self.pooling = pooling
        self.detached = detached
        widths = [2 * in_channels if pooling == "centre" else in_channels, *hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers, nn.Linear(widths[-1], n_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, h, w)` → `(batch, n_classes)`."""
        if self.detached:
            features = features.detach()
        if self.pooling == "global_max":
            return self.layers(features.amax(dim=(-2, -1)))
        height, width = features.shape[-2:]
        top, left = height // 4, width // 4
        centre = features[..., top : height - top, left : width - left]
        return self.layers(torch.cat([centre.mean(dim=(-2, -1)), centre.amax(dim=(-2, -1))], dim=1))


Head = SingleInstanceHead | CenteredInstanceHead | CentroidHead | BottomUpHead | MulticlassBottomUpHead | MulticlassTopDownHead
Outputs = torch.Tensor | tuple[torch.Tensor, ...]


def as_float(outputs: Outputs) -> Outputs:
    """Network outputs (one tensor or a tuple) as float32."""
    return tuple(o.float() for o in outputs) if isinstance(outputs, tuple) else outputs.float()


def decode_instances(head: Head, outputs: Outputs, peak_threshold: float) -> tuple[torch.Tensor, ...]:
    """Decode model outputs into points `(batch, instances, nodes, 2)`, point scores
    `(batch, instances, nodes)` and instance scores `(batch, instances)`.

    Bottom-up heads score instances by their limbs, multi-class bottom-up heads by their
    identity; the others by the mean score of the points they found.
    """
    if isinstance(head, (BottomUpHead, MulticlassBottomUpHead)):
        return head.decode(outputs, peak_threshold)
    if isinstance(head, MulticlassTopDownHead):
        points, point_scores = head.decode(outputs, peak_threshold)  # class vectors are read by `classify`
    else:
        points, point_scores = head.decode(outputs.float(), peak_threshold)
    found = ~torch.isnan(points[..., 0])
    scores = torch.where(found, point_scores, 0).sum(dim=-1) / found.sum(dim=-1).clamp_min(1)
    return points, point_scores, scores


def build_head(config: Config) -> Head:
    """The head named by `model.type`, sized from the skeleton in the config."""
    model = config.model
    nodes = config.data.skeleton.nodes
    maps = dict(
        sigma=model.sigma, output_stride=model.output_stride, centred=model.grid == "centre",
        refinement=config.inference.refinement,
    )
    if model.type == "centroid":
        return CentroidHead(anchor=anchor_index(config), max_instances=config.inference.max_instances, **maps)
    if model.type == "centered_instance":
        return CenteredInstanceHead(len(nodes), crop_size=crop_size(config), **maps)
    if model.type == "bottomup":
        return bottomup_head(config)
    if model.type == "multiclass_bottomup":
        return MulticlassBottomUpHead(
            len(nodes), n_classes(config), max_peaks=config.inference.max_instances, edges=tuple(edge_indices(config)), **maps
        )
    if model.type == "multiclass_topdown":
        return MulticlassTopDownHead(len(nodes), crop_size=crop_size(config), n_classes=n_classes(config), **maps)
    return SingleInstanceHead(len(nodes), **maps)


def forest_edge_lengths(
    config: Config, forest: list[tuple[int, int]], field: str = "max_edge_length"
) -> float | tuple[float, ...] | None:
    """`inference.<field>` (`max_edge_length` or `min_edge_length`) in input pixels: one length,
    or one per edge of `forest`.

    Raises:
        PosennError: if a list of lengths does not hold one per skeleton edge.
    """
    lengths, scale = getattr(config.inference, field), config.data.scale
    if lengths is None:
        return None
    if not isinstance(lengths, list):
        return lengths * scale
    edges = edge_indices(config)
    if len(lengths) != len(edges):
        raise PosennError(
            f"inference.{field} holds {len(lengths)} lengths; expected one per edge of data.skeleton.edges "
            f"({len(edges)}), or a single length."
        )
    per_edge = dict(zip(edges, lengths))
    return tuple(per_edge[edge] * scale for edge in forest)


def edge_indices(config: Config) -> list[tuple[int, int]]:
    """The skeleton's edges as `(source, destination)` node indices."""
    nodes = config.data.skeleton.nodes
    return [(nodes.index(source), nodes.index(destination)) for source, destination in config.data.skeleton.edges]


def anchor_index(config: Config) -> int | None:
    """Index of `model.anchor_part` in the skeleton, or None when no anchor is set."""
    nodes = config.data.skeleton.nodes
    anchor = config.model.anchor_part
    if anchor is None:
        return None
    if anchor not in nodes:
        raise PosennError(f"model.anchor_part '{anchor}' is not a node of the skeleton; expected one of {nodes}.")
    return nodes.index(anchor)


def n_classes(config: Config) -> int:
    """The number of identities in `model.classes`, which identity models require."""
    if not config.model.classes:
        raise PosennError(
            f"model.classes is empty: {config.model.type} models learn identities named as the labels' tracks "
            "(posenn config fills them in)."
        )
    return len(config.model.classes)


def crop_size(config: Config) -> int:
    """`model.crop_size`, which centered-instance models require."""
    size, stride = config.model.crop_size, config.model.backbone.max_stride
    if size is None:
        raise PosennError("model.crop_size is not set: centered_instance models need a crop size (posenn config sets it).")
    if size % stride:
        raise PosennError(f"model.crop_size {size} must be a multiple of model.backbone.max_stride ({stride}).")
    return size


def bottomup_head(config: Config) -> BottomUpHead:
    """A bottom-up head whose fields follow the skeleton's edges (a spanning forest of them)."""
    nodes = config.data.skeleton.nodes
    forest = spanning_edges(len(nodes), edge_indices(config))
    if not forest:
        raise PosennError("data.skeleton.edges is empty: bottom-up models group parts along the skeleton's edges.")
    inference = config.inference
    scale = config.data.scale
    max_edge_length = forest_edge_lengths(config, forest)
    max_hop_length = inference.max_hop_length * scale if inference.max_hop_length else None
    grouping = GroupingOptions(
        inference.max_instances, inference.min_line_score, inference.line_points, max_edge_length, inference.min_points,
        inference.min_instance_score, max_hop_length, inference.limb_peak_weight,
        forest_edge_lengths(config, forest, "min_edge_length"),
    )
    model = config.model
    paf_stride = model.paf_stride or model.output_stride
    return BottomUpHead(
        len(nodes), tuple(forest), model.sigma, model.output_stride, paf_stride, model.paf_width, grouping,
        centred=model.grid == "centre", refinement=inference.refinement,
    )


def build_model(config: Config, head: Head) -> PoseModel:
    """A `PoseModel` with the backbone described by `model.backbone` and the outputs `head` needs."""
    backbone_config = config.model.backbone
    backbone: UNet | TimmBackbone
    if backbone_config.name != "unet":
        backbone = TimmBackbone(
            backbone_config.name, config.data.channels, backbone_config.max_stride, config.model.output_stride,
            backbone_config.filters, backbone_config.filters_rate, backbone_config.convs_per_block, backbone_config.batch_norm,
        )
    else:
        backbone = UNet(
            in_channels=config.data.channels,
            filters=backbone_config.filters,
            filters_rate=backbone_config.filters_rate,
            max_stride=backbone_config.max_stride,
            output_stride=config.model.output_stride,
            convs_per_block=backbone_config.convs_per_block,
            upsampling=backbone_config.upsampling,
            batch_norm=backbone_config.batch_norm,
            kernel_size=backbone_config.kernel_size,
            middle_block=backbone_config.middle_block,
            widths=backbone_config.widths,
        )
    model = config.model
    if isinstance(head, MulticlassBottomUpHead):
        sigmoid = model.class_maps_activation == "sigmoid"
        return PoseModel(backbone, head.n_nodes, extra_channels=head.n_classes, extra_sigmoid=sigmoid)
    if isinstance(head, MulticlassTopDownHead):
        deepest = backbone.channels_at(backbone.max_stride)
        classifier = ClassVectors(deepest, head.n_classes, model.class_layers, model.class_pooling, model.class_features == "detached")
        return PoseModel(backbone, head.n_nodes, classifier=classifier)
    if isinstance(head, BottomUpHead):
        try:
            return PoseModel(backbone, head.n_nodes, extra_channels=2 * len(head.edges), extra_stride=head.paf_stride)
        except ValueError as exc:
            raise PosennError(f"model.paf_stride: {exc}") from None
    return PoseModel(backbone, head.channels)
