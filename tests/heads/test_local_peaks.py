"""`local_peaks`: 3×3 non-maximum suppression, threshold, ordering, subpixel refinement, shapes."""

import math

import numpy as np
import pytest
import torch

from posenn.heads.confmaps import gaussian_maps, grid_to_input, local_peaks

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def found(points: torch.Tensor) -> torch.Tensor:
    return ~torch.isnan(points[..., 0])


def spikes(height: int, width: int, cells: dict[tuple[int, int], float]) -> torch.Tensor:
    """`(1, 1, height, width)` zero map with the given `(row, col): value` cells."""
    maps = torch.zeros(1, 1, height, width)
    for (row, col), value in cells.items():
        maps[0, 0, row, col] = value
    return maps


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_isolated_spikes_come_back_at_cell_centres(stride):
    """A lone spike has no curvature information beyond its cell: the cell centre, in input px."""
    maps = spikes(10, 12, {(2, 3): 0.9, (7, 9): 0.6})
    points, scores = local_peaks(maps, stride, 0.2, 4)
    assert points.shape == (1, 1, 4, 2) and scores.shape == (1, 1, 4)
    expected = grid_to_input(torch.tensor([[3.0, 2.0], [9.0, 7.0]]), stride)
    torch.testing.assert_close(points[0, 0, :2], expected)
    torch.testing.assert_close(scores[0, 0], torch.tensor([0.9, 0.6, 0.0, 0.0]))
    assert torch.isnan(points[0, 0, 2:]).all()


def test_threshold_is_inclusive():
    maps = spikes(8, 8, {(1, 1): 0.5, (5, 5): 0.49999, (1, 6): 0.7})
    points, scores = local_peaks(maps, 1, 0.5, 5)
    assert found(points)[0, 0].tolist() == [True, True, False, False, False]
    torch.testing.assert_close(points[0, 0, :2], torch.tensor([[6.0, 1.0], [1.0, 1.0]]))
    torch.testing.assert_close(scores[0, 0], torch.tensor([0.7, 0.5, 0.0, 0.0, 0.0]))
    # Above every peak: nothing.
    points, scores = local_peaks(maps, 1, 0.71, 5)
    assert torch.isnan(points).all() and (scores == 0).all()


def test_zero_map_has_no_peaks_above_a_positive_threshold():
    points, scores = local_peaks(torch.zeros(2, 3, 9, 7), 2, 1e-6, 4)
    assert points.shape == (2, 3, 4, 2)
    assert torch.isnan(points).all() and (scores == 0).all()


def test_nms_neighbourhood_is_3x3():
    """A lower cell next to (or diagonal to) a higher one is suppressed; two cells apart, both stay."""
    # Adjacent horizontally, vertically, diagonally: only the higher survives.
    for other in [(5, 6), (6, 5), (6, 6), (4, 4)]:
        points, scores = local_peaks(spikes(12, 12, {(5, 5): 0.9, other: 0.8}), 1, 0.2, 4)
        assert found(points).sum() == 1
        assert scores[0, 0, 0] == pytest.approx(0.9)
    # Two cells apart (one cell between them, which is lower): both are strict 3×3 maxima.
    for other in [(5, 7), (7, 5), (7, 7), (3, 7)]:
        points, scores = local_peaks(spikes(12, 12, {(5, 5): 0.9, other: 0.8}), 1, 0.2, 4)
        assert found(points).sum() == 2
        torch.testing.assert_close(points[0, 0, 1], torch.tensor([float(other[1]), float(other[0])]))


def test_two_gaussians_two_cells_apart_are_both_found_exactly():
    """Peaks 2 cells apart (closer than 3 cells): both kept, both refined to their centres."""
    stride = 2
    # Peak cells (row 7, cols 10 and 12), placed symmetrically about col 11 so that each peak's
    # neighbour in between holds its own Gaussian's value (maps take the max of the two).
    centres = torch.tensor([[[[20.8, 14.9]], [[24.2, 14.9]]]])
    maps = gaussian_maps(centres, 32, 48, stride, sigma=1.2)
    assert maps[0, 0, 7, 11] < maps[0, 0, 7, 10] and maps[0, 0, 7, 11] < maps[0, 0, 7, 12]
    points, scores = local_peaks(maps, stride, 0.2, 5)
    assert found(points).sum() == 2
    got = points[0, 0, :2][points[0, 0, :2, 0].argsort()]
    torch.testing.assert_close(got, centres[0, :, 0], atol=1e-3, rtol=0)
    expected_score = math.exp(-(0.3**2 + 0.4**2) / (2 * 1.2**2))
    torch.testing.assert_close(scores[0, 0, :2], torch.full((2,), expected_score), atol=1e-5, rtol=0)


