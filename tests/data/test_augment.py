"""Batch augmentation: keypoints move exactly with the pixels (the dot test), flips swap names."""

import numpy as np
import pytest
import torch

from posenn.config import AugmentConfig
from posenn.errors import PosennError
from posenn.data.augment import (
    augment_batch,
    drop_outside,
    flip_permutation,
    jitter_intensity,
    random_affine,
    swap_symmetric,
    warp_images,
    warp_points,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

NODES = ["left_a", "right_a", "mid", "tip", "left_b", "right_b"]
PAIRS = [("left_a", "right_a"), ("left_b", "right_b")]
HEIGHT, WIDTH = 72, 96


def geometry_only(**kwargs) -> AugmentConfig:
    base = dict(rotation=0.0, scale=(1.0, 1.0), translate=0.0, flip="none", brightness=0.0, contrast=0.0, noise=0.0)
    base.update(kwargs)
    return AugmentConfig(**base)


def random_keypoints(rng: np.random.Generator, batch: int, n_nodes: int, radius: float) -> np.ndarray:
    """Integer keypoints within `radius` px of the image centre, distinct per sample."""
    centre = np.array([(WIDTH - 1) / 2, (HEIGHT - 1) / 2])
    points = np.empty((batch, 1, n_nodes, 2), np.float32)
    for b in range(batch):
        chosen = []
        while len(chosen) < n_nodes:
            p = np.round(centre + rng.uniform(-radius, radius, 2))
            if all(np.abs(p - q).max() > 6 for q in chosen):  # dots far enough apart
                chosen.append(p)
        points[b, 0] = chosen
    return points


def dot_images(points: np.ndarray) -> torch.Tensor:
    """One channel per node holding a bright 3×3 dot centred on that node's keypoint."""
    batch, _, n_nodes, _ = points.shape
    images = torch.zeros(batch, n_nodes, HEIGHT, WIDTH)
    for b in range(batch):
        for n in range(n_nodes):
            x, y = (int(v) for v in points[b, 0, n])
            images[b, n, y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return images


def centroid(channel: torch.Tensor) -> np.ndarray:
    """Intensity-weighted centroid (x, y) of a single-dot image."""
    weights = channel.double()
    ys, xs = torch.meshgrid(
        torch.arange(channel.shape[0], dtype=torch.float64),
        torch.arange(channel.shape[1], dtype=torch.float64),
        indexing="ij",
    )
    total = weights.sum()
    assert total > 1.0, "the dot left the image"
    return np.array([(weights * xs).sum() / total, (weights * ys).sum() / total])


def signed_area(a, b, c) -> float:
    return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


@pytest.mark.parametrize(
    "config",
    [
        geometry_only(rotation=30.0),
        geometry_only(scale=(0.8, 1.25)),
        geometry_only(translate=0.08),
        geometry_only(flip="horizontal"),
        geometry_only(rotation=25.0, scale=(0.8, 1.2), translate=0.05, flip="horizontal"),
        geometry_only(rotation=180.0, scale=(0.9, 1.1), translate=0.03, flip="both"),
        geometry_only(rotation=10.0, flip="vertical"),
    ],
    ids=["rotation", "scale", "translate", "hflip", "all-hflip", "all-both", "vflip"],
)
def test_dot_test_points_move_with_pixels(config):
    """Dots drawn at the keypoints are found, after augmentation, where the keypoints say.

    Measured error is below 0.1 px; 0.2 px still catches half-pixel convention slips.
    """
    rng = np.random.default_rng(1)
    batch = 16
    points = random_keypoints(rng, batch, len(NODES), radius=18)
    images = dot_images(points)
    permutation = flip_permutation(NODES, PAIRS)
    generator = torch.Generator().manual_seed(7)
    out_images, out_points = augment_batch(images, torch.from_numpy(points), config, permutation, generator)
    assert out_images.shape == images.shape and out_points.shape == points.shape
    assert not torch.isnan(out_points).any()  # all dots stay well inside

    mirrored_count = 0
    moved = False
    for b in range(batch):
        found = np.stack([centroid(out_images[b, n]) for n in range(len(NODES))])  # per physical dot
        # Mirrored iff the orientation of three non-symmetric dots changed (independent of the code).
        before = signed_area(points[b, 0, 2], points[b, 0, 3], points[b, 0, 0])
        after = signed_area(found[2], found[3], found[0])
        mirrored = (before > 0) != (after > 0)
        mirrored_count += mirrored
        reported = out_points[b, 0].numpy()
        for n in range(len(NODES)):
            name = int(permutation[n]) if mirrored else n  # the node name the dot now carries
            np.testing.assert_allclose(found[n], reported[name], atol=0.2, err_msg=f"sample {b} dot {NODES[n]}")
        moved |= not np.allclose(reported, points[b, 0], atol=1e-3)
    assert moved
    if config.flip in ("horizontal", "vertical"):
        assert 0 < mirrored_count < batch  # flips happen, but not always
    elif config.flip == "none":
        assert mirrored_count == 0


def test_horizontal_flip_reports_left_dot_under_right_node():
    """A pure horizontal flip: exact mirrored pixels, x → W-1-x, and left/right names swapped."""
    rng = np.random.default_rng(3)
    batch = 12
    points = random_keypoints(rng, batch, len(NODES), radius=20)
    images = dot_images(points)
    permutation = flip_permutation(NODES, PAIRS)
    config = geometry_only(flip="horizontal")
    out_images, out_points = augment_batch(
        images, torch.from_numpy(points), config, permutation, torch.Generator().manual_seed(0)
    )
    flipped = [not torch.allclose(out_images[b], images[b], atol=1e-4) for b in range(batch)]
    assert 0 < sum(flipped) < batch
    for b in range(batch):
        if not flipped[b]:
            torch.testing.assert_close(out_points[b], torch.from_numpy(points[b]))
            continue
        torch.testing.assert_close(out_images[b], torch.flip(images[b], dims=[-1]), atol=1e-5, rtol=0)
        mirrored = points[b, 0].copy()
        mirrored[:, 0] = WIDTH - 1 - mirrored[:, 0]
        expected = mirrored[permutation.numpy()]
        np.testing.assert_allclose(out_points[b, 0].numpy(), expected, atol=1e-4)
        # The left_a dot (channel 0) sits where right_a is now reported, and vice versa.
        np.testing.assert_allclose(centroid(out_images[b, 0]), out_points[b, 0, 1].numpy(), atol=1e-3)
        np.testing.assert_allclose(centroid(out_images[b, 1]), out_points[b, 0, 0].numpy(), atol=1e-3)
        np.testing.assert_allclose(centroid(out_images[b, 2]), out_points[b, 0, 2].numpy(), atol=1e-3)


def test_points_leaving_the_frame_become_nan():
    config = geometry_only(scale=(2.0, 2.0))  # zoom ×2 about the centre, deterministic
    cx, cy = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    points = torch.tensor(
        [[[[cx, cy], [cx + 10, cy - 5], [2.0, 3.0], [WIDTH - 2.0, cy], [np.nan, np.nan], [cx, HEIGHT - 10.0]]]],
        dtype=torch.float32,
    )
    images = torch.rand(1, 1, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))
    _, out = augment_batch(images, points, config, torch.arange(6))
    expected = torch.stack([cx + 2 * (points[..., 0] - cx), cy + 2 * (points[..., 1] - cy)], dim=-1)
    torch.testing.assert_close(out[0, 0, :2], expected[0, 0, :2])
    assert torch.isnan(out[0, 0, 2:5]).all()  # corner, right edge, and the unlabeled point
    # (cx, H - 10) → y = cy + 2 * (H - 10 - cy) = 88.5 > H - 0.5: outside
    assert torch.isnan(out[0, 0, 5]).all()


def test_drop_outside_bounds():
    points = torch.tensor([[[[-0.49, 0.0], [-0.51, 0.0], [WIDTH - 0.51, HEIGHT - 0.51], [WIDTH - 0.49, 0.0]]]])
    out = drop_outside(points, HEIGHT, WIDTH)
    assert not torch.isnan(out[0, 0, :1]).any() and not torch.isnan(out[0, 0, 2]).any()
    assert torch.isnan(out[0, 0, 1]).all() and torch.isnan(out[0, 0, 3]).all()


def test_identity_config_changes_nothing():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 37, 53, generator=generator)
    points = torch.rand(4, 2, 5, 2, generator=generator) * torch.tensor([52.0, 36.0])
    points[1, 1, 2] = float("nan")
    out_images, out_points = augment_batch(images, points, geometry_only(), torch.arange(5), generator)
    torch.testing.assert_close(out_images, images, atol=1e-4, rtol=0)
    torch.testing.assert_close(out_points, points, atol=1e-4, rtol=0, equal_nan=True)


