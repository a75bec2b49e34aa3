"""Real-time latency: per-frame latency of `posenn.Predictor` per model type and runtime, and a
live run of `posenn stream` on a 1024×1024 video played at 30 frames/s.

Models (trained here unless given):

- single instance at 384×384: one synthetic animal (`posenn synth --animals 1 --size 384`),
  trained for `--steps` steps at each of `--single-scales` (1: the 384×384 frame itself, as
  `posenn config` chooses for it; 0.5: a 192×192 input), or `--single MODEL...`;
- top-down pair at 1024×1024: the two-fly sample centred in a 1024×1024 frame, as in
  `long_video.py` (centroid at scale 0.25, centered instance with 192 px crops), trained for
  `--steps` steps, or `--topdown CENTROID CENTERED`.

Measured, on `--device` (default cpu):

1. per-frame latency: `predictor(frame)` on frames already in memory, one after another,
   tracking included (the online tracker, `max_instances` 2): p50/p95/p99/max and frames/s, for
   PyTorch float32, PyTorch bfloat16 and ONNX Runtime (on a GPU: float32 and float16);
2. live: `posenn stream`'s loop on the 1024×1024 video played at `--live-fps` frames/s as if it
   came from a camera (newest frame first): results/s, dropped frames, p50/p95/p99 from capture to
   result; then `posenn track` (`--max-tracks 2`) on the same frames, and the IDF1 of the live
   identities against its identities (on the frames the stream predicted).

    python benchmarks/latency.py                                  # trains the models (a few minutes)
    python benchmarks/latency.py --topdown models/centroid models/centered --single models/single
    python benchmarks/latency.py --work /tmp/latency --topdown ...   # models trained in --work are reused

Results go to benchmarks/results/latency_<device>.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import report, train_model
from long_video import padded_sample, train_pair

from posenn.config import load_config
from posenn.evaluation.tracking import evaluate_tracking_arrays
from posenn.inference.realtime import PoseResult, Predictor
from posenn.inference.run import TrackOptions, thread_budget, track
from posenn.inference.stream import Captured, StreamReport, open_source, run_stream
from posenn.io.images import conversion
from posenn.synth import generate
from posenn.tracking import TrackerOptions


def read_frames(video: Path, count: int, channels: int) -> list[np.ndarray]:
    """The first `count` frames of a video, `(H, W, channels)` uint8."""
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, decoded = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(decoded, conversion(channels)).reshape(*decoded.shape[:2], channels))
    capture.release()
    return frames


def runtimes(device: str) -> list[tuple[str, str, str]]:
    """(label, runtime, precision) to compare on `device`."""
    if device == "cpu":
        return [("PyTorch float32", "torch", "32"), ("PyTorch bfloat16", "torch", "bf16"), ("ONNX Runtime float32", "onnx", "32")]
    return [("PyTorch float32", "torch", "32"), ("PyTorch float16", "torch", "16")]


def latency_row(model: str, label: str, latencies: np.ndarray, first: float) -> dict:
    """One table row of per-frame latencies (seconds)."""
    ms = latencies * 1000
    return {
        "model": model, "runtime": label,
        "first_ms": round(first * 1000, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1),
        "frames_per_s": round(len(ms) / (ms.sum() / 1000), 1),
    }


def per_frame(model_dirs: list[Path], frames: list[np.ndarray], device: str, runtime: str, precision: str) -> tuple[np.ndarray, float]:
    """Seconds of each `predictor(frame)` call after the first, and the first call's."""
    predictor = Predictor(model_dirs, device=device, runtime=runtime, precision=precision, max_instances=2,
                          frame_shape=frames[0].shape[:2])
    seconds = []
    for frame in frames:
        start = time.perf_counter()
        predictor(frame)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds[1:]), seconds[0]


def live_run(model_dirs: list[Path], video: Path, device: str, runtime: str, precision: str, fps: float,
             frames: int) -> tuple[StreamReport, list[PoseResult]]:
    """`posenn stream`'s loop on `video` played at `fps`, for its first `frames` frames."""
    predictor = Predictor(model_dirs, device=device, runtime=runtime, precision=precision, max_instances=2)
    source = open_source(str(video), predictor.pipeline.channels, fps=fps)
    source.count = frames
    results: list[PoseResult] = []

    def keep(item: Captured, result: PoseResult, latency: float) -> None:
        results.append(result)

    with thread_budget(runtime):  # as `posenn stream`
        return run_stream(source, predictor, [keep]), results


