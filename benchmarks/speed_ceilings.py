"""How fast can inference go on this machine, and how close does `posenn track` get?

Measures three rates in frames per second:

- decode: sequential reading of the sample videos, with posenn's reader (`iter_frames`, which
  also converts colour) and with a bare `cv2.VideoCapture.read` loop;
- forward: the top-down networks alone on preprocessed batches already in memory (centroid on
  the scaled frame, centered instance on two crops per frame, the two flies), random weights,
  eager PyTorch, channels_last, and ONNX Runtime when it is installed;
- end to end: `posenn track` with a small trained top-down pair on the flies video, as a
  fraction of the lower of the two ceilings (decode, forward).

Results go to benchmarks/results/speed_ceilings.json.

    python benchmarks/speed_ceilings.py              # 1100 frames, about 6 minutes on 2 cores
    python benchmarks/speed_ceilings.py --quick      # 200 frames, shorter timing and training
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import sleap_io as sio
import torch
from common import report, train_model

from posenn.autoconfig import config_from_labels
from posenn.config import Config
from posenn.data.cache import resize_frame
from posenn.inference.run import TrackOptions, track
from posenn.io.video import iter_frames
from posenn.models.model import PoseModel
from posenn.tracking import TrackerOptions
from posenn.training.module import PoseModule

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLIES_LABELS = DATA / "centered_pair_predictions.slp"
FLIES_VIDEO = DATA / "centered_pair_low_quality.mp4"
VIDEOS = ["centered_pair_low_quality.mp4", "centered_pair_small.mp4", "dance.mp4"]
ANIMALS_PER_FRAME = 2
BATCH_SIZE = 8
CENTROID_STEPS = 100
INSTANCE_STEPS = 50


def rate(n_frames: int, seconds: float) -> float:
    """Frames per second, one decimal."""
    return round(n_frames / seconds, 1)


def posenn_decode_rate(path: Path, n_frames: int) -> float:
    """Frames/s of posenn's reader over the first `n_frames`, in the video's own channels."""
    video = sio.load_video(str(path))
    channels = 1 if video.shape[-1] == 1 else 3
    n_frames = min(n_frames, video.shape[0])
    start = time.perf_counter()
    for _ in iter_frames(video, range(n_frames), channels):
        pass
    return rate(n_frames, time.perf_counter() - start)


def opencv_decode_rate(path: Path, n_frames: int) -> float:
    """Frames/s of a bare `cv2.VideoCapture.read` loop (BGR frames, no conversion)."""
    capture = cv2.VideoCapture(str(path))
    start = time.perf_counter()
    decoded = 0
    while decoded < n_frames and capture.read()[0]:
        decoded += 1
    seconds = time.perf_counter() - start
    capture.release()
    return rate(decoded, seconds)


def decode_rows(n_frames: int) -> list[dict]:
    """Two rows per sample video: posenn's and OpenCV's sequential decode rates."""
    rows = []
    for name in VIDEOS:
        path = DATA / name
        rows.append(row(f"decode {name}", "posenn iter_frames", posenn_decode_rate(path, n_frames), "with colour conversion"))
        rows.append(row(f"decode {name}", "cv2.VideoCapture", opencv_decode_rate(path, n_frames), "BGR frames as decoded"))
    return rows


def row(measure: str, variant: str, frames_per_second: float, note: str) -> dict:
    """A table row."""
    return {"measure": measure, "variant": variant, "frames_per_second": round(frames_per_second, 1), "note": note}


def random_model(model_type: str) -> tuple[Config, PoseModel]:
    """A flies config for `model_type` and its network with random weights, in eval mode."""
    config = config_from_labels(FLIES_LABELS, model_type, "predicted")
    torch.manual_seed(0)
    return config, PoseModule(config.model_dump(mode="json")).model.eval()


def top_down_inputs() -> dict[str, tuple[PoseModel, torch.Tensor]]:
    """For each top-down model: the network and one batch of its inputs (frames' worth: 8)."""
    frame = np.zeros((384, 384, 1), np.uint8)
    centroid_config, centroid = random_model("centroid")
    scaled = resize_frame(frame, centroid_config.data.scale)
    frames = torch.rand(BATCH_SIZE, 1, scaled.shape[0], scaled.shape[1])
    instance_config, instance = random_model("centered_instance")
    side = instance_config.model.crop_size
    crops = torch.rand(BATCH_SIZE * ANIMALS_PER_FRAME, 1, side, side)
    return {"centroid": (centroid, frames), "centered_instance": (instance, crops)}


def seconds_per_call(run: Callable[[], object], seconds: float) -> float:
    """Mean seconds of one `run()` over about `seconds` of repeats, after two warm-up calls."""
    run(), run()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        run()
        calls += 1
    return elapsed / calls


def torch_runner(model: PoseModel, batch: torch.Tensor, channels_last: bool) -> Callable[[], object]:
    """A call that runs `model` on `batch` under inference mode."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        batch = batch.contiguous(memory_format=torch.channels_last)

    def run() -> torch.Tensor:
        with torch.inference_mode():
            return model(batch)

    return run


def onnx_runner(model: PoseModel, batch: torch.Tensor, folder: Path) -> Callable[[], object]:
    """A call that runs `model`, exported to ONNX for this batch shape, with ONNX Runtime."""
    import onnxruntime

    path = folder / f"model_{'x'.join(map(str, batch.shape))}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic
        torch.onnx.export(model, (batch,), str(path), dynamo=False, input_names=["images"], output_names=["maps"])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    images = batch.numpy()
    return lambda: session.run(None, {"images": images})


def has_onnxruntime() -> bool:
    """Whether ONNX Runtime is installed."""
    return importlib.util.find_spec("onnxruntime") is not None


def forward_rows(seconds: float, folder: Path) -> list[dict]:
    """Forward rates (frames/s) of each top-down network and of the pair, per variant."""
    inputs = top_down_inputs()
    variants = ["eager", "channels_last"] + (["onnxruntime"] if has_onnxruntime() else [])
    rows = []
    for variant in variants:
        per_frame = {}
        for name, (model, batch) in inputs.items():
            if variant == "onnxruntime":
                run = onnx_runner(model, batch, folder)
            else:
                run = torch_runner(model, batch, channels_last=variant == "channels_last")
            per_frame[name] = seconds_per_call(run, seconds) / BATCH_SIZE
            shape = "x".join(map(str, batch.shape[1:]))
            rows.append(row(f"forward {name}", variant, 1 / per_frame[name], f"batches of {len(batch)} x {shape}"))
        both = sum(per_frame.values())
        rows.append(row("forward top-down pair", variant, 1 / both, f"{ANIMALS_PER_FRAME} crops per frame"))
    return rows


def train_pair(work: Path) -> list[Path]:
    """A top-down pair of the flies trained just enough for the centroid model to find them
    (speed does not depend on how well the instance model has learned)."""
    small_validation = ["data.val_fraction=0.02"]
    centroid, _ = train_model(FLIES_LABELS, "centroid", work / "centroid", CENTROID_STEPS, "predicted", small_validation)
    instance, _ = train_model(FLIES_LABELS, "centered_instance", work / "centered", INSTANCE_STEPS, "predicted", small_validation)
    return [centroid, instance]


def end_to_end_rows(models: list[Path], n_frames: int, ceiling: float, work: Path) -> list[dict]:
    """`posenn track` on the flies video with tracking: the predict loop (its share of the
    ceiling) and the whole call (adds loading the models, tracking and saving)."""
    options = TrackOptions(frames=f"0-{n_frames - 1}", max_instances=ANIMALS_PER_FRAME, device="cpu",
                           quiet=True, tracker=TrackerOptions())
    start = time.perf_counter()
    labels = track(FLIES_VIDEO, models, work / "flies.slp", options)
    total = time.perf_counter() - start
    predicting = n_frames / labels.provenance["elapsed_s"]
    found = sum(len(lf.instances) for lf in labels) / n_frames
    return [
        row("end to end posenn track (flies)", "predict loop", predicting,
            f"{predicting / ceiling:.0%} of the lower ceiling ({ceiling} frames/s); {found:.2f} flies found per frame"),
        row("end to end posenn track (flies)", "whole call", n_frames / total, "with model loading, tracking, saving"),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1100, help="Frames to decode and to track (default: all 1100).")
    parser.add_argument("--quick", action="store_true", help="200 frames and 3 s per forward timing (instead of 10 s).")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"sample data not found at {DATA}")
    n_frames = 200 if args.quick else args.frames
    timing_seconds = 3.0 if args.quick else 10.0
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = decode_rows(n_frames)
        rows += forward_rows(timing_seconds, work)
        flies_decode = rows[0]["frames_per_second"]
        pair_eager = next(r for r in rows if r["measure"] == "forward top-down pair" and r["variant"] == "eager")
        ceiling = min(flies_decode, pair_eager["frames_per_second"])
        rows += end_to_end_rows(train_pair(work), n_frames, ceiling, work)
    report(f"Inference speed ceilings on this machine ({n_frames} frames)", rows, "speed_ceilings")


if __name__ == "__main__":
    main()
