"""The bottom-up instance-score threshold measured on validation frames."""

import json

import numpy as np
import pytest
import torch
import yaml

from posenn.heads.bottomup import BottomUpHead, GroupingOptions
from posenn.synth import generate
from posenn.training.calibrate import (
    LIMB_PEAK_WEIGHTS, PEAK_THRESHOLDS, animals_per_frame, best_threshold, count_accuracy, kept_instances, with_min_score,
)
from posenn.training.validation import ValidationFrame


def frame(truth: np.ndarray) -> ValidationFrame:
    return ValidationFrame(0, truth, np.full_like(truth, np.nan), np.zeros(len(truth)), np.zeros(len(truth)))


def test_animals_are_instances_with_half_their_parts():
    truth = np.zeros((3, 4, 2))
    truth[1, :3] = np.nan  # one part of four: a stray, not an animal
    truth[2, :2] = np.nan  # two of four: an animal
    assert animals_per_frame([frame(truth), frame(np.zeros((0, 4, 2)))]).tolist() == [2, 0]


def test_best_threshold_drops_stray_instances_and_keeps_weak_animals():
    # Two animals per frame; real animals score 0.5-0.9, strays 0.2-0.35, one weak animal at 0.4.
    scores = [np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.4, 0.2]), np.array([0.85, 0.5, 0.35]), np.array([0.6, 0.55])]
    animals = np.array([2, 2, 2, 2])
    threshold = best_threshold(scores, animals, current=0.0)
    assert 0.35 < threshold.min_instance_score < 0.4  # halfway between the last stray and the weak animal
    assert threshold.count_accuracy == 1.0 and threshold.count_accuracy_before == 0.25 and threshold.frames == 4
    assert count_accuracy(scores, animals, threshold.min_instance_score) == 1.0


def test_best_threshold_takes_the_middle_of_the_widest_best_range_and_can_lower_a_threshold():
    scores = [np.array([0.3, 0.25]), np.array([0.28])]
    threshold = best_threshold(scores, np.array([2, 1]), current=0.5)  # 0.5 drops every animal
    assert threshold.min_instance_score == pytest.approx(0.125)  # every count right up to 0.25
    assert threshold.count_accuracy == 1.0 and threshold.count_accuracy_before == 0.0
    # One frame is right from 0.05 to 0.1, the other from 0.3 to 0.6: the wider range wins.
    scores = [np.array([0.9, 0.1, 0.05]), np.array([0.6, 0.3])]
    threshold = best_threshold(scores, np.array([2, 1]), current=0.0)
    assert threshold.min_instance_score == pytest.approx(0.45) and threshold.count_accuracy == 0.5


def test_training_a_bottomup_model_calibrates_its_threshold(tmp_path, train_for_steps):
    labels = generate(tmp_path / "synth", animals=2, frames=40, size=96, seed=3)
    folder = train_for_steps(labels, "bottomup", tmp_path / "run", 100, ["data.val_fraction=0.25"])
    calibration = json.loads((folder / "metrics.json").read_text())["instance_score_calibration"]
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["inference"]["min_instance_score"] == calibration["min_instance_score"]
    assert calibration["frames"] == 10
    assert calibration["count_accuracy"] >= calibration["count_accuracy_before"]
    assert calibration["min_instance_score_from_labels"] == pytest.approx(0.5 * 1.0, abs=0.05)  # complete synthetic animals
    decoding = (config["inference"]["peak_threshold"], config["inference"]["limb_peak_weight"])
    assert decoding == (calibration["peak_threshold"], calibration["limb_peak_weight"])
    assert decoding == (0.2, 1.0) or (decoding[0] in PEAK_THRESHOLDS and decoding[1] in LIMB_PEAK_WEIGHTS)
    assert (calibration["peak_threshold_before"], calibration["limb_peak_weight_before"]) == (0.2, 1.0)
    assert 0.0 < calibration["oks_map_before"] <= calibration["oks_map"] <= 1.0
    assert json.loads((folder / "metrics.json").read_text())["oks_map"] == pytest.approx(calibration["oks_map"], abs=1e-3)

    kept = train_for_steps(labels, "bottomup", tmp_path / "kept", 50, ["data.val_fraction=0.25", "train.calibrate_instance_score=false"])
    assert "instance_score_calibration" not in json.loads((kept / "metrics.json").read_text())
    kept_inference = yaml.safe_load((kept / "config.yaml").read_text())["inference"]
    assert kept_inference["min_instance_score"] == calibration["min_instance_score_from_labels"]
    assert (kept_inference["peak_threshold"], kept_inference["limb_peak_weight"]) == (0.2, 1.0)


def test_dropping_low_scores_after_grouping_equals_grouping_with_the_threshold():
    torch.manual_seed(0)
    head = BottomUpHead(4, ((0, 1), (1, 2), (2, 3)), 2.0, 2, 2, 4.0, GroupingOptions(max_instances=6))
    points = torch.rand(3, 5, 4, 2) * 80 + 8  # 5 random chains per frame: crossing limbs, stray pieces
    maps, fields = head.encode(points, (96, 96))
    outputs = (maps + 0.1 * torch.rand_like(maps), fields + 0.2 * torch.randn_like(fields))
    frames = [ValidationFrame(i, np.zeros((6, 4, 2)), p.numpy(), s.numpy(), np.zeros(6))
              for i, (p, _, s) in enumerate(zip(*head.decode(outputs, 0.2)))]
    scores = np.concatenate([frame.scores[frame.scores > 0] for frame in frames])
    assert len(scores) > 6
    for threshold in np.quantile(scores, [0.25, 0.5, 0.75]):
        direct = with_min_score(head, float(threshold)).decode(outputs, 0.2)
        for frame, points_at, scores_at in zip(kept_instances(frames, float(threshold)), direct[0], direct[2]):
            np.testing.assert_array_equal(frame.predicted, points_at.numpy())
            assert np.array_equal(np.isnan(frame.predicted).all(axis=(1, 2)), ~(scores_at.numpy() > 0))
