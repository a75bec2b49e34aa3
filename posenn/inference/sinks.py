"""Where `posenn stream` sends each result: JSON lines, UDP datagrams, ZeroMQ, a window, a video.

Every sink is a callable `(frame, result, latency)`; `Sinks` opens the ones asked for and closes
them all (files are written to a temporary name and renamed when the stream ends).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import cv2
import numpy as np

from posenn.errors import PosennError
from posenn.inference.realtime import PoseResult
from posenn.io.atomic import atomic_path
from posenn.render import track_colour

if TYPE_CHECKING:
    from posenn.inference.stream import Captured


def message(item: Captured, result: PoseResult, latency: float) -> bytes:
    """One result as a JSON line: frame, capture time (Unix seconds), latency, animals."""
    record = result.to_dict()
    record["time"] = round(time.time() - (time.perf_counter() - item.time), 6)
    record["latency_ms"] = round(latency * 1000, 3)
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` → (host, port).

    Raises:
        PosennError: for anything else.
    """
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PosennError(f"--udp '{text}': expected HOST:PORT, e.g. 127.0.0.1:9999.")
    return host, int(port)


class JsonLines:
    """JSON lines to a stream (flushed per line, so a reader sees each result at once)."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle

    def __call__(self, item: Captured, result: PoseResult, latency: float) -> None:
        self.handle.write(message(item, result, latency))
        self.handle.flush()


class Udp:
    """Each result as one UDP datagram of JSON."""

    def __init__(self, address: str):
        self.address = parse_address(address)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def __call__(self, item: Captured, result: PoseResult, latency: float) -> None:
        with contextlib.suppress(OSError):  # nobody listening is not an error for UDP
            self.socket.sendto(message(item, result, latency), self.address)


class Zmq:
    """Each result published as one ZeroMQ message (a PUB socket bound to `address`)."""

    def __init__(self, address: str):
        try:
            import zmq
        except ImportError:
            raise PosennError("--zmq needs pyzmq: pip install pyzmq (or use --udp).") from None
        self.socket = zmq.Context.instance().socket(zmq.PUB)
        try:
            self.socket.bind(address)
        except zmq.ZMQError as exc:
            raise PosennError(f"--zmq '{address}': cannot bind ({exc}); expected e.g. tcp://*:5555.") from None

    def __call__(self, item: Captured, result: PoseResult, latency: float) -> None:
        self.socket.send(message(item, result, latency))


def draw(frame: np.ndarray, result: PoseResult, edges: list[tuple[int, int]]) -> np.ndarray:
    """A BGR copy of `(H, W, C)` `frame` with each animal's skeleton in its track's colour."""
    image = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.shape[2] == 1 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    for points, track in zip(result.points, result.track_ids.tolist()):
        red, green, blue = track_colour(max(track, 0))
        colour = (blue, green, red)
        for a, b in edges:
            if not np.isnan(points[[a, b]]).any():
                cv2.line(image, tuple(np.round(points[a]).astype(int)), tuple(np.round(points[b]).astype(int)), colour, 1, cv2.LINE_AA)
        for xy in points[~np.isnan(points[:, 0])]:
            cv2.circle(image, tuple(np.round(xy).astype(int)), 2, colour, -1, cv2.LINE_AA)
    return image


class Recorder:
    """The frames with their skeletons drawn, into a video at the source's frame rate."""

    def __init__(self, path: Path, fps: float, edges: list[tuple[int, int]], stack: contextlib.ExitStack):
        self.path, self.fps, self.edges, self.stack = Path(path), fps, edges, stack
        self.writer: cv2.VideoWriter | None = None

    def __call__(self, item: Captured, result: PoseResult, latency: float) -> None:
        image = draw(item.frame, result, self.edges)
        if self.writer is None:
            temporary = self.stack.enter_context(atomic_path(self.path))
            self.writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, image.shape[1::-1])
            self.stack.callback(self.writer.release)
        self.writer.write(image)


class Window:
    """A live window with the skeletons; closing it (or q) stops the stream."""

    def __init__(self, edges: list[tuple[int, int]]):
        self.edges = edges

    def __call__(self, item: Captured, result: PoseResult, latency: float) -> None:
        cv2.imshow("posenn stream", draw(item.frame, result, self.edges))
        if cv2.waitKey(1) & 0xFF == ord("q"):
            raise KeyboardInterrupt


def open_sinks(stack: contextlib.ExitStack, jsonl: Path | None, stdout: bool, udp: str | None, zmq: str | None,
               record: Path | None, show: bool, fps: float, edges: list[tuple[int, int]]) -> list:
    """The sinks asked for; files are renamed into place when `stack` closes without error.

    Args:
        stack: closes the files and sockets.
        jsonl: JSON lines file, written under a temporary name until the end.
        stdout: JSON lines to standard output.
        udp: `HOST:PORT` for datagrams.
        zmq: ZeroMQ address to publish on.
        record: video of the frames with skeletons.
        show: a live window.
        fps: frame rate of the recording.
        edges: skeleton edges as node index pairs, for drawing.

    Returns:
        The sinks, each called as `sink(frame, result, latency)`.
    """
    sinks: list = []
    if jsonl is not None:
        temporary = stack.enter_context(atomic_path(jsonl))
        sinks.append(JsonLines(stack.enter_context(temporary.open("wb"))))
    if stdout:
        sinks.append(JsonLines(sys.stdout.buffer))
    if udp is not None:
        sink = Udp(udp)
        stack.callback(sink.socket.close)
        sinks.append(sink)
    if zmq is not None:
        sink = Zmq(zmq)
        stack.callback(sink.socket.close, 0)
        sinks.append(sink)
    if record is not None:
        sinks.append(Recorder(record, fps, edges, stack))
    if show:
        sinks.append(Window(edges))
        stack.callback(cv2.destroyAllWindows)
    return sinks
