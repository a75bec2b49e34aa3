"""Top-down models trained on a CPU budget find every animal on frames they never saw."""

from pathlib import Path

import numpy as np
import sleap_io as sio

from posenn.evaluation.pose import evaluate_labels
from posenn.inference.run import TrackOptions, track
from posenn.synth import generate


def train_pair(
    train_for_steps, labels: Path, out: Path, instances: str, centroid_steps: int, instance_steps: int, **overrides
) -> list[Path]:
    """Train a centroid and a centered-instance model on `labels` with the `train_for_steps`
    fixture; return their folders.

    `overrides` maps a model type to its extra `key=value` settings.
    """
    return [
        train_for_steps(labels, model_type, out / model_type, steps, overrides.get(model_type, []), instances)
        for model_type, steps in (("centroid", centroid_steps), ("centered_instance", instance_steps))
    ]


def test_synthetic_pair_reaches_map(tmp_path, train_for_steps):
    train_labels = generate(tmp_path / "train", animals=2, frames=400, size=256, seed=1)
    test_labels = generate(tmp_path / "test", animals=2, frames=100, size=256, seed=2)
    folders = train_pair(
        train_for_steps,
        train_labels, tmp_path, "user", centroid_steps=300, instance_steps=1500,
        centroid=["data.scale=0.5"], centered_instance=["augment.rotation=180"],
    )
    predictions = track(test_labels.with_suffix(".mp4"), folders, tmp_path / "pred.slp", TrackOptions(quiet=True))
    metrics = evaluate_labels(sio.load_slp(str(test_labels)), predictions)
    print(f"synthetic top-down: OKS mAP {metrics['oks_map']:.3f}, dist p50 {metrics['dist_p50']:.2f} px")
    assert metrics["oks_map"] >= 0.7


def test_flies_are_found_on_held_out_frames(shared_file, tmp_path, train_for_steps):
    labels_path = shared_file("centered_pair_predictions.slp")
    folders = train_pair(
        train_for_steps,
        labels_path, tmp_path, "predicted", centroid_steps=300, instance_steps=800,
        centered_instance=["augment.rotation=180"],
    )
    held_out = folders[1] / "labels_val.slp"
    predictions = track(held_out, folders, tmp_path / "pred.slp", TrackOptions(quiet=True))
    truth = sio.load_slp(str(held_out))
    found = {lf.frame_idx: len(lf.instances) for lf in predictions}
    both_found = np.mean([found.get(lf.frame_idx, 0) >= 2 for lf in truth])
    metrics = evaluate_labels(truth, predictions)
    recall = metrics["n_matched"] / metrics["n_gt_instances"]
    print(
        f"flies top-down: OKS mAP {metrics['oks_map']:.3f} (AP50 {metrics['oks_ap50']:.3f}), "
        f"dist p50 {metrics['dist_p50']:.2f} px, {recall:.0%} of flies matched, "
        f"two or more found in {both_found:.0%} of {len(truth)} held-out frames"
    )
    assert both_found >= 0.9
    assert recall >= 0.9
    assert metrics["oks_ap50"] > 0.3
