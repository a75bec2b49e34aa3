"""`posenn stream`: a live source through the real-time Predictor, newest frame first.

A capture thread reads the source (a camera, a video file played at its own frame rate as if it
were live, or a folder of images at a given rate) into a one-frame mailbox. The predict loop
takes whatever frame is newest; a frame replaced before the loop took it is dropped and counted,
so latency never grows into a queue. Each result goes to the sinks (JSON lines, UDP, ZeroMQ, a
window, a recording); at the end, or on Ctrl-C, a latency report from capture to result.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from posenn.errors import PosennError
from posenn.inference.inputs import VIDEO_SUFFIXES
from posenn.inference.realtime import PoseResult, Predictor
from posenn.inference.run import thread_budget
from posenn.io.images import conversion, image_files, is_image, read_image
from posenn.io.video import open_capture


@dataclass
class Captured:
    """One frame from the source.

    Attributes:
        index: its index in the source (frames dropped later still count).
        frame: `(H, W, channels)` uint8, grey or RGB.
        time: `time.perf_counter()` when it was captured (for a file played live: when it was due).
    """

    index: int
    frame: np.ndarray
    time: float


class Mailbox:
    """Holds only the newest frame: putting one over a frame not yet taken drops that frame."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.item: Captured | None = None
        self.closed = False
        self.captured = 0
        self.dropped = 0

    def put(self, item: Captured) -> None:
        """Offer a new frame; the one waiting, if any, is dropped."""
        with self.condition:
            self.captured += 1
            if self.item is not None:
                self.dropped += 1
            self.item = item
            self.condition.notify()

    def close(self) -> None:
        """No more frames will come."""
        with self.condition:
            self.closed = True
            self.condition.notify_all()

    def take(self) -> Captured | None:
        """The newest frame (waiting for one), or None when the source has ended."""
        with self.condition:
            while self.item is None and not self.closed:
                self.condition.wait(0.1)
            item, self.item = self.item, None
            return item


class Source:
    """A capture thread that fills a mailbox from `frames()`; subclasses read the source."""

    def __init__(self, name: str, channels: int):
        self.name, self.channels = name, channels
        self.shape: tuple[int, int] | None = None  # (height, width) of the frames, when known before the first
        self.fps = 0.0
        self.mailbox = Mailbox()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.capture, daemon=True)

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """`(frame, capture time)` until the source ends or `stop` is set."""
        raise NotImplementedError

    def capture(self) -> None:
        """The capture thread: every frame into the mailbox, in order."""
        try:
            for index, (frame, when) in enumerate(self.frames()):
                if self.stop.is_set():
                    break
                self.mailbox.put(Captured(index, frame, when))
        except BaseException as exc:  # handed to the predict loop
            self.error = exc
        finally:
            self.close()
            self.mailbox.close()

    def close(self) -> None:
        """Release what the source holds."""

    def start(self) -> None:
        """Start capturing."""
        self.thread.start()

    def halt(self) -> None:
        """Stop capturing and wait for the thread."""
        self.stop.set()
        self.thread.join(timeout=5)


def frame_shape(capture: cv2.VideoCapture) -> tuple[int, int] | None:
    """Height and width a capture reports, None when it does not."""
    height, width = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    return (height, width) if height and width else None


def wait_until(due: float, stop: threading.Event) -> None:
    """Sleep until `time.perf_counter()` reaches `due`, or `stop` is set."""
    while (wait := due - time.perf_counter()) > 0 and not stop.is_set():
        time.sleep(min(wait, 0.05))


class CameraSource(Source):
    """A camera (an index or a device path) or any OpenCV capture string (a URL, a GStreamer
    pipeline); frames as fast as it delivers them."""

    def __init__(self, spec: str, channels: int):
        super().__init__(spec, channels)
        self.capture_device = cv2.VideoCapture(int(spec)) if spec.isdigit() else cv2.VideoCapture(spec)
        if not self.capture_device.isOpened():
            raise PosennError(
                f"camera '{spec}': cannot be opened (no such camera, in use by another program, or a capture "
                "string OpenCV does not understand). Give a camera index (0), a device (/dev/video0), a video "
                "file or a folder of images."
            )
        self.fps = self.capture_device.get(cv2.CAP_PROP_FPS) or 0.0
        self.shape = frame_shape(self.capture_device)

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        decoded = None
        while not self.stop.is_set():
            ok, decoded = self.capture_device.read(decoded)
            when = time.perf_counter()
            if not ok:
                return
            yield cv2.cvtColor(decoded, conversion(self.channels)).reshape(*decoded.shape[:2], self.channels), when

    def close(self) -> None:
        self.capture_device.release()


