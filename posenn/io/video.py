"""Fast frame reading: decode in order with OpenCV, on a background thread; never seek per frame."""

from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import sleap_io as sio

from posenn.errors import PosennError
from posenn.io.images import is_image_list, read_image
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


def open_capture(path: str, threads: int = 0) -> cv2.VideoCapture:
    """An OpenCV capture of `path` (FFmpeg on `threads` threads, 0 for OpenCV's choice).

    Raises:
        PosennError: when the file cannot be opened as a video.
    """
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads]) if threads else cv2.VideoCapture(path)
    if not capture.isOpened():
        raise PosennError(f"{path}: cannot open the video (not a video file, or an unsupported codec).")
    return capture


def decoded_frames(capture: cv2.VideoCapture, path: str, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
    """`(frame_idx, BGR frame)` for sorted `indices`, read in order: short gaps are skipped by
    decoding, only long ones by seeking. The frame's buffer is reused for the next one.

    Raises:
        PosennError: for a frame that cannot be decoded.
    """
    position, decoded = 0, None
    for idx in indices:
        if idx < position or idx - position > SEEK_GAP:
            capture.set(cv2.CAP_PROP_POS_FRAMES, idx)
            position = idx
        while position < idx:
            capture.grab()
            position += 1
        ok, decoded = capture.read(decoded)
        position += 1
        if not ok:
            raise PosennError(f"{path}: could not decode frame {idx}.")
        yield idx, decoded


def conversion_code(channels: int) -> int:
    """OpenCV's conversion from decoded BGR to the model's channels."""
    return cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB


def _media_frames(path: str, indices: Sequence[int], channels: int) -> Iterator[tuple[int, np.ndarray]]:
    capture = open_capture(path)
    try:
        for idx, decoded in decoded_frames(capture, path, indices):
            frame = cv2.cvtColor(decoded, conversion_code(channels))
            yield idx, frame.reshape(frame.shape[0], frame.shape[1], channels)
    finally:
        capture.release()


def iter_frames(video: sio.Video, indices: Sequence[int], channels: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(frame_idx, frame)` for sorted `indices`, frames `(height, width, channels)` uint8.

    Media files are decoded sequentially with OpenCV (skipping short gaps by decoding, seeking
    only across long ones); embedded images of a `.pkg.slp` are read through sleap-io, images of
    an image-list video with OpenCV.
    """
    if is_image_list(video):
        for idx in indices:
            yield idx, read_image(video.filename[idx], channels)
        return
    if not is_embedded(video):
        yield from _media_frames(str(video.filename), indices, channels)
        return
    for idx in indices:
        try:
            frame = video[idx]
        except Exception as exc:
            raise PosennError(f"{video.filename}: could not read embedded frame {idx} ({exc}).") from None
        yield idx, to_channels(np.asarray(frame), channels)


@dataclass
class DecodedBatch:
    """Consecutive frames of one video, decoded.

    Attributes:
        indices: `(batch,)` frame indices.
        frames: `(batch, height, width, channels)` uint8, zero-padded to the largest frame.
        sizes: `(batch, 2)` height and width of each frame.
    """

    indices: np.ndarray
    frames: np.ndarray
    sizes: np.ndarray


def decode_batches(
    video: sio.Video, segments: Sequence[Sequence[int]], channels: int, batch_size: int, threads: int = 0
) -> Iterator[tuple[int, DecodedBatch]]:
    """Decode the sorted frame indices of each segment, in order, into batches of up to
    `batch_size` frames that never span two segments; yields `(segment number, batch)`.

    Media files are read by one decoder (FFmpeg on `threads` threads, 0 for OpenCV's choice)
    that seeks only across gaps and decodes straight into each batch's array; embedded frames of
    a `.pkg.slp` and image lists go through `iter_frames` (images may differ in size: zero-padded).
    """
    if is_embedded(video) or is_image_list(video):
        for number, segment in enumerate(segments):
            for start in range(0, len(segment), batch_size):
                pairs = list(iter_frames(video, segment[start : start + batch_size], channels))
                sizes = np.array([frame.shape[:2] for _, frame in pairs])
                frames = np.zeros((len(pairs), *sizes.max(axis=0), channels), np.uint8)
                for row, (_, frame) in enumerate(pairs):
                    frames[row, : frame.shape[0], : frame.shape[1]] = frame
                yield number, DecodedBatch(np.array([idx for idx, _ in pairs]), frames, sizes)
        return
    path = str(video.filename)
    capture = open_capture(path, threads)
    stream = decoded_frames(capture, path, itertools.chain.from_iterable(segments))
    try:
        for number, segment in enumerate(segments):
            for start in range(0, len(segment), batch_size):
                batch_indices = np.asarray(segment[start : start + batch_size], dtype=np.int64)
                frames = None
                for row, (idx, decoded) in enumerate(itertools.islice(stream, len(batch_indices))):
                    if frames is None:
                        frames = np.empty((len(batch_indices), decoded.shape[0], decoded.shape[1], channels), np.uint8)
                    if decoded.shape[:2] != frames.shape[1:3]:
                        raise PosennError(f"{path}: frame {idx} is {decoded.shape[1]}×{decoded.shape[0]} px, earlier frames "
                                          f"{frames.shape[2]}×{frames.shape[1]}; a video's frames must share one size.")
                    cv2.cvtColor(decoded, conversion_code(channels), dst=frames[row])
                yield number, DecodedBatch(batch_indices, frames, np.tile(frames.shape[1:3], (len(frames), 1)))
    finally:
        capture.release()


def prefetch_many(sources: Sequence[Iterable[T]], depth: int = 4) -> Iterator[T]:
    """Produce the items of several iterables, each on its own thread, up to `depth` ahead of
    the consumer, in the order they are ready (each source's items stay in their order).

    Exceptions raised by a producer are re-raised in the consumer; when the consumer stops,
    the producers stop too.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce(items: Iterable[T]) -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    threads = [threading.Thread(target=produce, args=(items,), daemon=True) for items in sources]
    for thread in threads:
        thread.start()
    remaining = len(threads)
    try:
        while remaining:
            item = buffer.get()
            if item is done:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        while any(thread.is_alive() for thread in threads):
            try:
                buffer.get_nowait()
            except queue.Empty:
                for thread in threads:
                    thread.join(timeout=0.01)


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Produce `items` on a background thread, `depth` ahead of the consumer.

    Exceptions raised by the producer are re-raised in the consumer.
    """
    return prefetch_many([items], depth)


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
