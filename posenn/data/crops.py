"""Crops centred on animals, for centered-instance models.

Training takes a generous pre-crop around each animal once (when the cache is built), augments
the pre-crop on the device, then cuts the centre: rotated animals are not clipped. Inference cuts
crops from full frames in one batched op (`crop_and_resize`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from posenn.data.augment import drop_outside
from posenn.data.cache import FrameCache
from posenn.heads.centroid import instance_centroids

# Pre-crops are this much larger than the crop, so rotation and scaling stay inside them.
PRECROP_FACTOR = 1.5


def precrop_size(crop_size: int) -> int:
    """Side of the pre-crop for a crop of `crop_size` (even, at least the crop plus margin)."""
    return 2 * math.ceil(crop_size * PRECROP_FACTOR / 2)


def instance_crops(cache: FrameCache, anchor: int | None, crop_size: int) -> tuple[FrameCache, np.ndarray]:
    """One pre-crop per labeled animal, centred on its centroid.

    Args:
        cache: frames `(frames, h, w, c)` and points `(frames, instances, nodes, 2)`.
        anchor: anchor node index, or None for the centre of the labeled points.
        crop_size: the model's crop size; pre-crops are `precrop_size(crop_size)` square.

    Returns:
        crops: a `FrameCache` of `(animals, p, p, c)` pre-crops whose points (and classes) hold
            all animals of the frame in crop coordinates, the centred animal first.
        frame_rows: `(animals,)` the cache row each crop comes from (to keep splits by frame).
    """
    size = precrop_size(crop_size)
    centroids = instance_centroids(torch.from_numpy(cache.points), anchor).numpy()  # (frames, instances, 2)
    rows, instances = np.nonzero(~np.isnan(centroids).any(axis=-1))
    _, height, width, channels = cache.images.shape
    images = np.zeros((len(rows), size, size, channels), np.uint8)
    points = np.full((len(rows),) + cache.points.shape[1:], np.nan, np.float32)
    classes = None if cache.classes is None else np.full((len(rows),) + cache.classes.shape[1:], -1, np.int64)
    for i, (row, instance) in enumerate(zip(rows, instances)):
        x0, y0 = np.round(centroids[row, instance] - size / 2).astype(int)
        src_x, src_y = slice(max(x0, 0), min(x0 + size, width)), slice(max(y0, 0), min(y0 + size, height))
        dst_x = slice(src_x.start - x0, src_x.stop - x0)
        dst_y = slice(src_y.start - y0, src_y.stop - y0)
        images[i, dst_y, dst_x] = cache.images[row, src_y, src_x]
        order = [instance] + [j for j in range(cache.points.shape[1]) if j != instance]
        points[i] = cache.points[row, order] - np.array([x0, y0], np.float32)
        if classes is not None:
            classes[i] = cache.classes[row, order]
    return FrameCache(images, points, cache.scale, classes), rows


def center_crop(images: torch.Tensor, points: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the central `size` × `size` window of `(batch, channels, p, p)` pre-crops.

    Points `(batch, instances, nodes, 2)` move with it; those outside the window become NaN.
    """
    offset = (images.shape[-1] - size) // 2
    cropped = images[..., offset : offset + size, offset : offset + size]
    return cropped, drop_outside(points - offset, size, size)