class VideoFileSource(Source):
    """A video file played at its own frame rate (times `speed`), as a camera would deliver it."""

    def __init__(self, path: Path, channels: int, speed: float = 1.0, fps: float | None = None):
        super().__init__(str(path), channels)
        self.capture_device = open_capture(str(path), threads=1)  # one decoder thread: the cores are the model's
        self.fps = (fps or self.capture_device.get(cv2.CAP_PROP_FPS) or 30.0) * speed
        self.count = int(self.capture_device.get(cv2.CAP_PROP_FRAME_COUNT)) or 2**62
        self.shape = frame_shape(self.capture_device)

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        start = time.perf_counter()
        for i in range(self.count):  # each frame decoded ahead, then delivered when it is due
            ok, decoded = self.capture_device.read()
            if not ok:
                return
            frame = cv2.cvtColor(decoded, conversion(self.channels)).reshape(*decoded.shape[:2], self.channels)
            wait_until(start + i / self.fps, self.stop)
            yield frame, start + i / self.fps

    def close(self) -> None:
        self.capture_device.release()


class ImageSource(Source):
    """Still images (a folder, a glob or one file) in natural order, at `fps`."""

    def __init__(self, spec: str, channels: int, fps: float):
        super().__init__(spec, channels)
        self.files = image_files(spec)
        self.fps = fps

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        start = time.perf_counter()
        for i, path in enumerate(self.files):  # each image read ahead, then delivered when it is due
            frame = read_image(path, self.channels)
            wait_until(start + i / self.fps, self.stop)
            yield frame, start + i / self.fps


def open_source(spec: str, channels: int, fps: float | None = None, speed: float = 1.0) -> Source:
    """The source `spec` names: a camera index or device, a video file, a folder (or glob) of
    images, or else an OpenCV capture string.

    Args:
        spec: what to read.
        channels: channels of the frames to deliver (1 grey, 3 RGB).
        fps: rate of image sources (default 30), or a video file's rate instead of its own.
        speed: a video file plays this many times faster than its frame rate.

    Raises:
        PosennError: for a missing file or folder, or a camera that cannot be opened.
    """
    if fps is not None and fps <= 0 or speed <= 0:
        raise PosennError(f"--fps and --speed must be positive, got {fps} and {speed}.")
    path = Path(spec)
    if path.is_dir() or (path.is_file() and is_image(path)) or (not path.exists() and any(c in spec for c in "*?[")):
        return ImageSource(spec, channels, fps or 30.0)
    if path.is_file():
        return VideoFileSource(path, channels, speed, fps)
    if path.suffix.lower() in VIDEO_SUFFIXES or is_image(path):
        raise PosennError(f"Source not found: {spec}")
    return CameraSource(spec, channels)