def test_plateau_cells_are_all_peaks_at_the_plateau_centre():
    """Every cell of a flat top equals its 3×3 maximum, so each is a peak; refinement clamps each
    to half a cell towards its equal neighbours, so all land on the plateau's centre."""
    # 2×2 plateau: four peaks, all at the centre of the block.
    maps = spikes(10, 10, {(4, 4): 0.8, (4, 5): 0.8, (5, 4): 0.8, (5, 5): 0.8})
    points, scores = local_peaks(maps, 1, 0.2, 6)
    assert found(points).sum() == 4
    torch.testing.assert_close(scores[0, 0, :4], torch.full((4,), 0.8))
    torch.testing.assert_close(points[0, 0, :4], torch.tensor([[4.5, 4.5]]).expand(4, 2))
    # 1×3 plateau: three peaks, at the left half, the middle (no curvature), the right half.
    maps = spikes(10, 10, {(4, 3): 0.8, (4, 4): 0.8, (4, 5): 0.8})
    points, _ = local_peaks(maps, 1, 0.2, 6)
    assert found(points).sum() == 3
    xs = sorted(points[0, 0, :3, 0].tolist())
    assert xs == pytest.approx([3.5, 4.0, 4.5])
    torch.testing.assert_close(points[0, 0, :3, 1], torch.full((3,), 4.0))
    # A plateau cell next to a higher cell is suppressed; the plateau cell beyond its reach
    # (3×3) is still a peak, pulled half a cell towards its equal neighbour.
    maps = spikes(10, 10, {(4, 3): 0.8, (4, 4): 0.8, (4, 5): 0.9})
    points, scores = local_peaks(maps, 1, 0.2, 6)
    assert found(points).sum() == 2
    torch.testing.assert_close(scores[0, 0, :2], torch.tensor([0.9, 0.8]))
    torch.testing.assert_close(points[0, 0, 1], torch.tensor([3.5, 4.0]))


def test_peaks_are_ordered_by_score():
    rng = np.random.default_rng(0)
    cells = {}
    values = rng.permutation(np.linspace(0.3, 1.0, 12)).astype(np.float32)
    for i, value in enumerate(values):
        cells[(2 + 3 * (i // 4), 2 + 3 * (i % 4))] = float(value)  # 3 cells apart: all isolated
    maps = spikes(12, 14, cells)
    points, scores = local_peaks(maps, 1, 0.2, 20)
    order = np.argsort(-values)
    torch.testing.assert_close(scores[0, 0, :12], torch.from_numpy(values[order]))
    keys = list(cells)
    expected = torch.tensor([[keys[i][1], keys[i][0]] for i in order], dtype=torch.float32)
    torch.testing.assert_close(points[0, 0, :12], expected)
    # max_peaks below the number of peaks keeps the highest.
    points, scores = local_peaks(maps, 1, 0.2, 5)
    assert points.shape == (1, 1, 5, 2)
    torch.testing.assert_close(scores[0, 0], torch.from_numpy(values[order[:5]]))
    torch.testing.assert_close(points[0, 0], expected[:5])


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_subpixel_exact_on_sampled_gaussians(stride):
    """Gaussians away from the border, well apart: every centre comes back within 1e-3 of a cell."""
    rng = np.random.default_rng(stride)
    height, width = 161, 203
    sigma = max(1.5, 1.0 * stride)
    centres: list[np.ndarray] = []
    while len(centres) < 15:
        centre = rng.uniform(2 * stride + 1, [width - 2 * stride - 2, height - 2 * stride - 2])
        if all(np.linalg.norm(centre - c) > 5 * sigma + 2 * stride for c in centres):
            centres.append(centre)
    truth = torch.tensor(np.array(centres), dtype=torch.float32)
    maps = gaussian_maps(truth[None, :, None], height, width, stride, sigma)  # (1, 1, h, w)
    points, scores = local_peaks(maps, stride, 0.2, 32)
    n = int(found(points).sum())
    assert n == 15
    got = points[0, 0, :n]
    distances = torch.cdist(got, truth)
    nearest = distances.min(dim=1)
    assert sorted(nearest.indices.tolist()) == list(range(15))
    assert nearest.values.max() < 1e-3 * stride + 1e-3
    floor = math.exp(-(stride**2) / (4 * sigma**2))
    assert (scores[0, 0, :n] >= floor - 1e-5).all() and (scores[0, 0, :n] <= 1).all()


def test_batches_and_channels_are_independent():
    maps = torch.zeros(2, 3, 9, 11)
    maps[0, 0, 2, 3] = 0.9
    maps[0, 2, 6, 8] = 0.5
    maps[0, 2, 1, 1] = 0.7
    maps[1, 1, 4, 4] = 0.3
    points, scores = local_peaks(maps, 2, 0.2, 3)
    assert points.shape == (2, 3, 3, 2) and scores.shape == (2, 3, 3)
    assert found(points).sum(dim=-1).tolist() == [[1, 0, 2], [0, 1, 0]]
    torch.testing.assert_close(points[0, 0, 0], torch.tensor([6.5, 4.5]))
    torch.testing.assert_close(points[0, 2, :2], torch.tensor([[2.5, 2.5], [16.5, 12.5]]))
    torch.testing.assert_close(points[1, 1, 0], torch.tensor([8.5, 8.5]))


def test_max_peaks_larger_than_the_map_pads_with_nan():
    """`(batch, channels, max_peaks, 2)` as documented, even when the map has fewer cells."""
    maps = torch.zeros(2, 1, 3, 4)  # 12 cells
    maps[0, 0, 1, 2] = 0.8
    points, scores = local_peaks(maps, 4, 0.2, 16)
    assert points.shape == (2, 1, 16, 2), points.shape
    assert scores.shape == (2, 1, 16)
    torch.testing.assert_close(points[0, 0, 0], torch.tensor([9.5, 5.5]))
    assert torch.isnan(points[0, 0, 1:]).all() and torch.isnan(points[1]).all()
    assert (scores[0, 0, 1:] == 0).all()
