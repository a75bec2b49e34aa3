"""Confidence maps: Gaussian rendering on a strided grid, subpixel peak refinement, thresholds."""

import math

import numpy as np
import pytest
import torch

from posenn.heads.confmaps import (
    gaussian_maps,
    global_peaks,
    grid_to_input,
    input_to_grid,
    output_size,
    refine_offsets,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_grid_convention(stride):
    # Cell j covers input pixels [j*s, (j+1)*s): its centre is j*s + (s-1)/2.
    assert float(grid_to_input(torch.tensor(0.0), stride)) == (stride - 1) / 2
    assert float(grid_to_input(torch.tensor(3.0), stride)) == 3 * stride + (stride - 1) / 2
    x = torch.linspace(-3, 50, 17)
    torch.testing.assert_close(grid_to_input(input_to_grid(x, stride), stride), x)
    assert output_size(45, 30, stride) == (math.ceil(45 / stride), math.ceil(30 / stride))


def test_gaussian_maps_values_at_stride_1():
    points = torch.tensor([[[[3.0, 2.0], [np.nan, np.nan]]]])
    maps = gaussian_maps(points, 5, 7, 1, sigma=1.5)
    assert maps.shape == (1, 2, 5, 7)
    ys, xs = torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing="ij")
    expected = torch.exp(-((xs - 3) ** 2 + (ys - 2) ** 2) / (2 * 1.5**2))
    torch.testing.assert_close(maps[0, 0], expected)
    assert maps[0, 0, 2, 3] == 1.0
    assert (maps[0, 1] == 0).all()  # NaN draws nothing


@pytest.mark.parametrize("stride", [2, 4])
def test_gaussian_maps_sampled_at_cell_centres(stride):
    point = torch.tensor([[[[10.3, 7.7]]]])
    maps = gaussian_maps(point, 23, 29, stride, sigma=3.0)
    out_h, out_w = output_size(23, 29, stride)
    assert maps.shape == (1, 1, out_h, out_w)
    xs = torch.arange(out_w) * stride + (stride - 1) / 2
    ys = torch.arange(out_h) * stride + (stride - 1) / 2
    expected = torch.exp(-((xs[None] - 10.3) ** 2 + (ys[:, None] - 7.7) ** 2) / 18.0)
    torch.testing.assert_close(maps[0, 0], expected)


def test_gaussian_maps_max_over_instances():
    a = torch.tensor([[4.0, 4.0], [1.0, 1.0]])
    b = torch.tensor([[7.0, 5.0], [np.nan, np.nan]])
    both = gaussian_maps(torch.stack([a, b])[None], 12, 12, 1, 2.0)
    only_a = gaussian_maps(a[None, None], 12, 12, 1, 2.0)
    only_b = gaussian_maps(b[None, None], 12, 12, 1, 2.0)
    torch.testing.assert_close(both, torch.maximum(only_a, only_b))
    assert both.shape == (1, 2, 12, 12)
    assert both.max() <= 1.0 and both.min() >= 0.0
    # Overlapping Gaussians are not summed: the value stays ≤ 1 between them.
    assert both[0, 0, 4:6, 4:8].max() <= 1.0


def test_gaussian_maps_with_no_instances():
    maps = gaussian_maps(torch.zeros(2, 0, 3, 2), 10, 14, 2, 2.0)
    assert maps.shape == (2, 3, 5, 7)
    assert (maps == 0).all()


@pytest.mark.parametrize("seed", range(10))
def test_refine_offsets_exact_on_sampled_gaussian(seed):
    rng = np.random.default_rng(seed)
    height, width = 15, 19
    cx, cy = rng.uniform(3, width - 4), rng.uniform(3, height - 4)
    sigma = rng.uniform(1.0, 3.0)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    maps = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))[None]
    row, col = torch.tensor([round(cy)]), torch.tensor([round(cx)])
    offsets = refine_offsets(maps[0], row, col)
    assert offsets.shape == (1, 2)
    np.testing.assert_allclose(offsets[0].numpy(), [cx - round(cx), cy - round(cy)], atol=1e-6)


def test_refine_offsets_batched_shapes_and_edges():
    maps = torch.rand(2, 3, 6, 8, generator=torch.Generator().manual_seed(0))
    rows = torch.tensor([[0, 2, 5], [1, 3, 4]])
    cols = torch.tensor([[3, 0, 7], [1, 4, 6]])
    offsets = refine_offsets(maps, rows[..., None], cols[..., None])[..., 0, :]
    assert offsets.shape == (2, 3, 2)
    assert offsets.abs().max() <= 0.5
    assert offsets[0, 0, 1] == 0  # peak on the top row: no vertical refinement
    assert offsets[0, 1, 0] == 0  # peak on the left column: no horizontal refinement
    assert offsets[0, 2, 0] == 0 and offsets[0, 2, 1] == 0  # bottom-right corner


def test_refine_offsets_flat_map_gives_zero():
    maps = torch.full((5, 5), 0.7)
    offsets = refine_offsets(maps, torch.tensor([2]), torch.tensor([2]))
    assert (offsets == 0).all()


def test_global_peaks_threshold_and_scores():
    maps = torch.zeros(1, 3, 8, 8)
    maps[0, 0, 2, 5] = 0.9
    maps[0, 1, 6, 1] = 0.3
    # channel 2 stays empty
    points, scores = global_peaks(maps, stride=2, threshold=0.4)
    assert points.shape == (1, 3, 2) and scores.shape == (1, 3)
    torch.testing.assert_close(scores, torch.tensor([[0.9, 0.3, 0.0]]))
    # Single-cell peaks have no curvature information: no offset; cell (row 2, col 5) at stride 2.
    torch.testing.assert_close(points[0, 0], torch.tensor([5 * 2 + 0.5, 2 * 2 + 0.5]))
    assert torch.isnan(points[0, 1]).all() and torch.isnan(points[0, 2]).all()
    points, _ = global_peaks(maps, stride=2, threshold=0.3)  # at the threshold: kept
    torch.testing.assert_close(points[0, 1], torch.tensor([1 * 2 + 0.5, 6 * 2 + 0.5]))
    points, _ = global_peaks(maps, stride=2, threshold=0.0)
    assert not torch.isnan(points[0, 2]).any()  # a zero threshold keeps everything


def test_global_peaks_subpixel_on_rendered_map():
    point = torch.tensor([[[[13.37, 9.81]]]])
    maps = gaussian_maps(point, 32, 40, 4, sigma=5.0)
    points, scores = global_peaks(maps, 4, 0.2)
    torch.testing.assert_close(points[0, 0], point[0, 0, 0], atol=1e-3, rtol=0)
    assert 0.9 < scores[0, 0] <= 1.0
