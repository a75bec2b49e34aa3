"""Single-instance head: one confidence map per body part over the whole frame."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from posenn.heads.confmaps import gaussian_maps, global_peaks


@dataclass(frozen=True)
class SingleInstanceHead:
    """Encode one animal's keypoints as part maps; decode maps back to keypoints.

    Attributes:
        n_nodes: number of body parts (output channels).
        sigma: Gaussian spread in input pixels.
        output_stride: stride of the maps relative to the network input.
        centred: the grid convention (see `posenn.heads.confmaps`); False for SLEAP's models.
        refinement: subpixel peak refinement, "parabola" or "integral" (see `peak_offsets`).
    """

    n_nodes: int
    sigma: float
    output_stride: int
    centred: bool = True
    refinement: str = "parabola"

    @property
    def channels(self) -> int:
        return self.n_nodes

    def targets(self, points: torch.Tensor) -> torch.Tensor:
        """The ground truth in this head's terms: the animal, `(batch, 1, nodes, 2)`."""
        return points[:, :1]

    def encode(self, points: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
        """`(batch, instances, nodes, 2)` → `(batch, nodes, out_h, out_w)`; only the first
        instance of each frame is the animal."""
        height, width = image_shape
        return gaussian_maps(self.targets(points), height, width, self.output_stride, self.sigma, self.centred)

    def decode(self, maps: torch.Tensor, peak_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, nodes, out_h, out_w)` → points `(batch, 1, nodes, 2)` in input pixels (NaN
        when below `peak_threshold`) and point scores `(batch, 1, nodes)`."""
        points, scores = global_peaks(maps, self.output_stride, peak_threshold, self.centred, self.refinement)
        return points[:, None], scores[:, None]