def test_random_affine_identity_and_inverse_consistency():
    matrices, flipped = random_affine(3, HEIGHT, WIDTH, geometry_only())
    torch.testing.assert_close(matrices, torch.eye(3).expand(3, 3, 3))
    assert not flipped.any()
    config = geometry_only(rotation=45.0, scale=(0.5, 2.0), translate=0.2, flip="both")
    matrices, flipped = random_affine(64, HEIGHT, WIDTH, config, torch.Generator().manual_seed(0))
    det = torch.linalg.det(matrices[:, :2, :2])
    assert torch.equal(det < 0, flipped)
    zoom = det.abs().sqrt()
    assert (zoom >= 0.5 - 1e-5).all() and (zoom <= 2.0 + 1e-5).all()


def test_warp_images_and_points_agree_on_integer_translation():
    """A whole-pixel shift moves pixels by exactly that shift, with zeros coming in."""
    images = torch.rand(1, 2, 10, 12, generator=torch.Generator().manual_seed(0))
    matrix = torch.eye(3)[None].clone()
    matrix[0, 0, 2], matrix[0, 1, 2] = 3.0, -2.0  # x + 3, y - 2
    out = warp_images(images, matrix)
    torch.testing.assert_close(out[0, :, :8, 3:], images[0, :, 2:, :9], atol=1e-5, rtol=0)
    assert out[0, :, :, :3].abs().max() < 1e-6 and out[0, :, 8:].abs().max() < 1e-6
    point = torch.tensor([[[[4.0, 5.0]]]])
    torch.testing.assert_close(warp_points(point, matrix), torch.tensor([[[[7.0, 3.0]]]]))


