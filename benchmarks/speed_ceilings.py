"""How fast can inference go on this machine, and how close does `posenn track` get?

Measures, in frames per second:

- decode: sequential reading of the sample videos, with posenn's reader (`iter_frames`, which
  also converts colour) and with a bare `cv2.VideoCapture.read` loop;
- forward: a small trained top-down pair's networks alone, in each runtime and precision
  `posenn track` offers (PyTorch float32 and bfloat16, channels-last, and ONNX Runtime when it is
  installed): the network calls that the predict loop made on the flies video (the centroid
  network per batch of frames, the instance network on every crop) replayed on inputs of the
  same shapes already in memory;
- the predict loop over frames decoded beforehand, and `posenn track` with tracking (decoding on
  its reader thread), each as a share of the lower of the two ceilings (decode, that forward).
  The three timings alternate for `--rounds` rounds and their medians are compared.

Results go to benchmarks/results/speed_ceilings.json.

    python benchmarks/speed_ceilings.py              # 1100 frames, 3 rounds, about 12 minutes on 2 cores
    python benchmarks/speed_ceilings.py --quick      # 200 frames, to check that it runs
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import sleap_io as sio
import torch
from common import report, train_model

from posenn.inference.pipelines import TopDownPipeline
from posenn.inference.frames import FrameBatch, to_device_batch
from posenn.inference.run import TrackOptions, build_pipeline, thread_budget, track
from posenn.io.video import decode_batches, iter_frames
from posenn.tracking import TrackerOptions

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLIES_LABELS = DATA / "centered_pair_predictions.slp"
FLIES_VIDEO = DATA / "centered_pair_low_quality.mp4"
VIDEOS = ["centered_pair_low_quality.mp4", "centered_pair_small.mp4", "dance.mp4"]
ANIMALS_PER_FRAME = 2
Variant = tuple[str, str]  # (runtime, precision) as given to `posenn track`
VARIANTS: list[Variant] = [("torch", "32"), ("torch", "bf16"), ("onnx", "32")]
VARIANT_NAMES = {("torch", "32"): "pytorch float32", ("torch", "bf16"): "pytorch bfloat16", ("onnx", "32"): "onnxruntime"}
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


class RecordingModel:
    """Runs a network as it is and records each call's input shape, for the forward ceiling."""

    def __init__(self, model: Callable[[torch.Tensor], object], calls: list[tuple[Callable, torch.Size]]):
        self.model, self.calls = model, calls

    def __call__(self, images: torch.Tensor) -> object:
        self.calls.append((self.model, images.shape))
        return self.model(images)


def track_options(variant: Variant, n_frames: int) -> TrackOptions:
    """The options of `posenn track` on the first `n_frames` in one runtime and precision."""
    runtime, precision = variant
    return TrackOptions(frames=f"0-{n_frames - 1}", max_instances=ANIMALS_PER_FRAME, device="cpu", runtime=runtime,
                        precision=precision, quiet=True, tracker=TrackerOptions())


def load_pipeline(models: list[Path], options: TrackOptions) -> TopDownPipeline:
    """The pipeline `posenn track` builds for the pair with these options."""
    pipeline, _ = build_pipeline(models, torch.device("cpu"), options)
    return pipeline


def recording_calls(pipeline: TopDownPipeline, calls: list[tuple[Callable, torch.Size]]) -> TopDownPipeline:
    """The pipeline with its two networks recording every call in `calls`."""
    pipeline.centroid = dataclasses.replace(pipeline.centroid, model=RecordingModel(pipeline.centroid.model, calls))
    pipeline.instance = dataclasses.replace(pipeline.instance, model=RecordingModel(pipeline.instance.model, calls))
    return pipeline


def decoded_batches(pipeline: TopDownPipeline, n_frames: int) -> list[FrameBatch]:
    """The flies video's first `n_frames`, decoded and batched as `posenn track` batches them."""
    video = sio.load_video(str(FLIES_VIDEO))
    decoded = decode_batches(video, [range(n_frames)], pipeline.channels, BATCH_SIZE)
    return [to_device_batch(batch.indices, batch.frames, torch.device("cpu")) for _, batch in decoded]


def predict_in_memory(pipeline: TopDownPipeline, batches: list[FrameBatch]) -> float:
    """Seconds of the pipeline's predict loop over frames decoded beforehand."""
    start = time.perf_counter()
    for batch in batches:
        batch = dataclasses.replace(batch, _images={})  # resized again each time, as in `posenn track`
        pipeline.predict_batch(batch)
    return time.perf_counter() - start


