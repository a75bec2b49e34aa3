"""Centroid head: decode(encode(animals)) gives back every animal's centre, on random layouts.
(The centered-instance head, top-down stage 2, is checked at the end.)

Layouts: 1–6 animals per frame, random skeletons (2–15 nodes) with missing points, some animals
with no labeled point at all, NaN padding rows, some centres within 3 px of the frame edge,
animals more than 4 sigma apart; frame sizes not multiples of the stride; strides 1, 2, 4.

What decoding can give back is exact: a sampled Gaussian is a parabola in log space, so a peak
whose cell has neighbours on both sides is refined to the true centre; on a border cell there is
no neighbour outside, and the centre comes back as that cell's centre along that axis.
"""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.centroid import CentroidHead, instance_centroids
from posenn.heads.confmaps import gaussian_maps, output_size

pytestmark = pytest.mark.usefixtures("torch_single_thread")

STRIDES = [1, 2, 4]
THRESHOLD = 0.2
EDGE = 3.0  # "near the edge": centre within this many pixels of the frame's border pixels


def reference_centroids(points: np.ndarray, anchor: int | None) -> np.ndarray:
    """Independent numpy version: `(..., instances, nodes, 2)` → `(..., instances, 2)`."""
    points = points.astype(np.float64)
    labeled = ~np.isnan(points).any(axis=-1)
    out = np.full(points.shape[:-2] + (2,), np.nan)
    for index in np.ndindex(points.shape[:-2]):
        visible = points[index][labeled[index]]
        if len(visible) == 0:
            continue
        if anchor is not None and labeled[index][anchor]:
            out[index] = points[index][anchor]
        else:
            out[index] = visible.mean(axis=0)
    return out


def not_multiple(value: int, stride: int) -> int:
    while stride > 1 and value % stride == 0:
        value += 1
    return value


def random_layout(rng: np.random.Generator, height: int, width: int, sigma: float, stride: int, n_nodes: int, anchor):
    """Points `(instances, nodes, 2)` of 1–6 animals whose centres (by `anchor`) are known.

    Returns the points (with empty animals and NaN padding rows mixed in) and the `(animals, 2)`
    centres of the animals that have one.
    """
    wanted = int(rng.integers(1, 7))
    separation = 4 * sigma + stride
    centres: list[np.ndarray] = []
    for _ in range(200):
        if len(centres) == wanted:
            break
        centre = rng.uniform([0, 0], [width - 1, height - 1])
        if rng.random() < 0.35:  # near an edge (or a corner)
            axis = int(rng.integers(2))
            side = [width - 1, height - 1][axis]
            distance = rng.uniform(0, EDGE)
            centre[axis] = distance if rng.random() < 0.5 else side - distance
        if all(np.linalg.norm(centre - other) > separation for other in centres):
            centres.append(centre)
    animals = []
    for centre in centres:
        offsets = rng.normal(0, 12, (n_nodes, 2))
        missing = rng.random(n_nodes) < 0.3
        if missing.all():
            missing[int(rng.integers(n_nodes))] = False
        if anchor is not None and rng.random() < 0.3:
            missing[anchor] = True  # anchor not labeled: the mean of the labeled points
            if missing.all():
                missing[(anchor + 1) % n_nodes] = False
        offsets[missing] = np.nan
        if anchor is not None and not missing[anchor]:
            offsets -= offsets[anchor]
        else:
            offsets -= np.nanmean(offsets, axis=0)
        animals.append(centre + offsets)
    empty = np.full((n_nodes, 2), np.nan)
    rows = list(animals)
    if rng.random() < 0.5:  # an animal with no labeled point: no centre, no peak
        rows.insert(int(rng.integers(len(rows) + 1)), empty)
    rows += [empty] * int(rng.integers(0, 3))  # padding
    return np.stack(rows).astype(np.float32)