def crop_and_resize(frames: torch.Tensor, centres: torch.Tensor, frame_index: torch.Tensor, crop_size: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of `crop_size` pixels at `scale` around each centre, cut from full-resolution frames.

    A crop pixel `j` sits at scaled coordinate `origin + j` (pixel centres at integers), the
    convention of training pre-crops, with `origin = centre * scale - crop_size / 2`.

    Args:
        frames: `(frames, channels, height, width)` float full-resolution frames.
        centres: `(crops, 2)` xy in full-resolution frame pixels.
        frame_index: `(crops,)` long, the frame each crop comes from.
        crop_size: crop side in pixels of the scaled frame.
        scale: input scale of the model the crops are for.

    Returns:
        crops: `(crops, channels, crop_size, crop_size)`.
        origins: `(crops, 2)` scaled coordinates of crop pixel (0, 0).
    """
    scaled_centres = (centres + 0.5) * scale - 0.5
    origins = torch.round(scaled_centres - crop_size / 2)
    # Each crop pixel averages samples × samples bilinear samples spread over the frame pixels it
    # covers (anti-aliasing when scale < 1); samples outside the frame fade to zero over one pixel.
    samples = max(1, math.ceil(1 / scale))
    offsets = (torch.arange(crop_size * samples, device=frames.device, dtype=frames.dtype) + 0.5) / samples
    positions = (origins[:, None, :] + offsets[None, :, None]) / scale - 0.5  # (crops, crop * samples, 2) frame px
    height, width = frames.shape[-2:]
    normalised = (positions + 0.5) / torch.tensor([width, height], device=frames.device, dtype=frames.dtype) * 2 - 1
    side = normalised.shape[1]
    grid = torch.stack([normalised[:, None, :, 0].expand(-1, side, -1), normalised[:, :, None, 1].expand(-1, -1, side)], dim=-1)
    crops = torch.nn.functional.grid_sample(frames[frame_index], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if samples > 1:
        crops = torch.nn.functional.avg_pool2d(crops, samples)
    return crops, origins


def cut_crops(frames: torch.Tensor, centres: torch.Tensor, frame_index: torch.Tensor, crop_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`crop_and_resize` at scale 1 as a gather: whole pixels copied, zeros outside the frame.

    At scale 1 every crop pixel falls on a frame pixel, so no interpolation is needed and the
    frames may stay uint8 (only the crops are converted to float afterwards).

    Args:
        frames: `(frames, channels, height, width)` frames of any dtype.
        centres: `(crops, 2)` xy in frame pixels.
        frame_index: `(crops,)` long, the frame each crop comes from.
        crop_size: crop side in pixels.

    Returns:
        crops: `(crops, channels, crop_size, crop_size)` of the frames' dtype.
        origins: `(crops, 2)` frame coordinates of crop pixel (0, 0).
    """
    origins = torch.round(centres - crop_size / 2)
    height, width = frames.shape[-2:]
    if frames.device.type == "cpu":  # row slices copy at memory speed; a per-pixel gather is ~10× slower here
        crops = frames.new_zeros((len(centres), frames.shape[1], crop_size, crop_size))
        for crop, frame, (x0, y0) in zip(crops, frame_index.tolist(), origins.long().tolist()):
            top, left = max(y0, 0), max(x0, 0)
            bottom, right = min(y0 + crop_size, height), min(x0 + crop_size, width)
            if bottom > top and right > left:
                crop[:, top - y0 : bottom - y0, left - x0 : right - x0] = frames[frame, :, top:bottom, left:right]
        return crops, origins
    offsets = torch.arange(crop_size, device=frames.device)
    xs = origins[:, 0, None].long() + offsets  # (crops, crop_size)
    ys = origins[:, 1, None].long() + offsets
    inside = ((ys >= 0) & (ys < height))[:, :, None] & ((xs >= 0) & (xs < width))[:, None, :]  # (crops, s, s)
    crops = frames[frame_index[:, None, None], :, ys.clamp(0, height - 1)[:, :, None], xs.clamp(0, width - 1)[:, None, :]]
    crops = crops * inside[..., None].to(crops.dtype)  # (crops, s, s, channels)
    return crops.permute(0, 3, 1, 2), origins


def random_animal_crops(
    images: torch.Tensor, points: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training windows for whole-frame models: a `size` × `size` crop around one random animal
    of each image, shifted by up to a quarter of the window.

    Args:
        images: `(batch, channels, height, width)` float images.
        points: `(batch, instances, nodes, 2)` keypoints, NaN for unlabeled parts.
        size: side of the window in pixels.

    Returns:
        The windows `(batch, channels, size, size)` and the points in window coordinates (NaN
        outside the window).
    """
    batch, _, height, width = images.shape
    centres = instance_centroids(points, None)  # (batch, instances, 2)
    labeled = ~torch.isnan(centres[..., 0])
    weights = labeled.float() + (~labeled.any(dim=1, keepdim=True)).float()  # no animal: any slot
    chosen = torch.multinomial(weights, 1, generator=generator)[:, 0]
    centre = centres[torch.arange(batch, device=images.device), chosen]
    frame_centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=images.device)
    centre = torch.where(torch.isnan(centre), frame_centre, centre)
    jitter = (torch.rand(batch, 2, generator=generator, device=images.device) - 0.5) * (size / 2)
    frame_index = torch.arange(batch, device=images.device)
    windows, origins = crop_and_resize(images, centre + jitter, frame_index, size, 1.0)
    return windows, drop_outside(points - origins[:, None, None, :], size, size)
