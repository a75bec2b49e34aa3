"""Confidence maps: Gaussian targets on a strided grid, and their peaks with subpixel refinement.

Grid convention: output cell `j` of a map at stride `s` covers input pixels `[j*s, (j+1)*s)`, so
its centre is the input coordinate `j*s + (s-1)/2` (`centred`, posenn's). SLEAP and sleap-nn place
cell `j` at its first pixel, `j*s` (`centred=False`); models they trained are decoded that way.
Encoding and decoding both use `grid_to_input` / `input_to_grid`, so they are each other's
inverse at any stride.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def output_size(height: int, width: int, stride: int) -> tuple[int, int]:
    """Size of a map at `stride` for an input of `height` × `width`."""
    return math.ceil(height / stride), math.ceil(width / stride)


def cell_origin(stride: int, centred: bool = True) -> float:
    """Input coordinate of cell 0 of a map at `stride`: the centre of its pixels, or its first."""
    return (stride - 1) / 2 if centred else 0.0


def grid_to_input(coords: torch.Tensor, stride: int, centred: bool = True) -> torch.Tensor:
    """Map grid coordinates (cell units) to input pixel coordinates."""
    return coords * stride + cell_origin(stride, centred)


def input_to_grid(coords: torch.Tensor, stride: int, centred: bool = True) -> torch.Tensor:
    """Map input pixel coordinates to grid coordinates (cell units)."""
    return (coords - cell_origin(stride, centred)) / stride


def sampling_grid(coords: torch.Tensor, stride: int, height: int, width: int, centred: bool = True) -> torch.Tensor:
    """Input pixel coordinates `(..., 2)` → `grid_sample` coordinates (align_corners=True) on a
    map of `height` × `width` cells at `stride`."""
    size = torch.tensor([max(width - 1, 1), max(height - 1, 1)], device=coords.device, dtype=coords.dtype)
    return 2 * input_to_grid(coords, stride, centred) / size - 1


def gaussian_maps(
    points: torch.Tensor, height: int, width: int, stride: int, sigma: float, centred: bool = True
) -> torch.Tensor:
    """Render one unit-peak Gaussian per point; the maximum where instances overlap.

    Args:
        points: `(batch, instances, nodes, 2)` xy in input pixels; NaN points draw nothing.
        height, width: input size in pixels.
        stride: output stride of the maps.
        sigma: Gaussian standard deviation in input pixels.
        centred: the grid convention (see the module docstring).

    Returns:
        `(batch, nodes, out_height, out_width)` maps with values in [0, 1].
    """
    out_h, out_w = output_size(height, width, stride)
    device, dtype = points.device, torch.float32
    xs = grid_to_input(torch.arange(out_w, device=device, dtype=dtype), stride, centred)
    ys = grid_to_input(torch.arange(out_h, device=device, dtype=dtype), stride, centred)
    px = points[..., 0, None].to(dtype)  # (batch, instances, nodes, 1)
    py = points[..., 1, None].to(dtype)
    gx = torch.exp(-((xs - px) ** 2) / (2 * sigma**2))  # (batch, instances, nodes, out_w)
    gy = torch.exp(-((ys - py) ** 2) / (2 * sigma**2))  # (batch, instances, nodes, out_h)
    maps = gy[..., :, None] * gx[..., None, :]  # (batch, instances, nodes, out_h, out_w)
    maps = torch.nan_to_num(maps, nan=0.0)
    if maps.shape[1] == 0:
        return maps.new_zeros(points.shape[0], points.shape[2], out_h, out_w)
    return maps.amax(dim=1)


# Side of the patch around a peak that integral refinement averages over (SLEAP's default).
INTEGRAL_PATCH = 5


def integral_offsets(maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, patch: int = INTEGRAL_PATCH) -> torch.Tensor:
    """Subpixel offsets of peaks as the value-weighted mean position of the `patch` × `patch`
    cells around them (SLEAP's "integral" refinement); cells outside the map weigh nothing.

    Args:
        maps: `(..., height, width)` maps.
        rows, cols: `(..., peaks)` integer peak positions (long) in each map.

    Returns:
        `(..., peaks, 2)` xy offsets in cells.
    """
    height, width = maps.shape[-2:]
    flat = maps.flatten(-2)
    steps = torch.arange(patch, device=maps.device) - patch // 2
    dy, dx = (grid.flatten() for grid in torch.meshgrid(steps, steps, indexing="ij"))  # (patch²,)
    r, c = rows[..., None] + dy, cols[..., None] + dx  # (..., peaks, patch²)
    inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
    index = (r.clamp(0, height - 1) * width + c.clamp(0, width - 1)).flatten(-2)
    values = flat.gather(-1, index).reshape(r.shape)
    weights = torch.where(inside, values, torch.zeros_like(values))
    total = weights.sum(dim=-1, keepdim=True)
    usable = total > 1e-12
    mean = torch.stack([(weights * dx).sum(dim=-1), (weights * dy).sum(dim=-1)], dim=-1) / torch.where(usable, total, 1.0)
    return torch.where(usable, mean, torch.zeros_like(mean))


def peak_offsets(maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, refinement: str) -> torch.Tensor:
    """Subpixel offsets `(..., peaks, 2)` by `refinement`: "parabola" (`refine_offsets`, posenn's)
    or "integral" (`integral_offsets`, SLEAP's)."""
    if refinement == "integral":
        return integral_offsets(maps, rows, cols)
    return refine_offsets(maps, rows, cols)


def refine_offsets(maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Subpixel offsets of peaks by a parabola through the log of the 3 values along each axis.

    A sampled Gaussian is a parabola in log space, so this recovers its centre exactly; offsets
    are clamped to half a cell for noisy network outputs.

    Args:
        maps: `(..., height, width)` maps.
        rows, cols: `(..., peaks)` integer peak positions (long) in each map.

    Returns:
        `(..., peaks, 2)` xy offsets in cells, in [-0.5, 0.5].
    """
    height, width = maps.shape[-2:]
    flat = maps.flatten(-2)  # (..., height * width)

    def value(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        index = r.clamp(0, height - 1) * width + c.clamp(0, width - 1)
        return torch.log(flat.gather(-1, index).clamp_min(1e-6))

    def axis_offset(before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curvature = before - 2 * centre + after
        curved = curvature < -1e-6
        offset = 0.5 * (before - after) / torch.where(curved, curvature, -torch.ones_like(curvature))
        return torch.where(curved, offset, torch.zeros_like(offset)).clamp(-0.5, 0.5)

    centre = value(rows, cols)
    dx = axis_offset(value(rows, cols - 1), centre, value(rows, cols + 1))
    dy = axis_offset(value(rows - 1, cols), centre, value(rows + 1, cols))
    # A neighbour outside the map carries no information: no refinement along that axis.
    dx = torch.where((cols > 0) & (cols < width - 1), dx, torch.zeros_like(dx))
    dy = torch.where((rows > 0) & (rows < height - 1), dy, torch.zeros_like(dy))
    return torch.stack([dx, dy], dim=-1)


def global_peaks(
    maps: torch.Tensor, stride: int, threshold: float, centred: bool = True, refinement: str = "parabola"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The highest point of each map, refined to subpixel precision.

    Args:
        maps: `(batch, nodes, height, width)` confidence maps.
        stride: output stride of the maps.
        threshold: peaks below this value are reported missing.

    Returns:
        points: `(batch, nodes, 2)` xy in input pixels, NaN where the peak is below threshold.
        scores: `(batch, nodes)` peak values.
    """
    width = maps.shape[-1]
    scores, flat_index = maps.flatten(-2).max(dim=-1)
    rows, cols = flat_index // width, flat_index % width
    offsets = peak_offsets(maps, rows[..., None], cols[..., None], refinement)[..., 0, :]
    grid = torch.stack([cols, rows], dim=-1).to(maps.dtype) + offsets
    points = grid_to_input(grid, stride, centred)
    missing = (scores < threshold)[..., None]
    return torch.where(missing, torch.full_like(points, float("nan")), points), scores


def local_peaks(
    maps: torch.Tensor, stride: int, threshold: float, max_peaks: int, centred: bool = True, refinement: str = "parabola"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The highest local maxima of each map (3×3 non-maximum suppression), refined to subpixel.

    Args:
        maps: `(batch, channels, height, width)` confidence maps.
        stride: output stride of the maps.
        threshold: peaks below this value are dropped.
        max_peaks: at most this many peaks per map, highest first.

    Returns:
        points: `(batch, channels, max_peaks, 2)` xy in input pixels, NaN past the last peak.
        scores: `(batch, channels, max_peaks)` peak values, 0 past the last peak.
    """
    width = maps.shape[-1]
    pooled = F.max_pool2d(maps, 3, stride=1, padding=1)
    is_peak = (maps == pooled) & (maps >= threshold)
    candidates = torch.where(is_peak, maps, torch.full_like(maps, -1.0)).flatten(-2)
    k = min(max_peaks, candidates.shape[-1])
    scores, flat_index = candidates.topk(k, dim=-1)  # (batch, channels, k)
    rows, cols = flat_index // width, flat_index % width
    offsets = peak_offsets(maps, rows, cols, refinement)
    points = grid_to_input(torch.stack([cols, rows], dim=-1).to(maps.dtype) + offsets, stride, centred)
    found = scores >= threshold
    points = torch.where(found[..., None], points, torch.full_like(points, float("nan")))
    scores = torch.where(found, scores, torch.zeros_like(scores))
    missing = max_peaks - k  # maps with fewer cells than max_peaks
    return F.pad(points, (0, 0, 0, missing), value=float("nan")), F.pad(scores, (0, missing))