def random_case(seed: int, stride: int, with_anchor: bool):
    rng = np.random.default_rng(1000 * stride + 2 * seed + with_anchor)
    n_nodes = int(rng.integers(2, 16))
    anchor = int(rng.integers(n_nodes)) if with_anchor else None
    height = not_multiple(int(rng.integers(60, 301)), stride)
    width = not_multiple(int(rng.integers(60, 301)), stride)
    sigma = float(rng.uniform(max(1.5, 0.75 * stride), 2 * stride))
    frames = [random_layout(rng, height, width, sigma, stride, n_nodes, anchor) for _ in range(int(rng.integers(1, 4)))]
    rows = max(len(f) for f in frames)
    points = np.full((len(frames), rows, n_nodes, 2), np.nan, np.float32)
    for i, frame in enumerate(frames):
        points[i, : len(frame)] = frame
    max_instances = int(rng.integers(1, 9))
    return height, width, sigma, anchor, max_instances, points


def expected_decoding(centre: np.ndarray, n_cells: tuple[int, int], stride: int, sigma: float):
    """Where decoding puts a lone Gaussian at `centre` (xy), and the score it reports."""
    position, cell_centres = [], []
    for value, n in zip(centre, n_cells):
        cell = min(max(round((value - (stride - 1) / 2) / stride), 0), n - 1)
        cell_centre = cell * stride + (stride - 1) / 2
        cell_centres.append(cell_centre)
        position.append(cell_centre if cell in (0, n - 1) else value)  # border cells: not refined
    cell_centres = np.array(cell_centres)
    score = math.exp(-((cell_centres - centre) ** 2).sum() / (2 * sigma**2))
    return np.array(position), score


def decode_case(seed, stride, with_anchor):
    height, width, sigma, anchor, max_instances, points = random_case(seed, stride, with_anchor)
    head = CentroidHead(sigma=sigma, output_stride=stride, anchor=anchor, max_instances=max_instances)
    maps = head.encode(torch.from_numpy(points), (height, width))
    decoded, scores = head.decode(maps, THRESHOLD)
    return head, height, width, points, maps, decoded.numpy(), scores.numpy()


@pytest.mark.parametrize("with_anchor", [False, True])
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("seed", range(12))
def test_decode_encode_round_trip(seed, stride, with_anchor):
    head, height, width, points, maps, decoded, scores = decode_case(seed, stride, with_anchor)
    batch = len(points)
    out_h, out_w = output_size(height, width, stride)
    assert head.channels == 1
    assert maps.shape == (batch, 1, out_h, out_w)
    assert decoded.shape == (batch, head.max_instances, 1, 2)
    assert scores.shape == (batch, head.max_instances, 1)

    # targets(): one-node instances, the anchor where labeled, else the mean of labeled points.
    truth = reference_centroids(points, head.anchor)  # (batch, instances, 2)
    targets = head.targets(torch.from_numpy(points))
    assert targets.shape == (batch, points.shape[1], 1, 2)
    np.testing.assert_allclose(targets[:, :, 0].numpy(), truth, atol=1e-4, equal_nan=True)

    for b in range(batch):
        centres = truth[b][~np.isnan(truth[b, :, 0])]
        expected = [expected_decoding(c, (out_w, out_h), stride, head.sigma) for c in centres]
        expected_points = np.array([e[0] for e in expected])
        expected_scores = np.array([e[1] for e in expected])
        found = ~np.isnan(decoded[b, :, 0, 0])
        n_found = int(found.sum())
        # One detection per animal (capped by max_instances), none extra, NaN padding after.
        assert n_found == min(len(centres), head.max_instances)
        assert found[:n_found].all() and not found[n_found:].any()
        assert (scores[b, n_found:] == 0).all()
        assert np.isnan(decoded[b, n_found:]).all()
        # Highest first.
        assert (np.diff(scores[b, :n_found, 0]) <= 0).all()

        found_points = decoded[b, :n_found, 0]
        cost = np.linalg.norm(found_points[:, None] - expected_points[None], axis=-1)
        rows, cols = linear_sum_assignment(cost)
        assert len(rows) == n_found
        # Exact where refinement has neighbours, the border cell's centre where it has not.
        np.testing.assert_allclose(found_points[rows], expected_points[cols], atol=0.01 * stride + 2e-3)
        # Never more than half a cell away from the true centre along either axis.
        assert (np.abs(found_points[rows] - centres[cols]) <= 0.5 * stride + 1e-3).all()
        # The score is the Gaussian at the peak cell: ≈ 1, and never below the half-cell floor.
        np.testing.assert_allclose(scores[b, rows, 0], expected_scores[cols], atol=1e-4)
        assert (scores[b, :n_found] >= math.exp(-(stride**2) / (4 * head.sigma**2)) - 1e-4).all()
        if stride == 1:  # at most half a pixel from a cell centre along each axis, sigma ≥ 1.5
            assert (scores[b, :n_found] > 0.89).all()
        # max_instances keeps the highest peaks.
        dropped = np.setdiff1d(np.arange(len(centres)), cols)
        if len(dropped):
            assert expected_scores[cols].min() >= expected_scores[dropped].max() - 1e-4


