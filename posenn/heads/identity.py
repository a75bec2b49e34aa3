"""Identity heads: animals whose identity (marks, size, sex) the model learns from the labels'
track names, so every frame is labelled without frame-to-frame linking.

- Multi-class bottom-up: part maps plus one class map per identity (Gaussians at all parts of
  the animal with that identity). Detected parts are first grouped into animals by where they
  lie (`group_parts`: one peak per part and animal, walking the skeleton), each animal with its
  class maps averaged over all its parts as class probabilities (`decode_animals`); identities
  then go to the frame's animals by Hungarian assignment, as for top-down (or pooled along
  tracklets, `posenn.tracking.identities`). A class map read at one part is a weak vote when the
  identities differ only subtly (two flies of different sizes); giving each part the identity
  whose map is highest there scrambles parts of two animals, while the mean over an animal's
  parts names it right (benchmarks/identity.py --sets flies).
- Multi-class top-down: the centered-instance part maps plus a class vector (logits) of the
  centred animal; identities are assigned across a frame's animals by `assign_identities`.
"""

from __future__ import annotations

from collections.abc import Sequence
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


MAX_PART_COST = 4.5  # `group_parts`: a peak 3 spreads from where the part is expected (at peak value 1) is not the animal's

MIN_CLASS_VALUE = 1e-3  # `decode_animals`: floor of an animal's mean class-map value (the maps are not bounded below)

SEED_SCORE_SHARE = 0.5  # `group_parts`: parts whose peaks can seed the animals, by their weakest peak against the best

SEED_TRIALS = 3  # `group_parts`: seed parts tried; on the flies one named 0.875 right, two 0.930, three 0.950, four 0.949


