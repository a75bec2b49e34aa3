"""Part affinity fields: for every limb, unit vectors along it within a band, and the line
integral that scores a candidate limb between two detected parts.

A field has 2 channels per edge, `(x, y)`, ordered as the edges: `(batch, 2 * edges, h, w)`.
Grid cells follow the convention of `confmaps` (cell `j` centred on input pixel `j*s + (s-1)/2`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from posenn.heads.confmaps import grid_to_input, output_size, sampling_grid


def spanning_edges(n_nodes: int, edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The skeleton's edges without those that close a cycle (a spanning forest).

    Grouping links parts along edges; on a forest every instance holds each part at most once.
    """
    parent = list(range(n_nodes))

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    kept = []
    for source, destination in edges:
        a, b = root(source), root(destination)
        if a != b:
            parent[a] = b
            kept.append((source, destination))
    return kept


def part_affinity_fields(
    points: torch.Tensor,
    edges: list[tuple[int, int]],
    height: int,
    width: int,
    stride: int,
    band_width: float,
    centred: bool = True,
) -> torch.Tensor:
    """Render the fields of all instances; where instances' bands overlap, their mean.

    Args:
        points: `(batch, instances, nodes, 2)` xy in input pixels; NaN for unlabeled parts.
        edges: `(source, destination)` node indices.
        height, width: input size in pixels.
        stride: output stride of the fields.
        band_width: width of the band around each limb, in input pixels; the band also
            reaches `band_width / 2` beyond both ends.
        centred: the grid convention (see `posenn.heads.confmaps`).

    Returns:
        `(batch, 2 * edges, out_h, out_w)` fields, unit vectors inside bands and 0 elsewhere.
    """
    out_h, out_w = output_size(height, width, stride)
    batch = points.shape[0]
    if not edges or points.shape[1] == 0:
        return points.new_zeros(batch, 2 * len(edges), out_h, out_w, dtype=torch.float32)
    points = points.float()
    sources = torch.tensor([s for s, _ in edges], device=points.device)
    destinations = torch.tensor([d for _, d in edges], device=points.device)
    start, end = points[:, :, sources], points[:, :, destinations]  # (batch, instances, edges, 2)
    vector = end - start
    length = vector.norm(dim=-1)  # (batch, instances, edges)
    valid = torch.isfinite(length) & (length > 0)
    unit = torch.where(valid[..., None], vector / length.clamp_min(1e-6)[..., None], torch.zeros_like(vector))
    start = torch.nan_to_num(start)

    xs = grid_to_input(torch.arange(out_w, device=points.device, dtype=torch.float32), stride, centred)
    ys = grid_to_input(torch.arange(out_h, device=points.device, dtype=torch.float32), stride, centred)
    dx = xs - start[..., 0, None]  # (batch, instances, edges, out_w)
    dy = ys - start[..., 1, None]  # (batch, instances, edges, out_h)
    ux, uy = unit[..., 0, None, None], unit[..., 1, None, None]
    along = dx[..., None, :] * ux + dy[..., :, None] * uy  # (batch, instances, edges, out_h, out_w)
    across = dx[..., None, :] * uy - dy[..., :, None] * ux
    half = band_width / 2
    limb_length = torch.nan_to_num(length)[..., None, None]
    inside = (along >= -half) & (along <= limb_length + half) & (across.abs() <= half) & valid[..., None, None]

    inside = inside.float()
    count = inside.sum(dim=1).clamp_min(1)  # (batch, edges, out_h, out_w)
    field_x = (inside * ux).sum(dim=1) / count
    field_y = (inside * uy).sum(dim=1) / count
    return torch.stack([field_x, field_y], dim=2).reshape(batch, 2 * len(edges), out_h, out_w)


def line_scores(
    fields: torch.Tensor,
    stride: int,
    sources: torch.Tensor,
    destinations: torch.Tensor,
    n_points: int,
    max_length: float | Sequence[float] | None,
    centred: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every candidate limb between source and destination peaks of each edge.

    The field is sampled (bilinearly) at `n_points` evenly spaced points from the source to the
    destination and projected on the limb's direction; the score is the mean projection, minus a
    penalty `1 - max_length / length` for limbs longer than `max_length`.

    Args:
        fields: `(batch, 2 * edges, h, w)` part affinity fields.
        stride: output stride of the fields.
        sources: `(batch, edges, peaks, 2)` candidate source parts, xy in input pixels (NaN-free).
        destinations: `(batch, edges, peaks, 2)` candidate destination parts.
        n_points: samples along each candidate limb.
        max_length: longest limb without a penalty (input pixels): one for all edges, or one per
            edge; None for no penalty.
        centred: the grid convention of the fields (see `posenn.heads.confmaps`).

    Returns:
        scores: `(batch, edges, peaks, peaks)` penalised mean projection, [source, destination].
        support: `(batch, edges, peaks, peaks)` fraction of samples whose projection is positive
            and at least half the mean: how evenly the field supports the limb.
    """
    batch, channels, height, width = fields.shape
    edges, peaks = sources.shape[1], sources.shape[2]
    vector = destinations[:, :, None, :, :] - sources[:, :, :, None, :]  # (batch, edges, peaks, peaks, 2)
    length = vector.norm(dim=-1)
    unit = vector / length.clamp_min(1e-6)[..., None]
    steps = torch.linspace(0, 1, n_points, device=fields.device, dtype=fields.dtype)
    samples = sources[:, :, :, None, None, :] + steps[:, None] * vector[..., None, :]  # (..., n_points, 2)

    grid = sampling_grid(samples, stride, height, width, centred).reshape(batch * edges, peaks * peaks, n_points, 2)
    sampled = F.grid_sample(fields.reshape(batch * edges, 2, height, width), grid, align_corners=True)
    sampled = sampled.reshape(batch, edges, 2, peaks, peaks, n_points)
    projection = sampled[:, :, 0] * unit[..., 0, None] + sampled[:, :, 1] * unit[..., 1, None]

    mean = projection.mean(dim=-1)  # (batch, edges, peaks, peaks)
    support = ((projection > 0) & (projection >= 0.5 * mean[..., None])).float().mean(dim=-1)
    if max_length is not None:
        mean = mean + (per_edge(max_length, mean) / length.clamp_min(1e-6) - 1).clamp(max=0)
    return mean, support


def short_limb_penalty(sources: torch.Tensor, destinations: torch.Tensor, min_length: float | Sequence[float]) -> torch.Tensor:
    """`(batch, edges, peaks, peaks)` penalty `length / min_length - 1` (negative) of candidate limbs
    shorter than `min_length` (one length or one per edge, input pixels), 0 for the others.

    A short limb samples the field only near its source, where the field points along the edge
    whatever the destination: a stray peak beside the source (a leg tip's peak on the joint before
    it) scores along it as well as the true part, and only its length tells them apart.

    Args:
        sources, destinations: `(batch, edges, peaks, 2)` candidate parts, as in `line_scores`.
    """
    length = (destinations[:, :, None, :, :] - sources[:, :, :, None, :]).norm(dim=-1)
    return (length / per_edge(min_length, length) - 1).clamp(max=0)


def per_edge(lengths: float | Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """One length or one per edge, shaped to broadcast against `like` `(batch, edges, peaks, peaks)`."""
    lengths = torch.as_tensor(lengths, dtype=like.dtype, device=like.device)
    return lengths.reshape(1, -1, 1, 1) if lengths.ndim else lengths