@pytest.mark.parametrize("stride", STRIDES)
def test_mean_error_over_many_layouts(stride):
    """Over many layouts (a third of the animals within 3 px of the edge), the mean distance
    between decoded and true centres is a small fraction of the stride."""
    errors = []
    for seed in range(40):
        for with_anchor in (False, True):
            height, width, sigma, anchor, _, points = random_case(seed, stride, with_anchor)
            head = CentroidHead(sigma=sigma, output_stride=stride, anchor=anchor, max_instances=16)
            decoded, _ = head.decode(head.encode(torch.from_numpy(points), (height, width)), THRESHOLD)
            truth = reference_centroids(points, anchor)
            for b in range(len(points)):
                centres = truth[b][~np.isnan(truth[b, :, 0])]
                found = decoded[b, :, 0].numpy()
                found = found[~np.isnan(found[:, 0])]
                assert len(found) == len(centres)
                cost = np.linalg.norm(found[:, None] - centres[None], axis=-1)
                rows, cols = linear_sum_assignment(cost)
                errors.extend(cost[rows, cols])
    errors = np.array(errors)
    assert len(errors) > 200
    assert errors.mean() < 0.15 * stride, f"mean error {errors.mean():.3f} px at stride {stride}"
    assert np.median(errors) < 0.01 * stride + 2e-3  # most centres are exact


def test_max_instances_keeps_the_highest_peaks_in_order():
    """Five animals with peaks of different heights; decoding keeps the three highest."""
    centres = np.array([[20.3, 30.7], [80.2, 25.1], [140.6, 40.4], [50.5, 90.8], [120.1, 100.2]], np.float32)
    heights = np.array([0.5, 0.9, 0.7, 1.0, 0.6], np.float32)
    stride, sigma = 2, 3.0
    maps = torch.stack(
        [gaussian_maps(torch.from_numpy(c)[None, None, None], 120, 170, stride, sigma)[0, 0] * h for c, h in zip(centres, heights)]
    ).amax(dim=0)[None, None]
    head = CentroidHead(sigma=sigma, output_stride=stride, max_instances=3)
    decoded, scores = head.decode(maps, THRESHOLD)
    order = np.argsort(-heights)[:3]
    np.testing.assert_allclose(decoded[0, :, 0].numpy(), centres[order], atol=0.02)
    # Each peak's score is its height times the Gaussian at the peak cell (≤ height, ≥ 0.9 of it here).
    assert (scores[0, :, 0].numpy() <= heights[order] + 1e-6).all()
    assert (scores[0, :, 0].numpy() >= 0.9 * heights[order]).all()
    # A threshold above the third peak keeps two.
    decoded, scores = CentroidHead(sigma, stride, max_instances=16).decode(maps, float(scores[0, 2, 0]) + 1e-3)
    assert (~torch.isnan(decoded[0, :, 0, 0])).sum() == 2


def test_empty_frames_decode_all_nan():
    head = CentroidHead(sigma=2.0, output_stride=2, max_instances=4)
    points = torch.full((2, 3, 5, 2), float("nan"))
    maps = head.encode(points, (41, 57))
    assert maps.shape == (2, 1, 21, 29) and (maps == 0).all()
    decoded, scores = head.decode(maps, THRESHOLD)
    assert decoded.shape == (2, 4, 1, 2) and torch.isnan(decoded).all()
    assert (scores == 0).all()
    # No instances at all: the same.
    maps = head.encode(torch.zeros((2, 0, 5, 2)), (41, 57))
    assert maps.shape == (2, 1, 21, 29) and (maps == 0).all()


