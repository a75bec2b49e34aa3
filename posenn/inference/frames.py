"""Frames on their way to the networks: uint8 batches moved to the device once, then resized,
converted and normalised there.

The reader threads only decode. On a GPU, resizing runs on the device (average pooling for
whole-number downscales, an exact area-weight product otherwise, bilinear for upscales); on the
CPU, OpenCV's INTER_AREA on uint8 is the cheaper op and is what training's frame cache used, so
it is used there. Either way the result equals training's preprocessing to within one grey
level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from posenn.data.cache import resize_frame
from posenn.data.preprocess import to_float_images
from posenn.io.video import to_channels


@dataclass
class FrameBatch:
    """A batch of frames at full resolution, and its images at each input scale (made once).

    Attributes:
        indices: `(batch,)` frame index of each row.
        frames: `(batch, channels, height, width)` uint8 on the device, zero-padded to the
            largest frame of the batch.
        sizes: `(batch, 2)` height and width of each original frame.
        host_frames: the same frames as `(batch, height, width, channels)` uint8 numpy, kept
            when the device is the CPU (for OpenCV's resize).
    """

    indices: np.ndarray
    frames: torch.Tensor
    sizes: np.ndarray
    host_frames: np.ndarray | None = None
    _images: dict[tuple[float, int], torch.Tensor] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.indices)

    def images(self, scale: float, channels: int) -> torch.Tensor:
        """Float `(batch, channels, h, w)` images in [0, 1] at `scale`, channels-last."""
        key = (scale, channels)
        if key not in self._images:
            self._images[key] = scaled_images(self, scale, channels)
        return self._images[key]


def to_device_batch(indices: Sequence[int], frames: np.ndarray, device: torch.device, sizes: np.ndarray | None = None) -> FrameBatch:
    """Move `(batch, height, width, channels)` uint8 frames to `device` as a `FrameBatch`.

    On CUDA the copy goes through pinned memory and does not block the host.
    """
    tensor = torch.from_numpy(frames)
    if device.type == "cuda":
        tensor = tensor.pin_memory().to(device, non_blocking=True)
    elif device.type != "cpu":
        tensor = tensor.to(device)
    if sizes is None:
        sizes = np.tile(np.array(frames.shape[1:3]), (len(frames), 1))
    host = frames if device.type == "cpu" else None
    return FrameBatch(np.asarray(indices, dtype=np.int64), tensor.permute(0, 3, 1, 2), sizes, host)


def scaled_images(batch: FrameBatch, scale: float, channels: int) -> torch.Tensor:
    """The batch's frames resized by `scale` (to `round(side * scale)` pixels, as training's
    cache), with `channels` channels, as float `(batch, channels, h, w)` in [0, 1]."""
    if scale == 1.0:
        images = to_float_images(batch.frames)
    elif batch.host_frames is not None:
        resized = np.stack([resize_frame(frame, scale) for frame in batch.host_frames])
        images = to_float_images(torch.from_numpy(resized).permute(0, 3, 1, 2))
    else:
        images = torch.round(resize_on_device(batch.frames.float(), scale)) / 255.0
    return network_input(images, channels)


def network_input(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Float `(batch, c, h, w)` images with the network's `channels` (grey as the mean of the
    colours, colour as grey repeated), channels-last."""
    if images.shape[1] != channels:
        images = images.mean(dim=1, keepdim=True) if channels == 1 else images.expand(-1, channels, -1, -1)
    return images.contiguous(memory_format=torch.channels_last)


def area_weights(size: int, scale: float, device: torch.device) -> torch.Tensor:
    """`(round(size * scale), size)` weights of an area-averaging downscale by `scale` < 1: output
    pixel `i` covers input span `[i / scale, (i + 1) / scale)`; each input pixel counts by the
    fraction of it inside that span."""
    out = round(size * scale)
    starts = torch.arange(out, device=device, dtype=torch.float64) / scale
    ends = torch.clamp(starts + 1 / scale, max=size)
    pixels = torch.arange(size, device=device, dtype=torch.float64)
    overlap = (torch.minimum(ends[:, None], pixels[None] + 1) - torch.maximum(starts[:, None], pixels[None])).clamp_min(0)
    return (overlap / overlap.sum(dim=1, keepdim=True)).float()


def resize_on_device(images: torch.Tensor, scale: float) -> torch.Tensor:
    """Resize float `(batch, channels, height, width)` images by `scale` on their device.

    Whole-number downscales average `1 / scale` pixel squares; other downscales weigh input
    pixels by their area (as OpenCV's INTER_AREA); upscales are bilinear with pixel centres at
    half-integers (as INTER_LINEAR).
    """
    height, width = images.shape[-2:]
    if scale > 1:
        size = (round(height * scale), round(width * scale))
        return torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False)
    factor = round(1 / scale)
    if abs(factor * scale - 1) < 1e-9 and height % factor == 0 and width % factor == 0:
        return torch.nn.functional.avg_pool2d(images, factor)
    rows, cols = area_weights(height, scale, images.device), area_weights(width, scale, images.device)
    return rows @ images @ cols.T


def make_batch(pending: Sequence[tuple[int, np.ndarray]], device: torch.device | None = None) -> FrameBatch:
    """A `FrameBatch` of `(frame_idx, (h, w, c) frame)` pairs of any sizes, zero-padded."""
    frames = [frame if frame.ndim == 3 else frame[:, :, None] for _, frame in pending]
    sizes = np.array([frame.shape[:2] for frame in frames])
    channels = max(frame.shape[2] for frame in frames)
    stacked = np.zeros((len(frames), *sizes.max(axis=0), channels), np.uint8)
    for row, frame in enumerate(frames):
        stacked[row, : frame.shape[0], : frame.shape[1]] = to_channels(frame, channels)
    return to_device_batch([idx for idx, _ in pending], stacked, device or torch.device("cpu"), sizes)
