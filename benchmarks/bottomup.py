"""Bottom-up on the two-fly sample: accuracy on held-out frames, and where inference time goes.

Trains a bottom-up model on `centered_pair_predictions.slp` (predicted instances as labels) for a
fixed step budget, or loads one with `--model`, then reports OKS mAP on the held-out frames and
splits the time per frame into: the network's forward pass, peak finding and limb scoring on the
device, and the Hungarian assignment and grouping on the CPU.

    python benchmarks/bottomup.py [--steps 800] [--model models/bottomup] [--frames 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import sleap_io as sio
import torch

from common import report, train_model
from posenn.evaluation.pose import evaluate_labels
from posenn.inference.frames import to_device_batch
from posenn.inference.predictor import load_model
from posenn.inference.run import TrackOptions, track
from posenn.io.video import decode_batches, open_video

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LABELS = DATA / "centered_pair_predictions.slp"
VIDEO = DATA / "centered_pair_low_quality.mp4"
# posenn config's choices (full resolution, training windows of 240 px around a fly), any rotation.
SETTINGS = ["augment.rotation=180"]


def accuracy(folder: Path, work: Path) -> dict:
    """OKS figures on the held-out frames of the model's own split (two flies: --max-instances 2)."""
    held_out = folder / "labels_val.slp"
    predictions = track(held_out, [folder], work / "held_out.slp", TrackOptions(quiet=True, max_instances=2))
    truth = sio.load_slp(str(held_out))
    metrics = evaluate_labels(truth, predictions)
    counts = {lf.frame_idx: len(lf.instances) for lf in predictions}
    two = np.mean([counts.get(lf.frame_idx, 0) == 2 for lf in truth])
    return {
        "held_out_frames": len(truth),
        "oks_map": round(metrics["oks_map"], 3),
        "oks_ap50": round(metrics["oks_ap50"], 3),
        "dist_p50_px": round(metrics["dist_p50"], 2),
        "frames_with_two_flies": f"{two:.0%}",
    }


def timing(folder: Path, n_frames: int, batch_size: int) -> dict:
    """Milliseconds per frame of each inference stage, on frames decoded beforehand."""
    device = torch.device("cpu")
    model = load_model(folder, device)
    scale, channels = model.config.data.scale, model.config.data.channels
    decoded = decode_batches(open_video(VIDEO), [range(n_frames)], channels, batch_size)
    batches = [to_device_batch(batch.indices, batch.frames, device).images(scale, channels) for _, batch in decoded]
    threshold = model.config.inference.peak_threshold
    stages = {"forward": 0.0, "peaks_and_limb_scores": 0.0, "assignment_and_grouping": 0.0}
    with torch.inference_mode():
        for images in batches:
            start = time.perf_counter()
            outputs = model.model(images)
            middle = time.perf_counter()
            candidates = model.head.limb_candidates(outputs, threshold)
            decoded = time.perf_counter()
            model.head.assemble(candidates)
            stages["forward"] += middle - start
            stages["peaks_and_limb_scores"] += decoded - middle
            stages["assignment_and_grouping"] += time.perf_counter() - decoded
    per_frame = {f"{name}_ms": round(1000 * seconds / n_frames, 2) for name, seconds in stages.items()}
    per_frame["grouping_vs_forward"] = round(stages["assignment_and_grouping"] / stages["forward"], 3)
    return per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800, help="training steps when no --model is given")
    parser.add_argument("--model", type=Path, help="a trained bottom-up model folder on the fly data")
    parser.add_argument("--frames", type=int, default=200, help="video frames for the timing")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder, seconds = args.model, None
        if folder is None:
            folder, seconds = train_model(LABELS, "bottomup", work / "bottomup", args.steps, "predicted", SETTINGS)
        row = {"case": "flies bottom-up", "training_steps": args.steps if seconds else "given",
               "training_seconds": round(seconds, 1) if seconds else ""}
        row |= accuracy(folder, work)
        row |= timing(folder, args.frames, args.batch_size)
    report("Bottom-up on the two-fly sample (CPU)", [row], "bottomup")


if __name__ == "__main__":
    main()