def replay_seconds(calls: list[tuple[Callable, torch.Size]]) -> float:
    """Seconds of the recorded network calls alone, again, on inputs of the same shapes already
    in memory (random pixels, channels-last: a convolution's speed does not depend on them)."""
    inputs = {shape: torch.rand(shape).contiguous(memory_format=torch.channels_last) for _, shape in calls}
    with torch.inference_mode():
        start = time.perf_counter()
        for network, shape in calls:
            network(inputs[shape])
        return time.perf_counter() - start


def has_onnxruntime() -> bool:
    """Whether ONNX Runtime is installed."""
    return importlib.util.find_spec("onnxruntime") is not None


def train_pair(work: Path) -> list[Path]:
    """A top-down pair of the flies trained just enough for the centroid model to find them
    (speed does not depend on how well the instance model has learned)."""
    small_validation = ["data.val_fraction=0.02"]
    centroid, _ = train_model(FLIES_LABELS, "centroid", work / "centroid", CENTROID_STEPS, "predicted", small_validation)
    instance, _ = train_model(FLIES_LABELS, "centered_instance", work / "centered", INSTANCE_STEPS, "predicted", small_validation)
    return [centroid, instance]


def variant_rows(models: list[Path], variant: Variant, batches: list[FrameBatch], decode: float, rounds: int,
                 work: Path) -> list[dict]:
    """Three rates of one runtime and precision, measured in turn for `rounds` rounds (this VM's
    speed drifts by up to a quarter within minutes, so they are measured side by side and the
    medians compared):

    - forward: the networks alone, replaying the calls the predict loop made (the centroid
      network per batch, the instance network on every crop it cut, found animal or not);
    - the predict loop over frames decoded beforehand;
    - `posenn track` with tracking: its predict loop (decoding on the reader thread) as a share
      of the lower ceiling, and the whole call (adds loading the models, tracking and saving).
    """
    runtime, precision = variant
    name = VARIANT_NAMES[variant]
    n_frames = sum(len(batch.indices) for batch in batches)
    options = track_options(variant, n_frames)
    calls: list[tuple[Callable, torch.Size]] = []
    recording = recording_calls(load_pipeline(models, options), calls)
    with thread_budget(runtime):
        predict_in_memory(recording, batches)  # records the calls, and warms up every input shape
    crops_per_frame = sum(shape[0] for network, shape in calls if network is recording.instance.model.model) / n_frames
    pipeline = load_pipeline(models, options)
    forward, in_memory, predicting, whole = [], [], [], []
    for _ in range(rounds):
        with thread_budget(runtime):  # the threads `posenn track` gives each library
            forward.append(n_frames / replay_seconds(calls))
            in_memory.append(n_frames / predict_in_memory(pipeline, batches))
        start = time.perf_counter()
        labels = track(FLIES_VIDEO, models, work / f"flies_{runtime}_{precision}.slp", options)
        whole.append(n_frames / (time.perf_counter() - start))
        predicting.append(n_frames / labels.provenance["elapsed_s"])
    ceiling = min(decode, statistics.median(forward))

    def measured(rates: list[float]) -> tuple[float, str]:
        median = statistics.median(rates)
        return median, f"{median / ceiling:.0%} of the lower ceiling; median of {rounds} rounds, {min(rates):.1f}–{max(rates):.1f}"

    return [
        row("forward top-down pair (trained)", name, statistics.median(forward),
            f"batches of {BATCH_SIZE} frames, {crops_per_frame:.2f} crops per frame; "
            f"median of {rounds} rounds, {min(forward):.1f}–{max(forward):.1f}"),
        row("predict loop, frames in memory", name, *measured(in_memory)),
        row("end to end posenn track (flies)", f"{name}, predict loop", *measured(predicting)),
        row("end to end posenn track (flies)", f"{name}, whole call", statistics.median(whole),
            "with model loading, tracking, saving"),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1100, help="Frames to decode and to track (default: all 1100).")
    parser.add_argument("--quick", action="store_true", help="200 frames (for a check that the script runs).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of the three timings per variant (default 3).")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"sample data not found at {DATA}")
    n_frames = 200 if args.quick else args.frames
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = decode_rows(n_frames)
        flies_decode = rows[0]["frames_per_second"]
        models = train_pair(work)
        batches = decoded_batches(load_pipeline(models, track_options(VARIANTS[0], n_frames)), n_frames)
        for variant in VARIANTS if has_onnxruntime() else VARIANTS[:2]:
            rows += variant_rows(models, variant, batches, flies_decode, args.rounds, work)
    report(f"Inference speed ceilings on this machine ({n_frames} frames)", rows, "speed_ceilings")


if __name__ == "__main__":
    main()
