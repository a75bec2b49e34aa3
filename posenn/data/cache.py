"""Decode every labeled frame once, in order, into one array (in memory or on disk)."""

from __future__ import annotations

import hashlib
import mmap
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from posenn.io.labels import LabeledSample
from posenn.io.video import iter_frames


def scale_points(points: np.ndarray, scale: float) -> np.ndarray:
    """Map frame pixel coordinates to the coordinates of the frame resized by `scale`.

    Pixel centres sit at integer coordinates, as in OpenCV's resize.
    """
    return (points + 0.5) * scale - 0.5


def unscale_points(points: np.ndarray, scale: float, centred: bool = True) -> np.ndarray:
    """Inverse of `scale_points`; with `centred=False`, SLEAP's convention instead (a pixel of
    the resized frame at the frame coordinate of its first pixel: `points / scale`)."""
    return (points + 0.5) / scale - 0.5 if centred else points / scale


def resize_frame(frame: np.ndarray, scale: float) -> np.ndarray:
    """Resize `(height, width, channels)` by `scale` (to `round(side * scale)` pixels), keeping
    the channel axis."""
    if scale == 1.0:
        return frame
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    # fx/fy (not a target size) make OpenCV map coordinates by exactly `scale`, as `scale_points`.
    resized = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=interpolation)
    return resized.reshape(resized.shape[0], resized.shape[1], frame.shape[2])


@dataclass
class FrameCache:
    """Labeled frames and their keypoints, ready for batching.

    Attributes:
        images: `(samples, height, width, channels)` uint8, frames resized by `scale` and padded
            at the bottom/right to a common size; a numpy array or a disk memmap.
        points: `(samples, max_instances, nodes, 2)` float32 in resized-frame pixels, NaN padded.
        scale: the resize factor applied to frames and points.
        classes: `(samples, max_instances)` int64 identity of each instance (index into the
            model's classes), -1 for none; None when the model has no identities.
    """

    images: np.ndarray
    points: np.ndarray
    scale: float
    classes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getstate__(self) -> dict:
        """Pickle a disk cache by its file name, not its frames, so that the processes of a
        spawned DDP run open the same memmap instead of each receiving a copy."""
        state = dict(self.__dict__)
        images = self.images
        if isinstance(images, np.memmap) and images.filename and _is_whole_file(images):
            state["images"] = _MemmapFile(str(images.filename))
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["images"], _MemmapFile):
            state = {**state, "images": np.load(state["images"].path, mmap_mode="r")}
        self.__dict__.update(state)


@dataclass(frozen=True)
class _MemmapFile:
    """Stands for a `.npy` memmap in a pickled `FrameCache`."""

    path: str


def _is_whole_file(images: np.memmap) -> bool:
    """Whether a memmap is a whole `.npy` file as `np.load` opens it (not a view of one)."""
    if not isinstance(images.base, mmap.mmap):  # views have the memmap they come from as base
        return False
    try:
        whole = np.load(images.filename, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return whole.shape == images.shape and whole.dtype == images.dtype


def _cache_file(cache_dir: Path, samples: list[LabeledSample], scale: float, channels: int) -> Path:
    key = "|".join(f"{s.video.filename}:{s.frame_idx}" for s in samples) + f"|{scale}|{channels}"
    return Path(cache_dir) / f"frames_{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy"


def _frame_size(sample: LabeledSample, scale: float) -> tuple[int, int]:
    _, height, width, _ = sample.video.shape
    return max(1, round(height * scale)), max(1, round(width * scale))


def build_cache(
    samples: list[LabeledSample],
    channels: int,
    scale: float,
    cache_dir: Path | None = None,
    on_frame: Callable[[], None] | None = None,
    class_names: list[str] | None = None,
) -> FrameCache:
    """Decode the frames of `samples` once, video by video in frame order.

    Args:
        samples: labeled frames, in any order; the cache keeps their order.
        channels: 1 (grayscale) or 3 (RGB); frames are converted as needed.
        scale: resize factor for frames and points.
        cache_dir: when given, frames go to a `.npy` memmap there, reused by later runs with the
            same frames; otherwise they are held in memory.
        on_frame: called after each decoded frame (for progress display).
        class_names: identities; an instance whose track has one of these names gets its index.
    """
    sizes = [_frame_size(s, scale) for s in samples]
    height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
    shape = (len(samples), height, width, channels)
    path = _cache_file(cache_dir, samples, scale, channels) if cache_dir else None
    if path is not None and path.is_file():
        images = np.load(path, mmap_mode="r")
    else:
        images = _decode_all(samples, shape, channels, scale, path, on_frame)

    max_instances = max(len(s.points) for s in samples)
    n_nodes = samples[0].points.shape[1]
    points = np.full((len(samples), max_instances, n_nodes, 2), np.nan, np.float32)
    for i, sample in enumerate(samples):
        points[i, : len(sample.points)] = scale_points(sample.points, scale)
    classes = instance_classes(samples, class_names, max_instances) if class_names else None
    return FrameCache(images, points, scale, classes)


def instance_classes(samples: list[LabeledSample], class_names: list[str], max_instances: int) -> np.ndarray:
    """`(samples, max_instances)` index of each instance's track in `class_names`, -1 for an
    instance without a track (or with a track not in the list) and for padding."""
    index = {name: i for i, name in enumerate(class_names)}
    classes = np.full((len(samples), max_instances), -1, np.int64)
    for row, sample in enumerate(samples):
        for slot, track in enumerate(sample.tracks):
            classes[row, slot] = index.get(track, -1)
    return classes


def _decode_all(
    samples: list[LabeledSample],
    shape: tuple[int, int, int, int],
    channels: int,
    scale: float,
    path: Path | None,
    on_frame: Callable[[], None] | None,
) -> np.ndarray:
    """Fill an image array (memory, or a memmap written to a temporary name then renamed)."""
    if path is None:
        images = np.zeros(shape, np.uint8)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One partial file per process: processes of a DDP run started by SLURM or torchrun all
        # build the cache; each renames its complete file into place (the contents are equal).
        partial = path.with_suffix(f".{socket.gethostname()}-{os.getpid()}.partial.npy")
        images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)

    by_video: dict[int, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        by_video[id(sample.video)].append(i)
    for rows in by_video.values():
        video = samples[rows[0]].video
        rows_by_frame = defaultdict(list)
        for row in rows:
            rows_by_frame[samples[row].frame_idx].append(row)
        for idx, frame in iter_frames(video, sorted(rows_by_frame), channels):
            frame = resize_frame(frame, scale)
            for row in rows_by_frame[idx]:
                images[row, : frame.shape[0], : frame.shape[1]] = frame
            if on_frame:
                on_frame()

    if path is None:
        return images
    images.flush()
    del images
    partial.replace(path)
    return np.load(path, mmap_mode="r")