def test_intensity_jitter_stays_in_unit_range_and_changes_images():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(8, 1, 20, 30, generator=generator)
    images[0] = 1.0
    images[1] = 0.0
    config = AugmentConfig(rotation=0.0, scale=(1.0, 1.0), translate=0.0, brightness=0.5, contrast=0.9, noise=0.3)
    out = jitter_intensity(images, config, generator)
    assert out.shape == images.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out - images).abs().mean() > 0.05
    out_images, out_points = augment_batch(images, torch.zeros(8, 1, 1, 2) + 5, config, torch.arange(1), generator)
    assert out_images.min() >= 0.0 and out_images.max() <= 1.0
    torch.testing.assert_close(out_points, torch.zeros(8, 1, 1, 2) + 5)


def test_intensity_off_is_identity():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = jitter_intensity(images, geometry_only())
    torch.testing.assert_close(out, images)


def test_flip_permutation():
    perm = flip_permutation(NODES, PAIRS)
    assert perm.dtype == torch.long
    assert perm.tolist() == [1, 0, 2, 3, 5, 4]
    assert perm[perm].tolist() == list(range(len(NODES)))  # an involution
    assert flip_permutation(["a", "b"], []).tolist() == [0, 1]
    # Pair order does not matter.
    assert flip_permutation(NODES, [("right_a", "left_a"), ("right_b", "left_b")]).tolist() == perm.tolist()


def test_flip_permutation_unknown_node_is_a_clear_error():
    """A typo in augment.flip_pairs must name the node, not surface as a bare KeyError."""
    with pytest.raises(PosennError, match="wingX"):
        flip_permutation(["wingL", "wingR", "head"], [("wingL", "wingX")])


def test_flip_permutation_rejects_a_node_in_two_pairs():
    """Overlapping pairs would give a non-permutation ([1, 2, 1]): node b duplicated, c lost."""
    with pytest.raises((PosennError, ValueError), match="'b'"):
        flip_permutation(["a", "b", "c"], [("a", "b"), ("b", "c")])


def test_swap_symmetric_only_on_flipped_samples():
    points = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(2, 1, 3, 2)
    perm = torch.tensor([2, 1, 0])
    out = swap_symmetric(points, torch.tensor([True, False]), perm)
    torch.testing.assert_close(out[0, 0], points[0, 0, [2, 1, 0]])
    torch.testing.assert_close(out[1], points[1])
