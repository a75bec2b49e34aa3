"""A bottom-up model trained on a CPU budget separates the two flies on frames it never saw."""

import numpy as np
import pytest
import sleap_io as sio
from scipy.optimize import linear_sum_assignment

from posenn.autoconfig import config_from_labels
from posenn.config import with_overrides
from posenn.evaluation.pose import evaluate_labels
from posenn.inference.run import TrackOptions, track
from posenn.synth import generate
from posenn.tracking import TrackerOptions
from posenn.training.run import train

# posenn config's choices (full resolution, training windows of 240 px around a fly), any rotation.
SETTINGS = ["augment.rotation=180"]


def mean_distances(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """`(truth, predicted)` mean distance between the parts both instances have."""
    distances = np.linalg.norm(truth[:, None] - predicted[None], axis=-1)  # (truth, predicted, nodes)
    return np.nanmean(np.where(np.isnan(distances), np.nan, distances), axis=-1)


@pytest.mark.slow  # 4-5 min on 2 cores; `make test` runs the synthetic end-to-end test below instead
def test_flies_are_two_separate_instances(shared_file, tmp_path):
    labels = shared_file("centered_pair_predictions.slp")
    budget = [f"train.run_dir={tmp_path / 'bottomup'}", "train.epochs=16", "train.steps_per_epoch=50",
              "train.early_stopping_patience=null"]
    folder = train(with_overrides(config_from_labels(labels, "bottomup", "predicted"), budget + SETTINGS), quiet=True)
    held_out = folder / "labels_val.slp"
    predictions = track(held_out, [folder], tmp_path / "pred.slp", TrackOptions(quiet=True, max_instances=2))
    truth = sio.load_slp(str(held_out))

    predicted = {lf.frame_idx: np.stack([inst.numpy() for inst in lf.instances]) for lf in predictions}
    separated = []
    for frame in truth:
        flies = np.stack([inst.numpy() for inst in frame.instances])
        found = predicted.get(frame.frame_idx, np.zeros((0, flies.shape[1], 2)))
        if len(flies) != 2 or len(found) != 2:
            separated.append(False)
            continue
        distances = mean_distances(flies, found)
        rows, columns = linear_sum_assignment(distances)
        separated.append(bool(np.all(distances[rows, columns] < 15.0)))  # flies are ~100 px long
    metrics = evaluate_labels(truth, predictions)
    print(
        f"flies bottom-up: two separate flies in {np.mean(separated):.0%} of {len(truth)} held-out frames, "
        f"OKS mAP {metrics['oks_map']:.3f} (AP50 {metrics['oks_ap50']:.3f}), dist p50 {metrics['dist_p50']:.2f} px"
    )
    assert np.mean(separated) >= 0.8


def test_bottomup_from_config_to_tracked_predictions(tmp_path):
    """The whole path on a small synthetic video: posenn config → train → track with the tracker."""
    labels = generate(tmp_path / "synth", animals=2, frames=40, size=96, seed=3)
    budget = [f"train.run_dir={tmp_path / 'run'}", "train.epochs=2", "train.steps_per_epoch=25"]
    # 50 steps make weak limbs: the filters measured from the labels (half an animal, half its
    # limb score) would drop every instance, so this test of the path keeps the plain ones.
    plain = ["inference.min_points=2", "inference.min_instance_score=0"]
    folder = train(with_overrides(config_from_labels(labels, "bottomup", "user"), budget + plain), quiet=True)
    options = TrackOptions(quiet=True, max_instances=2, tracker=TrackerOptions(max_tracks=2))
    predictions = track(labels.with_suffix(".mp4"), [folder], tmp_path / "pred.slp", options)
    assert predictions.skeleton.node_names == sio.load_slp(str(labels)).skeleton.node_names
    assert 1 <= len(predictions.tracks) <= 2
    for frame in predictions:
        assert 1 <= len(frame.instances) <= 2
        for instance in frame.instances:
            points = instance.numpy(scores=True)
            assert (~np.isnan(points[:, 0])).sum() >= 2  # inference.min_points
            assert 0 < instance.score <= 1
            assert instance.track is None or instance.track in predictions.tracks  # short tracklets stay untracked