def identity_agreement(live: list[PoseResult], video: Path, model_dirs: list[Path], frames: int, device: str,
                       runtime: str, work: Path) -> dict:
    """IDF1 of the live identities against `posenn track --max-tracks 2` on the same video."""
    options = TrackOptions(max_instances=2, device=device, runtime=runtime, frames=f"0-{frames - 1}", quiet=True,
                           tracker=TrackerOptions(max_tracks=2))
    labels = track(video, model_dirs, work / "tracked.slp", options)
    by_frame = {lf.frame_idx: lf for lf in labels.labeled_frames}
    rows = []
    for result in live:
        frame = by_frame.get(result.frame_idx)
        instances = [inst for inst in frame.instances if inst.track is not None] if frame else []
        truth = np.stack([inst.numpy() for inst in instances]) if instances else np.zeros((0, len(result.node_names), 2))
        truth_ids = np.array([labels.tracks.index(inst.track) for inst in instances], dtype=int)
        rows.append((truth, truth_ids, result.points.astype(float), result.track_ids))
    metrics = evaluate_tracking_arrays(rows, np.full(len(live[0].node_names), 0.025))
    return {"idf1": metrics["idf1"], "id_switches": metrics["id_switches"], "frames": len(rows)}


def single_instance_model(work: Path, steps: int, scale: float) -> Path:
    """A single-instance model trained on one synthetic animal at 384×384, input at `scale`
    (reused when `work` holds it already)."""
    folder = work / f"single_scale{scale:g}"
    if (folder / "best.ckpt").is_file():
        return folder
    labels = generate(work / "single_synth", animals=1, frames=200, size=384, seed=0)
    train_model(labels, "single_instance", folder, steps, "user", ["train.device=cpu", "train.batch_size=8", f"data.scale={scale}"])
    return folder


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topdown", nargs=2, type=Path, metavar=("CENTROID", "CENTERED"), help="a trained top-down pair for 1024×1024 frames")
    parser.add_argument("--single", type=Path, nargs="+", help="trained single-instance models for 384×384 frames")
    parser.add_argument("--single-scales", type=float, nargs="+", default=[1.0, 0.5],
                        help="input scales of the single-instance models trained here")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each model trained here")
    parser.add_argument("--frames", type=int, default=300, help="frames per per-frame latency measurement")
    parser.add_argument("--live-frames", type=int, default=900, help="frames of the live run (30 s at 30 frames/s)")
    parser.add_argument("--live-fps", type=float, default=30.0)
    parser.add_argument("--live-runtime", default="torch", help="runtime of the live run (torch, onnx)")
    parser.add_argument("--live-precision", default="bf16", help="precision of the live run (32, bf16; onnx: 32)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="folder for the videos and models (default: a temporary one)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        video, labels = padded_sample(work)
        pair = list(args.topdown) if args.topdown else train_pair(labels, work, args.steps)
        singles = args.single or [single_instance_model(work, args.steps, scale) for scale in args.single_scales]
        single_video = generate(work / "single_clip", animals=1, frames=args.frames + 1, size=384, seed=5).with_suffix(".mp4")

        rows = []
        cases = [(f"single instance 384×384, input scale {load_config(folder / 'config.yaml').data.scale:g}", [folder], single_video)
                 for folder in singles]
        cases.append(("top-down 1024×1024, 2 animals", pair, video))
        for name, model_dirs, source in cases:
            frames = read_frames(source, args.frames + 1, 1)
            for label, runtime, precision in runtimes(args.device):
                latencies, first = per_frame(model_dirs, frames, args.device, runtime, precision)
                rows.append(latency_row(name, label, latencies, first))
                print(rows[-1], flush=True)
        stream_report, live = live_run(pair, video, args.device, args.live_runtime, args.live_precision, args.live_fps, args.live_frames)
        summary = stream_report.summary()
        agreement = identity_agreement(live, video, pair, args.live_frames, args.device, args.live_runtime, work)
        rows.append({
            "model": "top-down 1024×1024, 2 animals", "runtime": f"live at {args.live_fps:g} frames/s, {args.live_runtime} {args.live_precision}",
            "first_ms": "", "p50_ms": summary["latency_ms"]["p50"], "p95_ms": summary["latency_ms"]["p95"],
            "p99_ms": summary["latency_ms"]["p99"], "max_ms": summary["latency_max_ms"], "frames_per_s": summary["results_per_s"],
            "dropped": f"{stream_report.dropped} of {stream_report.captured} ({100 * stream_report.dropped_fraction:.1f}%)",
            "idf1_vs_track": round(agreement["idf1"], 4),
        })
        for row in rows[:-1]:
            row.update(dropped="", idf1_vs_track="")
        report(f"Per-frame latency on {args.device}, tracking included (ms)", rows, f"latency_{args.device}")


if __name__ == "__main__":
    main()
