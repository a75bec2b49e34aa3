"""Single-instance head: decode(encode(points)) == points, on random skeletons, sizes and strides."""

import math

import numpy as np
import pytest
import torch

from posenn.heads.confmaps import output_size
from posenn.heads.single_instance import SingleInstanceHead

pytestmark = pytest.mark.usefixtures("torch_single_thread")

STRIDES = [1, 2, 4, 8]
THRESHOLD = 0.2


def random_case(seed: int, stride: int):
    rng = np.random.default_rng(seed * 10 + stride)
    n_nodes = int(rng.integers(1, 21))
    height, width = (int(v) for v in rng.integers(40, 301, 2))
    while height % stride == 0 and stride > 1:  # not multiples of the stride
        height += 1
    while width % stride == 0 and stride > 1:
        width += 1
    sigma = float(rng.uniform(max(1.5, 0.75 * stride), 3 * stride))
    batch = int(rng.integers(1, 4))
    margin = 2.0
    points = np.stack(
        [rng.uniform(margin, width - 1 - margin, (batch, 1, n_nodes)), rng.uniform(margin, height - 1 - margin, (batch, 1, n_nodes))],
        axis=-1,
    ).astype(np.float32)
    missing = rng.random((batch, 1, n_nodes)) < 0.2
    points[missing] = np.nan
    # A second instance: ignored by the single-instance head.
    extra = rng.uniform(margin, min(height, width) - 1 - margin, (batch, 1, n_nodes, 2)).astype(np.float32)
    return n_nodes, height, width, sigma, torch.from_numpy(np.concatenate([points, extra], axis=1))


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("seed", range(12))
def test_decode_encode_round_trip(seed, stride):
    n_nodes, height, width, sigma, points = random_case(seed, stride)
    head = SingleInstanceHead(n_nodes=n_nodes, sigma=sigma, output_stride=stride)
    assert head.channels == n_nodes
    maps = head.encode(points, (height, width))
    assert maps.shape == (points.shape[0], n_nodes) + output_size(height, width, stride)
    decoded, scores = head.decode(maps, THRESHOLD)
    assert decoded.shape == (points.shape[0], 1, n_nodes, 2)
    assert scores.shape == (points.shape[0], 1, n_nodes)

    truth = points[:, :1]
    present = ~torch.isnan(truth[..., 0])
    # Missing points decode as missing, with a score of ~0.
    assert torch.isnan(decoded[~present]).all()
    assert (scores[~present] < 1e-6).all()
    # Present points come back.
    assert not torch.isnan(decoded[present]).any()
    errors = (decoded[present] - truth[present]).norm(dim=-1)
    assert errors.mean() < 0.15 * stride, f"mean error {errors.mean():.3f} px at stride {stride}"
    # Peaks on the map's border cells are not refined (no neighbour outside): ≤ half a cell per axis.
    assert (decoded[present] - truth[present]).abs().max() <= 0.5 * stride + 1e-3
    # The score is the map's value at the peak cell: the Gaussian at the nearest cell centre.
    centres = torch.round((truth[present] - (stride - 1) / 2) / stride) * stride + (stride - 1) / 2
    expected = torch.exp(-((centres - truth[present]) ** 2).sum(-1) / (2 * sigma**2))
    # (Exact unless the nearest centre is clipped at the map border.)
    assert (scores[present] - expected).abs().median() < 1e-4
    floor = math.exp(-2 * (stride / 2) ** 2 / (2 * sigma**2))
    assert (scores[present] >= floor - 1e-4).all()
    if sigma >= 2 * stride:
        assert (scores[present] > 0.93).all()


@pytest.mark.parametrize("stride", STRIDES)
def test_round_trip_is_subpixel_away_from_the_border(stride):
    """Points whose peak cell is not on the map border are recovered almost exactly."""
    rng = np.random.default_rng(stride)
    height, width = 97, 131
    sigma = max(1.5, 1.5 * stride)
    n = 50
    low = 2 * stride
    points = torch.tensor(
        np.stack([rng.uniform(low, width - 1 - low, n), rng.uniform(low, height - 1 - low, n)], -1)[None, None],
        dtype=torch.float32,
    )
    head = SingleInstanceHead(n_nodes=n, sigma=sigma, output_stride=stride)
    decoded, _ = head.decode(head.encode(points, (height, width)), THRESHOLD)
    errors = (decoded - points).norm(dim=-1)
    assert errors.max() < 0.02 * stride + 1e-3


def test_encode_uses_only_the_first_instance():
    head = SingleInstanceHead(n_nodes=2, sigma=2.0, output_stride=2)
    one = torch.tensor([[[[10.0, 10.0], [20.0, 5.0]]]])
    two = torch.cat([one, torch.tensor([[[[30.0, 30.0], [3.0, 3.0]]]])], dim=1)
    torch.testing.assert_close(head.encode(two, (40, 40)), head.encode(one, (40, 40)))


def test_all_missing_frame_decodes_all_nan():
    head = SingleInstanceHead(n_nodes=3, sigma=2.0, output_stride=4)
    points = torch.full((2, 1, 3, 2), float("nan"))
    maps = head.encode(points, (50, 61))
    assert maps.shape == (2, 3, 13, 16) and (maps == 0).all()
    decoded, scores = head.decode(maps, THRESHOLD)
    assert torch.isnan(decoded).all()
    assert (scores == 0).all()