@dataclass
class StreamReport:
    """What a stream run measured.

    Attributes:
        captured: frames the source delivered.
        processed: frames predicted.
        dropped: frames replaced by a newer one before the model was free.
        seconds: from the first capture to the last result.
        latencies: `(processed,)` seconds from capture to result.
        model_times: `(processed,)` seconds of each predictor call.
    """

    captured: int
    processed: int
    dropped: int
    seconds: float
    latencies: np.ndarray
    model_times: np.ndarray

    @property
    def results_per_s(self) -> float:
        """Results per second of wall time."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def dropped_fraction(self) -> float:
        """Dropped frames as a share of those captured."""
        return self.dropped / self.captured if self.captured else 0.0

    def percentile_ms(self, q: float, model: bool = False) -> float:
        """The `q`-th percentile of latency (or of the predictor's time) in milliseconds."""
        values = self.model_times if model else self.latencies
        return float(np.percentile(values, q) * 1000) if len(values) else float("nan")

    def summary(self) -> dict:
        """The figures as a JSON-ready dict."""
        return {
            "captured": self.captured, "processed": self.processed, "dropped": self.dropped,
            "dropped_fraction": round(self.dropped_fraction, 4), "results_per_s": round(self.results_per_s, 2),
            "latency_ms": {f"p{q}": round(self.percentile_ms(q), 2) for q in (50, 95, 99)},
            "latency_max_ms": round(float(self.latencies.max() * 1000), 2) if len(self.latencies) else None,
            "model_ms": {f"p{q}": round(self.percentile_ms(q, model=True), 2) for q in (50, 99)},
        }

    def text(self) -> str:
        """The report as lines for people."""
        s = self.summary()
        return (
            f"{self.processed} results from {self.captured} frames in {self.seconds:.1f} s: {s['results_per_s']:.1f} results/s, "
            f"{self.dropped} dropped ({100 * self.dropped_fraction:.1f}%)\n"
            f"latency capture→result: p50 {s['latency_ms']['p50']:.1f} ms, p95 {s['latency_ms']['p95']:.1f} ms, "
            f"p99 {s['latency_ms']['p99']:.1f} ms (model p50 {s['model_ms']['p50']:.1f} ms)"
        )


Sink = Callable[[Captured, PoseResult, float], None]  # (frame, result, latency in s)


def run_stream(source: Source, predictor: Callable[..., PoseResult], sinks: list[Sink], max_frames: int | None = None,
               duration: float | None = None) -> StreamReport:
    """Predict the newest frame of `source` whenever the predictor is free, until the source
    ends, `max_frames` results, `duration` seconds, or Ctrl-C.

    Args:
        source: the source (started here, halted on return).
        predictor: called as `predictor(frame, frame_idx=index)`, e.g. a `Predictor`.
        sinks: called with each frame, its result and its latency.
        max_frames: stop after this many results.
        duration: stop after this many seconds.

    Returns:
        The figures of the run (also when stopped by Ctrl-C).

    Raises:
        PosennError: or any error of the capture thread, re-raised here.
    """
    latencies: list[float] = []
    model_times: list[float] = []
    first = last = None
    source.start()
    try:
        while max_frames is None or len(latencies) < max_frames:
            item = source.mailbox.take()
            if item is None:
                break
            first = item.time if first is None else first
            started = time.perf_counter()
            result = predictor(item.frame, frame_idx=item.index)
            last = time.perf_counter()
            latencies.append(last - item.time)
            model_times.append(last - started)
            for sink in sinks:
                sink(item, result, last - item.time)
            if duration is not None and last - first >= duration:
                break
    except KeyboardInterrupt:
        pass
    finally:
        source.halt()
    if source.error is not None and not isinstance(source.error, KeyboardInterrupt):
        raise source.error
    mailbox = source.mailbox
    return StreamReport(mailbox.captured, len(latencies), mailbox.dropped, (last - first) if first is not None else 0.0,
                        np.array(latencies), np.array(model_times))



@dataclass
class StreamOptions:
    """Outputs and limits of `posenn stream` (see `open_sinks` for the outputs)."""

    jsonl: Path | None = None
    stdout: bool = True
    udp: str | None = None
    zmq: str | None = None
    record: Path | None = None
    show: bool = False
    fps: float | None = None
    speed: float = 1.0
    max_frames: int | None = None
    duration: float | None = None


def stream(spec: str, predictor: Predictor, options: StreamOptions) -> StreamReport:
    """Run `predictor` on the live source `spec` with the outputs of `options`.

    Args:
        spec: camera index or device, capture string, video file, or folder / glob of images.
        predictor: a built `Predictor` (models loaded and warmed up).
        options: outputs and limits.

    Returns:
        The latency report's figures.

    Raises:
        PosennError: for a source that cannot be opened or outputs that cannot be made.
    """
    from posenn.inference.sinks import open_sinks

    source = open_source(spec, predictor.pipeline.channels, options.fps, options.speed)
    if source.shape is not None and source.shape != predictor.frame_shape:
        predictor.warm_up(np.zeros((*source.shape, predictor.pipeline.channels), np.uint8))
    with contextlib.ExitStack() as stack:
        sinks = open_sinks(stack, options.jsonl, options.stdout, options.udp, options.zmq, options.record, options.show,
                           source.fps or 30.0, predictor.edges)
        with thread_budget(predictor.runtime):  # OpenCV's conversions in the capture thread on one thread
            return run_stream(source, predictor, sinks, options.max_frames, options.duration)
