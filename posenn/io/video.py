"""Fast frame reading: decode in order with OpenCV, on a background thread; never seek per frame."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import sleap_io as sio

from posenn.errors import PosennError
from posenn.io.labels import is_embedded

T = TypeVar("T")

# Skipping ahead by decoding (grab) beats a seek for gaps up to about this many frames.
SEEK_GAP = 64


def to_channels(frame: np.ndarray, channels: int) -> np.ndarray:
    """Convert an RGB or grayscale `(height, width[, c])` frame to `(height, width, channels)`."""
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.shape[2] == channels:
        return frame
    if channels == 1:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.repeat(frame, 3, axis=2)


def _media_frames(path: str, indices: Sequence[int], channels: int) -> Iterator[tuple[int, np.ndarray]]:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise PosennError(f"{path}: cannot open the video (not a video file, or an unsupported codec).")
    conversion = cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB
    position = 0
    try:
        for idx in indices:
            if idx < position or idx - position > SEEK_GAP:
                capture.set(cv2.CAP_PROP_POS_FRAMES, idx)
                position = idx
            while position < idx:
                capture.grab()
                position += 1
            ok, frame = capture.read()
            position += 1
            if not ok:
                raise PosennError(f"{path}: could not decode frame {idx}.")
            frame = cv2.cvtColor(frame, conversion)
            yield idx, frame.reshape(frame.shape[0], frame.shape[1], channels)
    finally:
        capture.release()


def iter_frames(video: sio.Video, indices: Sequence[int], channels: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(frame_idx, frame)` for sorted `indices`, frames `(height, width, channels)` uint8.

    Media files are decoded sequentially with OpenCV (skipping short gaps by decoding, seeking
    only across long ones); embedded images of a `.pkg.slp` are read through sleap-io.
    """
    if not is_embedded(video):
        yield from _media_frames(str(video.filename), indices, channels)
        return
    for idx in indices:
        try:
            frame = video[idx]
        except Exception as exc:
            raise PosennError(f"{video.filename}: could not read embedded frame {idx} ({exc}).") from None
        yield idx, to_channels(np.asarray(frame), channels)


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Produce `items` on a background thread, `depth` ahead of the consumer.

    Exceptions raised by the producer are re-raised in the consumer.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(done)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)


def open_video(path: Path) -> sio.Video:
    """Open a video file with sleap-io.

    Raises:
        PosennError: if it is missing or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise PosennError(f"Video file not found: {path}")
    try:
        video = sio.load_video(str(path.resolve()))  # outputs that name it work from any folder
        n_frames = video.shape[0]
    except Exception as exc:
        raise PosennError(f"{path}: cannot be decoded as a video ({exc}).") from None
    if not n_frames:
        raise PosennError(f"{path}: the video holds no frames.")
    return video


def parse_frame_ranges(text: str | None, n_frames: int) -> list[int]:
    """Turn `"0-99,200-300"` (inclusive ranges, single indices allowed) into sorted indices.

    Raises:
        PosennError: for malformed text or indices outside `[0, n_frames)`.
    """
    if not text:
        return list(range(n_frames))
    indices: set[int] = set()
    for part in text.split(","):
        bounds = part.strip().split("-")
        try:
            start, end = (int(bounds[0]), int(bounds[-1])) if len(bounds) <= 2 else (None, None)
        except ValueError:
            start = None
        if start is None or end is None or start > end:
            raise PosennError(f"--frames: '{part}' is not a frame index or a range like 0-99.")
        if start < 0 or end >= n_frames:
            raise PosennError(f"--frames: '{part}' is outside the video's frames 0-{n_frames - 1}.")
        indices.update(range(start, end + 1))
    return sorted(indices)
