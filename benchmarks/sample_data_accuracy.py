"""Held-out accuracy on the SLEAP sample data after a fixed CPU training budget.

- dance (one person, 17 nodes): a single-instance model; median keypoint error on held-out
  frames against the error of always predicting the mean training pose.
- two flies (24 nodes): a top-down pair; OKS mAP / AP50, fraction of flies found, median error.

Their instances are predictions of an older model, used as labels. Same budgets as the tests in
tests/training. Results go to benchmarks/results/sample_data_accuracy.json.

    python benchmarks/sample_data_accuracy.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import sleap_io as sio
from common import report, train_model

from posenn.evaluation.pose import evaluate_labels
from posenn.inference.run import TrackOptions, track

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def first_poses(labels: sio.Labels) -> dict[int, np.ndarray]:
    """Frame index → `(nodes, 2)` of the first instance."""
    return {lf.frame_idx: lf.instances[0].numpy()[:, :2] for lf in labels if lf.instances}


def dance(work: Path) -> dict:
    folder, seconds = train_model(DATA / "dance.mp4.labels.slp", "single_instance", work / "dance", 200, "predicted", [])
    truth = first_poses(sio.load_slp(str(folder / "labels_val.slp")))
    mean_pose = np.nanmean(np.stack(list(first_poses(sio.load_slp(str(folder / "labels_train.slp"))).values())), axis=0)
    start = time.perf_counter()
    predicted = first_poses(track(folder / "labels_val.slp", [folder], work / "dance.slp", TrackOptions(quiet=True)))
    predict_seconds = time.perf_counter() - start
    errors = np.concatenate([np.linalg.norm(predicted[i] - truth[i], axis=1) for i in truth if i in predicted])
    baseline = np.concatenate([np.linalg.norm(mean_pose - truth[i], axis=1) for i in truth])
    return {
        "case": "dance single_instance",
        "training_steps": 200,
        "training_seconds": round(seconds, 1),
        "held_out_frames": len(truth),
        "median_error_px": round(float(np.nanmedian(errors)), 2),
        "mean_pose_median_error_px": round(float(np.nanmedian(baseline)), 2),
        "oks_map": "",
        "oks_ap50": "",
        "found": f"{np.mean(~np.isnan(errors)):.0%} of parts",
        "frames_per_second": round(len(truth) / predict_seconds, 1),
    }


def flies(work: Path) -> dict:
    labels = DATA / "centered_pair_predictions.slp"
    centroid, centroid_seconds = train_model(labels, "centroid", work / "centroid", 300, "predicted", [])
    centered, centered_seconds = train_model(
        labels, "centered_instance", work / "centered", 800, "predicted", ["augment.rotation=180"]
    )
    held_out = centered / "labels_val.slp"
    start = time.perf_counter()
    predictions = track(held_out, [centroid, centered], work / "flies.slp", TrackOptions(quiet=True))
    predict_seconds = time.perf_counter() - start
    truth = sio.load_slp(str(held_out))
    metrics = evaluate_labels(truth, predictions)
    return {
        "case": "flies top-down",
        "training_steps": 1100,
        "training_seconds": round(centroid_seconds + centered_seconds, 1),
        "held_out_frames": len(truth),
        "median_error_px": round(metrics["dist_p50"], 2),
        "mean_pose_median_error_px": "",
        "oks_map": round(metrics["oks_map"], 3),
        "oks_ap50": round(metrics["oks_ap50"], 3),
        "found": f"{metrics['n_matched'] / metrics['n_gt_instances']:.0%} of flies",
        "frames_per_second": round(len(truth) / predict_seconds, 1),
    }


def main() -> None:
    if not DATA.is_dir():
        raise SystemExit(f"sample data not found at {DATA}")
    with tempfile.TemporaryDirectory() as work:
        rows = [dance(Path(work)), flies(Path(work))]
    report("Held-out accuracy on the SLEAP sample data (CPU training)", rows, "sample_data_accuracy")


if __name__ == "__main__":
    main()
