"""Identity heads: animals whose identity (marks, size, sex) the model learns from the labels'
track names, so every frame is labelled without frame-to-frame linking.

- Multi-class bottom-up: part maps plus one class map per identity (Gaussians at all parts of
  the animal with that identity); each detected part goes to the identity whose class map is
  highest there, one part per identity (Hungarian per frame and part on peak value × class
  value).
- Multi-class top-down: the centered-instance part maps plus a class vector (logits) of the
  centred animal; identities are assigned across a frame's animals by `assign_identities`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.confmaps import gaussian_maps, local_peaks, sampling_grid


def class_maps(
    points: torch.Tensor,
    classes: torch.Tensor,
    n_classes: int,
    height: int,
    width: int,
    stride: int,
    sigma: float,
    centred: bool = True,
) -> torch.Tensor:
    """One map per identity with a Gaussian at every part of the animals of that identity.

    Args:
        points: `(batch, instances, nodes, 2)` xy in input pixels, NaN for unlabeled parts.
        classes: `(batch, instances)` identity index of each instance, -1 for none.

    Returns:
        `(batch, n_classes, out_h, out_w)` maps in [0, 1].
    """
    batch, instances, nodes, _ = points.shape
    identity = torch.arange(n_classes, device=points.device)
    mine = classes[:, None, :, None, None] == identity[None, :, None, None, None]  # (batch, classes, instances, 1, 1)
    per_class = torch.where(mine, points[:, None], torch.full_like(points[:, None], float("nan")))
    per_class = per_class.reshape(batch, n_classes, instances * nodes, 2).transpose(1, 2)  # (batch, parts, classes, 2)
    return gaussian_maps(per_class, height, width, stride, sigma, centred)


def sample_maps(maps: torch.Tensor, points: torch.Tensor, stride: int, centred: bool = True) -> torch.Tensor:
    """Bilinear values of `(batch, channels, h, w)` maps at `(batch, n, 2)` input-pixel points →
    `(batch, n, channels)`; NaN points read 0."""
    height, width = maps.shape[-2:]
    grid = sampling_grid(torch.nan_to_num(points, nan=-1e4), stride, height, width, centred)[:, :, None, :]  # (batch, n, 1, 2)
    return F.grid_sample(maps, grid, align_corners=True, padding_mode="zeros")[..., 0].transpose(1, 2)


def assign_identities(probabilities: np.ndarray, min_probability: float = 0.0) -> np.ndarray:
    """Give each row (an animal or a part) at most one identity and each identity at most one
    row, maximising the total probability (Hungarian).

    Args:
        probabilities: `(rows, classes)`.
        min_probability: assignments below this are dropped.

    Returns:
        `(rows,)` identity index of each row, -1 for none.
    """
    identities = np.full(len(probabilities), -1, dtype=np.int64)
    if probabilities.size == 0:
        return identities
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    rows, columns = linear_sum_assignment(probabilities, maximize=True)
    keep = probabilities[rows, columns] >= min_probability
    identities[rows[keep]] = columns[keep]
    return identities


@dataclass(frozen=True)
class MulticlassBottomUpHead:
    """Part maps and one class map per identity; decoded into one instance per identity.

    Attributes:
        n_nodes: number of body parts.
        n_classes: number of identities.
        sigma: Gaussian spread of both kinds of map, input pixels.
        output_stride: stride of both kinds of map.
        max_peaks: candidate peaks per part.
        centred: the grid convention (see `posenn.heads.confmaps`); False for SLEAP's models.
        refinement: subpixel peak refinement, "parabola" or "integral" (see `peak_offsets`).
    """

    n_nodes: int
    n_classes: int
    sigma: float
    output_stride: int
    max_peaks: int = 16
    centred: bool = True
    refinement: str = "parabola"

    def targets(self, points: torch.Tensor) -> torch.Tensor:
        """The ground truth in this head's terms: every animal, `(batch, instances, nodes, 2)`."""
        return points

    def encode(self, points: torch.Tensor, image_shape: tuple[int, int], classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Part maps `(batch, nodes, h, w)` of all animals and class maps `(batch, classes, h, w)`."""
        height, width = image_shape
        stride, sigma, centred = self.output_stride, self.sigma, self.centred
        maps = gaussian_maps(points, height, width, stride, sigma, centred)
        return maps, class_maps(points, classes, self.n_classes, height, width, stride, sigma, centred)

    def decode(self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Part maps and class maps → one instance per identity, in identity order.

        Returns:
            points: `(batch, classes, nodes, 2)` xy in input pixels, NaN where not found.
            point_scores: `(batch, classes, nodes)` peak values.
            identity_scores: `(batch, classes)` mean class-map value at the instance's parts.
        """
        maps, identity_maps = (output.detach().float() for output in outputs)
        batch, nodes = maps.shape[:2]
        peaks, peak_scores = local_peaks(
            maps, self.output_stride, peak_threshold, self.max_peaks, self.centred, self.refinement
        )
        values = sample_maps(identity_maps, peaks.reshape(batch, -1, 2), self.output_stride, self.centred)
        values = values.reshape(batch, nodes, self.max_peaks, self.n_classes).cpu().numpy()
        peaks, peak_scores = peaks.cpu().numpy(), peak_scores.cpu().numpy()
        found = ~np.isnan(peaks[..., 0])

        points = np.full((batch, self.n_classes, nodes, 2), np.nan, np.float32)
        point_scores = np.zeros((batch, self.n_classes, nodes), np.float32)
        identity_values = np.zeros((batch, self.n_classes, nodes), np.float32)
        # A part's claim on an identity: its peak value times the identity's class map there, so a
        # weak stray peak on another part of the same animal does not win over the true part.
        claims = values * peak_scores[..., None]  # (batch, nodes, peaks, classes)
        for frame, node in np.argwhere(found.any(axis=-1)):
            candidates = np.flatnonzero(found[frame, node])
            identities = assign_identities(claims[frame, node, candidates], min_probability=peak_threshold)
            assigned = identities >= 0
            peak, identity = candidates[assigned], identities[assigned]
            points[frame, identity, node] = peaks[frame, node, peak]
            point_scores[frame, identity, node] = peak_scores[frame, node, peak]
            identity_values[frame, identity, node] = values[frame, node, peak, identity]
        n_found = (~np.isnan(points[..., 0])).sum(axis=-1)
        identity_scores = (identity_values.sum(axis=-1) / np.maximum(n_found, 1)).astype(np.float32)
        return torch.from_numpy(points), torch.from_numpy(point_scores), torch.from_numpy(identity_scores)


@dataclass(frozen=True)
class MulticlassTopDownHead(CenteredInstanceHead):
    """Centered-instance part maps plus the identity of the centred animal.

    Attributes (besides the centered-instance head's):
        n_classes: number of identities.
    """

    n_classes: int = 2

    def encode(self, points: torch.Tensor, image_shape: tuple[int, int], classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Part maps `(batch, nodes, h, w)` of the centred animal and its identity `(batch,)`
        (-1 when unknown)."""
        return super().encode(points, image_shape), classes[:, 0]

    def decode(self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The centred animal's parts, as the centered-instance head decodes them."""
        return super().decode(outputs[0].float(), peak_threshold)

    @staticmethod
    def classify(outputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Identity probabilities `(batch, classes)` of the centred animals."""
        return outputs[1].float().softmax(dim=-1)
