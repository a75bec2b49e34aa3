"""Bottom-up instance-score threshold measured with the trained model on the validation frames.

`posenn config` sets `inference.min_instance_score` from the labels alone: what perfect maps and
fields would give the least complete animals. A trained network scores real animals lower and
builds extra instances from stray peaks in crowds, whose scores the labels cannot tell. After
training, the validation frames are grouped with no score threshold, and the threshold kept is
the one under which the most frames hold as many instances as animals.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from posenn.heads.bottomup import BottomUpHead
from posenn.training.validation import ValidationFrame, predict_validation

# Too few validation frames with animals tell nothing: the threshold from the labels stays.
MIN_CALIBRATION_FRAMES = 10


class ScoreThreshold(NamedTuple):
    """A calibrated minimum instance score and the share of validation frames whose instance
    count is right with it, and with the threshold it replaces."""

    min_instance_score: float
    count_accuracy: float
    count_accuracy_before: float
    frames: int


def animals_per_frame(frames: list[ValidationFrame]) -> np.ndarray:
    """`(frames,)` labeled animals with at least half their parts labeled in each frame."""
    counts = []
    for frame in frames:
        labeled = ~np.isnan(frame.truth[..., 0])  # (instances, nodes)
        counts.append(int(np.sum(labeled.sum(axis=1) * 2 >= labeled.shape[1])) if labeled.size else 0)
    return np.array(counts, dtype=np.int64)


def count_accuracy(scores: list[np.ndarray], animals: np.ndarray, threshold: float) -> float:
    """Share of frames with as many instances scoring at least `threshold` as animals."""
    found = np.array([int(np.sum(frame_scores >= threshold)) for frame_scores in scores])
    return float(np.mean(found == animals))


def best_threshold(scores: list[np.ndarray], animals: np.ndarray, current: float) -> ScoreThreshold:
    """The instance-score threshold that gets the most frames' count right.

    Thresholds between two consecutive distinct instance scores (0 and 1 included) give the same
    counts; the best of these intervals form runs of adjacent ones. The middle of the widest run
    is kept: as far as the validation frames allow from both the weakest animal kept and the
    strongest stray instance dropped.

    Args:
        scores: per frame, `(instances,)` scores of the instances grouped without a threshold.
        animals: `(frames,)` animals in each frame.
        current: the threshold in use, for comparison.
    """
    distinct = np.unique(np.concatenate([np.zeros(1), *scores, np.ones(1)]))
    lower, upper = distinct[:-1], distinct[1:]  # thresholds in (lower, upper] keep the same instances
    found = np.stack([np.sum(frame_scores[:, None] >= upper, axis=0) for frame_scores in scores])  # (frames, intervals)
    accuracy = np.mean(found == animals[:, None], axis=0)
    best = np.flatnonzero(accuracy == accuracy.max())
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)  # adjacent best intervals
    widest = max(runs, key=lambda run: upper[run[-1]] - lower[run[0]])
    threshold = (lower[widest[0]] + upper[widest[-1]]) / 2
    return ScoreThreshold(round(float(threshold), 3), float(accuracy.max()), count_accuracy(scores, animals, current), len(animals))


def with_min_score(head: BottomUpHead, min_score: float) -> BottomUpHead:
    """The same head, dropping instances that score less than `min_score`."""
    return dataclasses.replace(head, grouping=dataclasses.replace(head.grouping, min_score=min_score))


def kept_instances(frames: list[ValidationFrame], min_score: float) -> list[ValidationFrame]:
    """Frames grouped with no score threshold, as grouping with `min_score` gives them: instances
    are ranked by score, so dropping those below it leaves the others in their slots."""
    return [frame._replace(predicted=np.where((frame.scores >= min_score)[:, None, None], frame.predicted, np.nan))
            for frame in frames]


def calibrate_instance_score(module: torch.nn.Module, loader: DataLoader) -> tuple[ScoreThreshold | None, list[ValidationFrame]]:
    """Group the validation frames once with no instance-score threshold and measure the best one.

    Returns:
        The threshold (None for heads other than `BottomUpHead` and when fewer than
        `MIN_CALIBRATION_FRAMES` validation frames hold animals), and the validation frames as
        the threshold in use afterwards groups them.
    """
    head = module.head
    if not isinstance(head, BottomUpHead):
        return None, predict_validation(module, loader)
    module.head = with_min_score(head, 0.0)
    try:
        frames = predict_validation(module, loader)
    finally:
        module.head = head
    animals = animals_per_frame(frames)
    if np.sum(animals > 0) < MIN_CALIBRATION_FRAMES:
        return None, kept_instances(frames, head.grouping.min_score)
    scores = [frame.scores[~np.isnan(frame.predicted).all(axis=(1, 2))] for frame in frames]
    threshold = best_threshold(scores, animals, head.grouping.min_score)
    return threshold, kept_instances(frames, threshold.min_instance_score)
