"""`posenn stream`: newest frame first (dropped, never queued), outputs, sources and their errors."""

import json
import socket
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posenn.cli import app
from posenn.errors import PosennError
from posenn.inference.realtime import PoseResult, Predictor
from posenn.inference.stream import Captured, Mailbox, open_source, run_stream
from posenn.io.images import read_image

pytestmark = pytest.mark.usefixtures("torch_single_thread")


class SlowPredictor:
    """Stands in for a model that takes `seconds` per frame; returns one animal at the frame's
    mean grey level, so results can be told apart."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, frame: np.ndarray, frame_idx: int) -> PoseResult:
        time.sleep(self.seconds)
        value = float(frame.mean())
        return PoseResult(frame_idx, np.array([[[value, value]]], np.float32), np.ones((1, 1), np.float32),
                          np.ones(1, np.float32), np.zeros(1, np.int64), ["track_0"], ["nose"])


def image_folder(folder: Path, count: int, size: int = 32) -> Path:
    """`count` grey PNGs whose grey level is their number (img0.png … natural order matters)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((size, size), i, np.uint8))
    return folder


def test_mailbox_keeps_only_the_newest_frame():
    mailbox = Mailbox()
    for i in range(3):
        mailbox.put(Captured(i, np.zeros((1, 1, 1), np.uint8), float(i)))
    assert mailbox.take().index == 2
    assert (mailbox.captured, mailbox.dropped) == (3, 2)
    mailbox.close()
    assert mailbox.take() is None


def test_a_source_faster_than_the_model_drops_frames_instead_of_queueing(tmp_path):
    folder = image_folder(tmp_path / "frames", 60)
    source = open_source(str(folder), 1, fps=300)  # a frame every 3.3 ms; the model takes 25 ms
    seen = []
    report = run_stream(source, SlowPredictor(0.025), [lambda item, result, latency: seen.append(item.index)])
    assert report.captured == 60
    assert report.processed == len(seen) < 20
    assert report.dropped == report.captured - report.processed
    assert seen == sorted(seen) and seen[-1] >= 55  # always the newest frame, up to the end
    # No queue: a frame waits at most for the call in progress, so latency stays under two calls
    # (a queue of 60 frames would make the last wait about 60 × 25 ms - 60 × 3.3 ms = 1.3 s).
    assert report.percentile_ms(99) < 60
    assert report.percentile_ms(50, model=True) >= 25


def test_a_slow_source_is_predicted_frame_by_frame_in_natural_order(tmp_path):
    folder = image_folder(tmp_path / "frames", 12)
    values = []
    report = run_stream(open_source(str(folder), 1, fps=100), SlowPredictor(0.0),
                        [lambda item, result, latency: values.append(result.points[0, 0, 0])])
    assert (report.processed, report.dropped) == (12, 0)
    assert values == list(range(12))  # img2 before img10
    assert 0.10 < report.seconds < 0.5 and report.results_per_s > 20


def test_a_camera_that_cannot_be_opened_is_a_clear_error(tmp_path):
    with pytest.raises(PosennError, match="camera '7': cannot be opened"):
        open_source("7", 1)
    with pytest.raises(PosennError, match="camera '/dev/video-missing': cannot be opened"):
        open_source("/dev/video-missing", 1)
    with pytest.raises(PosennError, match="Source not found: .*missing.mp4"):
        open_source(str(tmp_path / "missing.mp4"), 1)
    with pytest.raises(PosennError, match="no images"):
        open_source(str(tmp_path), 1)


def test_cli_stream_writes_json_lines_udp_and_a_report(realtime_pair, realtime_clip, tmp_path):
    folder = tmp_path / "clip_frames"
    folder.mkdir()
    capture = cv2.VideoCapture(str(realtime_clip))
    for i in range(10):
        cv2.imwrite(str(folder / f"f{i}.png"), capture.read()[1])
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    out, report_path = tmp_path / "out.jsonl", tmp_path / "report.json"
    result = CliRunner().invoke(app, ["stream", str(folder), "-m", str(realtime_pair[0]), "-m", str(realtime_pair[1]),
                                      "--device", "cpu", "--max-instances", "2", "--fps", "10", "--jsonl", str(out),
                                      "--udp", f"127.0.0.1:{port}", "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(10))
    datagrams = [json.loads(receiver.recv(65536)) for _ in range(10)]
    receiver.close()
    assert [d["frame"] for d in datagrams] == list(range(10))
    report = json.loads(report_path.read_text())
    assert report["processed"] == 10 and report["dropped"] == 0 and report["latency_ms"]["p99"] > 0
    # The same points as the Predictor on the same images.
    predictor = Predictor(realtime_pair, device="cpu", max_instances=2)
    for line in lines:
        expected = predictor(read_image(folder / f"f{line['frame']}.png", 1))
        assert [a["track_id"] for a in line["animals"]] == expected.track_ids.tolist()
        for animal, points in zip(line["animals"], expected.points):
            found = [xy for xy in animal["points"] if xy is not None]
            np.testing.assert_allclose(found, points[~np.isnan(points[:, 0])], atol=0.01)


def test_cli_stream_camera_error_exits_with_code_2(realtime_pair):
    result = CliRunner().invoke(app, ["stream", "7", "-m", str(realtime_pair[0]), "-m", str(realtime_pair[1]), "--device", "cpu"])
    assert result.exit_code == 2
    assert "camera '7': cannot be opened" in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs")
def test_ctrl_c_still_gives_the_report(tmp_path):
    folder = image_folder(tmp_path / "frames", 30)
    calls = []

    def interrupted(frame: np.ndarray, frame_idx: int) -> PoseResult:
        calls.append(frame_idx)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return SlowPredictor(0.0)(frame, frame_idx)

    report = run_stream(open_source(str(folder), 1, fps=200), interrupted, [])
    assert report.processed == 4 and len(report.latencies) == 4
