"""Centroid head: one map of animal centres, the first stage of top-down models.

An animal's centre is its anchor part when that part is labeled, otherwise the mean of its
labeled points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from posenn.heads.confmaps import gaussian_maps, local_peaks


def instance_centroids(points: torch.Tensor, anchor: int | None) -> torch.Tensor:
    """Centres of `(batch, instances, nodes, 2)` instances → `(batch, instances, 2)`.

    The anchor node where it is labeled, else the mean of labeled points; NaN for empty
    instances.
    """
    labeled = ~torch.isnan(points).any(dim=-1, keepdim=True)  # (batch, instances, nodes, 1)
    count = labeled.sum(dim=-2)
    mean = torch.where(labeled, points, torch.zeros_like(points)).sum(dim=-2) / count.clamp_min(1)
    mean = torch.where(count > 0, mean, torch.full_like(mean, float("nan")))
    if anchor is None:
        return mean
    anchor_points = points[:, :, anchor]
    return torch.where(torch.isnan(anchor_points).any(dim=-1, keepdim=True), mean, anchor_points)


@dataclass(frozen=True)
class CentroidHead:
    """Encode animal centres as one map; decode its local peaks back to centres.

    Attributes:
        sigma: Gaussian spread in input pixels.
        output_stride: stride of the map relative to the network input.
        anchor: index of the anchor node, or None for the centre of the labeled points.
        max_instances: at most this many centres per frame.
        centred: the grid convention (see `posenn.heads.confmaps`); False for SLEAP's models.
        refinement: subpixel peak refinement, "parabola" or "integral" (see `peak_offsets`).
    """

    sigma: float
    output_stride: int
    anchor: int | None = None
    max_instances: int = 16
    centred: bool = True
    refinement: str = "parabola"

    @property
    def channels(self) -> int:
        return 1

    def targets(self, points: torch.Tensor) -> torch.Tensor:
        """The ground truth in this head's terms: centres as one-node instances
        `(batch, instances, 1, 2)`."""
        return instance_centroids(points, self.anchor)[:, :, None]

    def encode(self, points: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
        """`(batch, instances, nodes, 2)` → `(batch, 1, out_h, out_w)`."""
        height, width = image_shape
        return gaussian_maps(self.targets(points), height, width, self.output_stride, self.sigma, self.centred)

    def decode(self, maps: torch.Tensor, peak_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, 1, out_h, out_w)` → centres `(batch, max_instances, 1, 2)` (NaN where there
        are fewer animals) and scores `(batch, max_instances, 1)`."""
        points, scores = local_peaks(maps, self.output_stride, peak_threshold, self.max_instances, self.centred, self.refinement)
        return points[:, 0, :, None], scores[:, 0, :, None]
