"""How fast can inference go on this machine, and how close does `posenn track` get?

Measures three rates in frames per second:

- decode: sequential reading of the sample videos, with posenn's reader (`iter_frames`, which
  also converts colour) and with a bare `cv2.VideoCapture.read` loop;
- forward: a small trained top-down pair's networks alone on preprocessed batches already in
  memory (per batch, the centroid network on the scaled frames, then the centered-instance
  network on as many crops per frame as `posenn track` found), called as `posenn track` calls
  them, in each runtime and precision it offers:
  PyTorch float32 and bfloat16 (channels-last) and ONNX Runtime when it is installed;
- end to end: `posenn track` with tracking on the flies video in the same runtime and precision,
  as a fraction of the lower of the two ceilings (decode, that forward); the run and the forward
  timing alternate for `--rounds` rounds and their medians are compared.

Results go to benchmarks/results/speed_ceilings.json.

    python benchmarks/speed_ceilings.py              # 1100 frames, 3 rounds, about 8 minutes on 2 cores
    python benchmarks/speed_ceilings.py --quick      # 200 frames, shorter timing and training
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import sleap_io as sio
import torch
from common import report, seconds_per_call, train_model

from posenn.data.cache import resize_frame
from posenn.inference.predictor import TrainedModel, load_model
from posenn.inference.run import TrackOptions, track
from posenn.io.video import iter_frames
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


def network_inputs(centroid: TrainedModel, instance: TrainedModel, n_crops: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of flies frames at the centroid model's scale, and `n_crops` crops at the
    instance model's: `(batch, 1, h, w)` and `(n_crops, 1, crop, crop)`, channels-last."""
    video = sio.load_video(str(FLIES_VIDEO))
    frames = [resize_frame(video[i], centroid.config.data.scale) for i in range(BATCH_SIZE)]
    scaled = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    side = instance.head.crop_size
    crops = torch.rand(n_crops, 1, side, side)
    return (scaled.contiguous(memory_format=torch.channels_last), crops.contiguous(memory_format=torch.channels_last))


def forward_rate(models: list[Path], variant: Variant, crops_per_frame: float, seconds: float) -> float:
    """Frames/s of the trained pair's networks alone, in one runtime and precision: per batch,
    the centroid network on the frames, then the instance network on their crops, as in
    `posenn track`."""
    runtime, precision = variant
    centroid, instance = (load_model(path, torch.device("cpu"), runtime, precision) for path in models)
    frames, crops = network_inputs(centroid, instance, round(crops_per_frame * BATCH_SIZE))

    def run() -> None:
        with torch.inference_mode():
            centroid.model(frames)
            instance.model(crops)

    return BATCH_SIZE / seconds_per_call(run, seconds)


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


def variant_rows(models: list[Path], variant: Variant, n_frames: int, decode: float, seconds: float, rounds: int,
                 work: Path) -> list[dict]:
    """`posenn track` with tracking in one runtime and precision, and the forward ceiling of the
    same networks on as many crops per frame as it found, measured in turn for `rounds` rounds
    (this VM's speed drifts by up to a quarter within minutes, so the two are measured side by
    side and the medians compared): the predict loop (as a share of the lower ceiling) and the
    whole call (adds loading the models, tracking and saving)."""
    runtime, precision = variant
    name = VARIANT_NAMES[variant]
    options = TrackOptions(frames=f"0-{n_frames - 1}", max_instances=ANIMALS_PER_FRAME, device="cpu", runtime=runtime,
                           precision=precision, quiet=True, tracker=TrackerOptions())
    forward, predicting, whole, found = [], [], [], 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        labels = track(FLIES_VIDEO, models, work / f"flies_{runtime}_{precision}.slp", options)
        whole.append(n_frames / (time.perf_counter() - start))
        predicting.append(n_frames / labels.provenance["elapsed_s"])
        found = sum(len(lf.instances) for lf in labels) / n_frames
        forward.append(forward_rate(models, variant, found, seconds))
    forward_median, predicting_median = statistics.median(forward), statistics.median(predicting)
    ceiling = min(decode, forward_median)
    crops = f"batches of {BATCH_SIZE} frames, {found:.2f} crops per frame (the flies found end to end)"
    spread = f"median of {rounds} rounds, {min(forward):.1f}–{max(forward):.1f}"
    return [
        row("forward top-down pair (trained)", name, forward_median, f"{crops}; {spread}"),
        row("end to end posenn track (flies)", f"{name}, predict loop", predicting_median,
            f"{predicting_median / ceiling:.0%} of the lower ceiling ({ceiling:.1f} frames/s); median of {rounds} rounds, "
            f"{min(predicting):.1f}–{max(predicting):.1f}"),
        row("end to end posenn track (flies)", f"{name}, whole call", statistics.median(whole),
            "with model loading, tracking, saving"),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1100, help="Frames to decode and to track (default: all 1100).")
    parser.add_argument("--quick", action="store_true", help="200 frames and 3 s per forward timing (instead of 5 s).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of end-to-end run and forward timing per variant (default 3).")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"sample data not found at {DATA}")
    n_frames = 200 if args.quick else args.frames
    timing_seconds = 3.0 if args.quick else 5.0
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = decode_rows(n_frames)
        flies_decode = rows[0]["frames_per_second"]
        models = train_pair(work)
        for variant in VARIANTS if has_onnxruntime() else VARIANTS[:2]:
            rows += variant_rows(models, variant, n_frames, flies_decode, timing_seconds, args.rounds, work)
    report(f"Inference speed ceilings on this machine ({n_frames} frames)", rows, "speed_ceilings")


if __name__ == "__main__":
    main()
