"""Batch augmentation as tensor ops on the training device.

Geometry (rotation, scale, translation, flips) is one affine matrix per sample, applied to the
image by `grid_sample` and to the keypoints by the same matrix, so points move exactly with the
pixels. A flip also swaps symmetric body parts (left wing becomes right wing). Pixel centres sit
at integer coordinates throughout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from posenn.config import AugmentConfig
from posenn.errors import PosennError


def _uniform(batch: int, low: float, high: float, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.rand(batch, generator=generator, device=device) * (high - low) + low


def random_affine(
    batch: int,
    height: int,
    width: int,
    config: AugmentConfig,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one affine transform per sample, about the image centre.

    Returns:
        matrices: `(batch, 3, 3)` mapping source pixel coordinates to augmented coordinates.
        flipped: `(batch,)` bool, True where the transform mirrors the image (odd number of flips).
    """
    angle = _uniform(batch, -config.rotation, config.rotation, generator, device) * math.pi / 180
    zoom = _uniform(batch, config.scale[0], config.scale[1], generator, device)
    shift_x = _uniform(batch, -config.translate, config.translate, generator, device) * width
    shift_y = _uniform(batch, -config.translate, config.translate, generator, device) * height
    flip_x = torch.zeros(batch, dtype=torch.bool, device=device)
    flip_y = torch.zeros(batch, dtype=torch.bool, device=device)
    if config.flip in ("horizontal", "both"):
        flip_x = torch.rand(batch, generator=generator, device=device) < 0.5
    if config.flip in ("vertical", "both"):
        flip_y = torch.rand(batch, generator=generator, device=device) < 0.5

    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    sign_x = 1.0 - 2.0 * flip_x.float()
    sign_y = 1.0 - 2.0 * flip_y.float()
    center_x, center_y = (width - 1) / 2, (height - 1) / 2
    # matrix = translate(centre + shift) @ rotate_scale @ flip @ translate(-centre)
    matrices = torch.zeros(batch, 3, 3, device=device)
    matrices[:, 0, 0] = cos * sign_x
    matrices[:, 0, 1] = -sin * sign_y
    matrices[:, 1, 0] = sin * sign_x
    matrices[:, 1, 1] = cos * sign_y
    matrices[:, 0, 2] = center_x + shift_x - matrices[:, 0, 0] * center_x - matrices[:, 0, 1] * center_y
    matrices[:, 1, 2] = center_y + shift_y - matrices[:, 1, 0] * center_x - matrices[:, 1, 1] * center_y
    matrices[:, 2, 2] = 1.0
    return matrices, flip_x ^ flip_y


def warp_images(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Warp `(batch, channels, height, width)` float images by `(batch, 3, 3)` source→target maps.

    Pixels that come from outside the source are zero.
    """
    batch, _, height, width = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=images.device, dtype=images.dtype),
        torch.arange(width, device=images.device, dtype=images.dtype),
        indexing="ij",
    )
    target = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)  # (1, h*w, 3)
    source = target @ torch.linalg.inv(matrices).transpose(1, 2)  # (batch, h*w, 3)
    grid_x = (2 * source[..., 0] + 1) / width - 1
    grid_y = (2 * source[..., 1] + 1) / height - 1
    grid = torch.stack([grid_x, grid_y], dim=-1).reshape(batch, height, width, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp_points(points: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Apply `(batch, 3, 3)` maps to `(batch, instances, nodes, 2)` points (NaN stays NaN)."""
    linear = matrices[:, None, None, :2, :2]  # (batch, 1, 1, 2, 2)
    offset = matrices[:, None, None, :2, 2]  # (batch, 1, 1, 2)
    return (linear @ points[..., None])[..., 0] + offset


def swap_symmetric(points: torch.Tensor, flipped: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Reorder nodes of mirrored samples so left and right parts keep their names.

    Args:
        points: `(batch, instances, nodes, 2)`.
        flipped: `(batch,)` bool.
        permutation: `(nodes,)` long, node i takes the point of node permutation[i].
    """
    swapped = points[:, :, permutation]
    return torch.where(flipped[:, None, None, None], swapped, points)


def drop_outside(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Set points that left the image to NaN: they are no longer visible."""
    x, y = points[..., 0], points[..., 1]
    inside = (x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)
    return torch.where(inside[..., None], points, torch.full_like(points, float("nan")))


def jitter_intensity(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, contrast and Gaussian noise on `(batch, channels, h, w)` in [0, 1]."""
    batch = images.shape[0]
    device = images.device
    shape = (batch, 1, 1, 1)
    brightness = _uniform(batch, -config.brightness, config.brightness, generator, device).view(shape)
    contrast = _uniform(batch, 1 - config.contrast, 1 + config.contrast, generator, device).view(shape)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * contrast + mean + brightness
    if config.noise > 0:
        noise = torch.randn(images.shape, generator=generator, device=device, dtype=images.dtype)
        images = images + noise * config.noise
    return images.clamp(0.0, 1.0)


def augment_batch(
    images: torch.Tensor,
    points: torch.Tensor,
    config: AugmentConfig,
    flip_permutation: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch: geometry on images and points together, then intensity on images.

    Args:
        images: `(batch, channels, height, width)` float in [0, 1].
        points: `(batch, instances, nodes, 2)` float, NaN where not labeled.
        config: the `augment` config section.
        flip_permutation: `(nodes,)` symmetric-part permutation used on mirrored samples.

    Returns:
        The augmented images and points, same shapes; points that left the frame are NaN.
    """
    batch, _, height, width = images.shape
    matrices, flipped = random_affine(batch, height, width, config, generator, images.device)
    images = warp_images(images, matrices)
    points = warp_points(points, matrices)
    points = swap_symmetric(points, flipped, flip_permutation.to(images.device))
    points = drop_outside(points, height, width)
    return jitter_intensity(images, config, generator), points


def flip_permutation(nodes: list[str], pairs: list[tuple[str, str]]) -> torch.Tensor:
    """`(nodes,)` permutation that swaps each symmetric pair of node names.

    Raises:
        PosennError: for a name that is not a node, or a node in two pairs.
    """
    index = {name: i for i, name in enumerate(nodes)}
    permutation = list(range(len(nodes)))
    paired: set[str] = set()
    for pair in pairs:
        for name in pair:
            if name not in index:
                raise PosennError(f"Symmetric pair {tuple(pair)}: '{name}' is not a node of the skeleton {nodes}.")
            if name in paired:
                raise PosennError(f"Symmetric pair {tuple(pair)}: '{name}' already belongs to another pair.")
            paired.add(name)
        left, right = pair
        permutation[index[left]], permutation[index[right]] = index[right], index[left]
    return torch.tensor(permutation, dtype=torch.long)