def test_instance_centroids_anchor_and_mean():
    nan = float("nan")
    points = torch.tensor(
        [
            [
                [[0.0, 0.0], [4.0, 2.0], [8.0, 10.0]],  # anchor 1 labeled: (4, 2); mean (4, 4)
                [[2.0, 2.0], [nan, nan], [6.0, 4.0]],  # anchor 1 missing: mean (4, 3)
                [[nan, nan], [nan, nan], [nan, nan]],  # nothing labeled: NaN
                [[nan, 1.0], [3.0, nan], [5.0, 7.0]],  # a point with one NaN coordinate is missing
            ]
        ]
    )
    with_anchor = instance_centroids(points, 1)
    without = instance_centroids(points, None)
    assert with_anchor.shape == (1, 4, 2)
    torch.testing.assert_close(with_anchor[0, :2], torch.tensor([[4.0, 2.0], [4.0, 3.0]]))
    torch.testing.assert_close(without[0, :2], torch.tensor([[4.0, 4.0], [4.0, 3.0]]))
    assert torch.isnan(with_anchor[0, 2]).all() and torch.isnan(without[0, 2]).all()
    torch.testing.assert_close(with_anchor[0, 3], torch.tensor([5.0, 7.0]))
    torch.testing.assert_close(without[0, 3], torch.tensor([5.0, 7.0]))


# --- Centered-instance head (top-down stage 2): the animal of each crop is its first instance. ---


def test_centered_instance_encode_uses_only_the_first_instance():
    head = CenteredInstanceHead(n_nodes=3, sigma=2.0, output_stride=2, crop_size=48)
    assert head.channels == 3 and head.crop_size == 48
    first = torch.tensor([[[[24.0, 24.0], [30.0, 20.0], [float("nan")] * 2]]])
    others = torch.tensor([[[[10.0, 10.0], [40.0, 40.0], [5.0, 44.0]], [[26.0, 22.0], [1.0, 1.0], [20.0, 20.0]]]])
    with_others = torch.cat([first, others], dim=1)
    maps = head.encode(with_others, (48, 48))
    torch.testing.assert_close(maps, head.encode(first, (48, 48)))
    assert maps.shape == (1, 3, 24, 24)
    assert (maps[0, 2] == 0).all()  # the missing node draws nothing, other animals' parts neither
    torch.testing.assert_close(head.targets(with_others), first, equal_nan=True)


@pytest.mark.parametrize("stride", [1, 2, 4])
@pytest.mark.parametrize("seed", range(6))
def test_centered_instance_decode_encode_round_trip(seed, stride):
    rng = np.random.default_rng(100 * stride + seed)
    crop = int(rng.choice([48, 64, 96, 128]))
    n_nodes = int(rng.integers(2, 16))
    batch = int(rng.integers(1, 5))
    sigma = float(rng.uniform(max(1.5, 0.75 * stride), 2.5 * stride))
    head = CenteredInstanceHead(n_nodes=n_nodes, sigma=sigma, output_stride=stride, crop_size=crop)
    # The centred animal, within the crop, plus up to 2 other animals reaching into it.
    animal = crop / 2 + rng.normal(0, crop / 6, (batch, 1, n_nodes, 2))
    animal = np.clip(animal, 1.0, crop - 2.0)
    missing = rng.random((batch, 1, n_nodes)) < 0.2
    animal[missing] = np.nan
    others = rng.uniform(0, crop - 1, (batch, int(rng.integers(0, 3)), n_nodes, 2))
    points = torch.from_numpy(np.concatenate([animal, others], axis=1).astype(np.float32))

    maps = head.encode(points, (crop, crop))
    assert maps.shape == (batch, n_nodes, crop // stride, crop // stride)
    decoded, scores = head.decode(maps, THRESHOLD)
    assert decoded.shape == (batch, 1, n_nodes, 2) and scores.shape == (batch, 1, n_nodes)
    truth = points[:, :1]
    present = ~torch.isnan(truth[..., 0])
    assert torch.isnan(decoded[~present]).all() and (scores[~present] == 0).all()
    errors = (decoded[present] - truth[present]).norm(dim=-1)
    assert errors.mean() < 0.15 * stride, f"mean error {errors.mean():.3f} px at stride {stride}"
    assert (decoded[present] - truth[present]).abs().max() <= 0.5 * stride + 1e-3
    assert (scores[present] >= math.exp(-(stride**2) / (4 * sigma**2)) - 1e-4).all()