def tree_order(n_nodes: int, edges: Sequence[tuple[int, int]], root: int) -> tuple[list[int], np.ndarray]:
    """Nodes in breadth-first order from `root` along the (undirected) skeleton edges, then the
    nodes it does not reach; and `(n_nodes,)` the parent of each node on that walk (-1: none)."""
    neighbours: list[list[int]] = [[] for _ in range(n_nodes)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    parents = np.full(n_nodes, -1, dtype=np.int64)
    order, seen = [root], {root}
    for node in order:
        for other in neighbours[node]:
            if other not in seen:
                seen.add(other)
                parents[other] = node
                order.append(other)
    return order + [node for node in range(n_nodes) if node not in seen], parents


def group_parts(
    peaks: np.ndarray, found: np.ndarray, scores: np.ndarray, max_animals: int,
    edges: Sequence[tuple[int, int]] = (), iterations: int = 10,
) -> np.ndarray:
    """Group one frame's part peaks into animals by position, at most one peak per part and animal.

    The number of animals `n` is the median number of peaks of the parts found (at most
    `max_animals`). The animals start at the `n` strongest peaks of a seed part: of the parts
    whose `n`-th strongest peak is at least `SEED_SCORE_SHARE` of the best such, the
    `SEED_TRIALS` whose peaks lie farthest apart (two peaks of one part on the same animal, such
    as a left leg seen as a right one, lie closer than two animals) are each tried
    (`grow_animals`), and the grouping of least total cost is kept: a stray peak far from both
    animals can make a part's peaks lie farthest apart, and from it both animals grow on one.

    Args:
        peaks: `(nodes, peaks, 2)` xy, NaN where no peak.
        found: `(nodes, peaks)` bool, the peak exists.
        scores: `(nodes, peaks)` peak values (positive).
        max_animals: at most this many animals.
        edges: skeleton edges as node index pairs; none: every part is expected at the centre.
        iterations: at most this many passes over the skeleton per seed.

    Returns:
        `(nodes, peaks)` animal index of each peak, -1 for peaks left out.
    """
    counts = found.sum(axis=-1)
    if not counts.any():
        return np.full(found.shape, -1, dtype=np.int64)
    n_animals = int(min(max_animals, np.ceil(np.median(counts[counts > 0]))))
    order = np.argsort(np.where(found, -scores, np.inf), axis=-1)  # (nodes, peaks), strongest first
    strongest = found & (np.argsort(order, axis=-1) < n_animals)
    weakest = np.where(strongest.sum(axis=-1) == n_animals, np.take_along_axis(scores, order[:, n_animals - 1 : n_animals], -1)[:, 0], -np.inf)
    confident = np.flatnonzero(weakest >= SEED_SCORE_SHARE * weakest.max())
    tops = peaks[confident[:, None], order[confident, :n_animals]]  # (confident, animals, 2)
    separation = np.linalg.norm(tops[:, :, None] - tops[:, None], axis=-1) + np.where(np.eye(n_animals, dtype=bool), np.inf, 0)
    seeds = confident[np.argsort(-separation.min(axis=(1, 2)), kind="stable")[:SEED_TRIALS]]
    trials = [grow_animals(peaks, found, scores, strongest, peaks[seed, order[seed, :n_animals]], seed, edges, iterations) for seed in seeds]
    return min(trials, key=lambda trial: trial[1])[0]


def grow_animals(
    peaks: np.ndarray, found: np.ndarray, scores: np.ndarray, strongest: np.ndarray, centres: np.ndarray, seed: int,
    edges: Sequence[tuple[int, int]], iterations: int,
) -> tuple[np.ndarray, float]:
    """`group_parts` from one seed: animals start at `(animals, 2)` `centres` (the seed part's
    strongest peaks); a first pass gives each part's `(nodes, peaks)` `strongest` peaks to the
    nearest centres. Then, until nothing changes, the parts are visited along the skeleton from
    the seed (`tree_order`) and each part's peaks go to the animals by Hungarian assignment on the
    cost `d² / 2r² - log(peak value)`: `d` is the distance to where the part is expected (the
    animal's peak of the previous part on the walk, or its centre where there is none) and `r`
    the animal's spread (root-mean-square distance of its parts from its centre). So a weak stray
    peak loses to the true part farther out, and a leg tip follows its own leg. A peak costing
    more than `MAX_PART_COST` is left out (the animal's own part was not found). Each centre and
    spread then move to those of the animal's peaks.

    Returns:
        `(nodes, peaks)` animal index of each peak (-1: left out), and the last pass's total
        cost (`MAX_PART_COST` for each part an animal lacks).
    """
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    n_animals, n_nodes = len(centres), len(found)
    groups = np.full(found.shape, -1, dtype=np.int64)
    walk, parents = tree_order(n_nodes, edges, seed)
    spreads = None  # (animals,)
    log_scores = np.log(np.maximum(scores, 1e-6))
    for _ in range(iterations):
        previous = groups.copy()
        positions = np.full((n_animals, n_nodes, 2), np.nan)  # each animal's peak of each part, as assigned
        total = 0.0
        for node in walk:
            candidates = np.flatnonzero(strongest[node] if spreads is None else found[node])
            groups[node] = -1
            if not len(candidates):
                total += MAX_PART_COST * n_animals
                continue
            expected = centres
            if spreads is not None and parents[node] >= 0:
                expected = np.where(np.isnan(positions[:, parents[node]]), centres, positions[:, parents[node]])
            cost = ((peaks[node, candidates, None] - expected[None]) ** 2).sum(axis=-1)  # (candidates, animals)
            if spreads is not None:  # with a column per peak for leaving it out, at cost MAX_PART_COST
                cost = cost / (2 * spreads**2) - log_scores[node, candidates, None]
                cost = np.concatenate([cost, np.full((len(candidates), len(candidates)), MAX_PART_COST)], axis=1)
            rows, animals = linear_sum_assignment(cost)
            kept = animals < n_animals
            total += cost[rows[kept], animals[kept]].sum() + MAX_PART_COST * (n_animals - kept.sum())
            groups[node, candidates[rows[kept]]] = animals[kept]
            positions[animals[kept], node] = peaks[node, candidates[rows[kept]]]
        members = (~np.isnan(positions[..., 0])).sum(axis=1)  # (animals,)
        centres = np.where(members[:, None] > 0, np.nansum(positions, axis=1) / np.maximum(members, 1)[:, None], centres)
        squares = np.nansum((positions - centres[:, None]) ** 2, axis=(1, 2))
        if spreads is not None and np.array_equal(groups, previous):
            break
        spreads = np.sqrt(np.maximum(squares / np.maximum(members, 1), 1.0))
    return groups, float(total)


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
        edges: skeleton edges as node index pairs, along which `group_parts` walks an animal.
    """

    n_nodes: int
    n_classes: int
    sigma: float
    output_stride: int
    max_peaks: int = 16
    centred: bool = True
    refinement: str = "parabola"
    edges: tuple[tuple[int, int], ...] = ()

    def targets(self, points: torch.Tensor) -> torch.Tensor:
        """The ground truth in this head's terms: every animal, `(batch, instances, nodes, 2)`."""
        return points

    def encode(self, points: torch.Tensor, image_shape: tuple[int, int], classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Part maps `(batch, nodes, h, w)` of all animals and class maps `(batch, classes, h, w)`."""
        height, width = image_shape
        stride, sigma, centred = self.output_stride, self.sigma, self.centred
        maps = gaussian_maps(points, height, width, stride, sigma, centred)
        return maps, class_maps(points, classes, self.n_classes, height, width, stride, sigma, centred)

    def decode_animals(
        self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Part maps and class maps → up to `n_classes` animals per frame, grouped by position
        (`group_parts`) but not yet named, and each animal's class probabilities: its class maps
        averaged over its parts (floored at `MIN_CLASS_VALUE`), normalised to sum 1.

        Returns:
            points: `(batch, classes, nodes, 2)` xy in input pixels, NaN where not found (all NaN
                in the slots beyond the frame's animals).
            point_scores: `(batch, classes, nodes)` peak values.
            class_probabilities: `(batch, classes, classes)` per animal slot (uniform where empty).
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
        evidence = np.ones((batch, self.n_classes, self.n_classes))
        for frame in range(batch):
            groups = group_parts(peaks[frame], found[frame], peak_scores[frame], self.n_classes, self.edges)
            n_groups = groups.max() + 1
            if n_groups == 0:
                continue
            assigned = groups >= 0  # (nodes, peaks)
            sums = np.zeros((n_groups, self.n_classes))
            np.add.at(sums, groups[assigned], values[frame][assigned])
            evidence[frame, :n_groups] = sums / np.maximum(np.bincount(groups[assigned], minlength=n_groups), 1)[:, None]
            node, peak = np.nonzero(assigned)
            points[frame, groups[node, peak], node] = peaks[frame, node, peak]
            point_scores[frame, groups[node, peak], node] = peak_scores[frame, node, peak]
        evidence = np.maximum(evidence, MIN_CLASS_VALUE)
        probabilities = (evidence / evidence.sum(axis=-1, keepdims=True)).astype(np.float32)
        return torch.from_numpy(points), torch.from_numpy(point_scores), torch.from_numpy(probabilities)

    def decode(self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Part maps and class maps → one instance per identity, in identity order: the animals
        of `decode_animals`, named once per frame (`assign_identities` on their class probabilities).

        Returns:
            points: `(batch, classes, nodes, 2)` xy in input pixels, NaN where not found.
            point_scores: `(batch, classes, nodes)` peak values.
            identity_scores: `(batch, classes)` the instance's probability of its identity.
        """
        animals, animal_scores, probabilities = (t.numpy() for t in self.decode_animals(outputs, peak_threshold))
        points = np.full_like(animals, np.nan)
        point_scores = np.zeros_like(animal_scores)
        identity_scores = np.zeros(animal_scores.shape[:2], np.float32)
        for frame in range(len(animals)):
            present = np.flatnonzero(~np.isnan(animals[frame, ..., 0]).all(axis=-1))
            identity = assign_identities(probabilities[frame, present])  # every animal gets one: at most n_classes
            points[frame, identity] = animals[frame, present]
            point_scores[frame, identity] = animal_scores[frame, present]
            identity_scores[frame, identity] = probabilities[frame, present, identity]
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
