"""Bottom-up decoding measured with the trained model on the validation frames.

`posenn config` sets `inference.min_instance_score` from the labels alone: what perfect maps and
fields would give the least complete animals. A trained network scores real animals lower and
builds extra instances from stray peaks in crowds, whose scores the labels cannot tell. After
training, the validation frames are grouped with no score threshold, and the threshold kept is
the one under which the most frames hold as many instances as animals.

How high a part's peak must be (`inference.peak_threshold`) and how much the parts' peak values
weigh beside the fields when limbs are assigned (`inference.limb_peak_weight`) depend on the
trained network too: a network that draws faint stray peaks beside true parts does best with a
higher threshold and stronger peaks winning. Each pair of `PEAK_THRESHOLDS` × `LIMB_PEAK_WEIGHTS`
groups the validation frames, takes its own instance-score threshold, and the pair with the best
OKS mAP is kept.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from posenn.heads.bottomup import BottomUpHead
from posenn.training.validation import Decoder, ValidationFrame, predict_validation, predict_validation_with, validation_metrics

# Too few validation frames with animals tell nothing: the threshold from the labels stays.
MIN_CALIBRATION_FRAMES = 10
# Decoding settings tried on the validation frames. On the two-fly sample (an 800-step model,
# held-out frames) a threshold of 0.3 and weight 2 gave OKS mAP 0.533 against 0.497 with 0.2 and
# 1; a threshold of 0.5 kept the right number of flies in 8% of frames.
PEAK_THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
LIMB_PEAK_WEIGHTS = (1.0, 2.0)


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


class Decoding(NamedTuple):
    """Calibrated peak threshold and limb peak weight, with the validation OKS mAP they give and
    the one of the settings they replace (each with its own instance-score threshold)."""

    peak_threshold: float
    limb_peak_weight: float
    oks_map: float
    oks_map_before: float


def with_min_score(head: BottomUpHead, min_score: float, limb_peak_weight: float | None = None) -> BottomUpHead:
    """The same head, dropping instances that score less than `min_score` (and weighing peak
    values by `limb_peak_weight` when given)."""
    weight = head.grouping.limb_peak_weight if limb_peak_weight is None else limb_peak_weight
    return dataclasses.replace(head, grouping=dataclasses.replace(head.grouping, min_score=min_score, limb_peak_weight=weight))


def kept_instances(frames: list[ValidationFrame], min_score: float) -> list[ValidationFrame]:
    """Frames grouped with no score threshold, as grouping with `min_score` gives them: instances
    are ranked by score, so dropping those below it leaves the others in their slots."""
    return [frame._replace(predicted=np.where((frame.scores >= min_score)[:, None, None], frame.predicted, np.nan))
            for frame in frames]


def instance_scores(frames: list[ValidationFrame]) -> list[np.ndarray]:
    """Per frame, `(instances,)` scores of the instances that have points."""
    return [frame.scores[~np.isnan(frame.predicted).all(axis=(1, 2))] for frame in frames]


def calibrate_bottomup(
    module: torch.nn.Module, loader: DataLoader
) -> tuple[Decoding | None, ScoreThreshold | None, list[ValidationFrame]]:
    """Measure the bottom-up decoding on the validation frames: each peak threshold and limb
    peak weight with its best instance-score threshold; the pair with the best OKS mAP is kept
    (the module's own pair on a tie).

    Returns:
        The decoding and the instance-score threshold (both None for heads other than
        `BottomUpHead` and when fewer than `MIN_CALIBRATION_FRAMES` validation frames hold
        animals), and the validation frames as the settings in use afterwards group them.
    """
    head = module.head
    if not isinstance(head, BottomUpHead):
        return None, None, predict_validation(module, loader)
    current = (module.config.inference.peak_threshold, head.grouping.limb_peak_weight)
    pairs = [current] + [(t, w) for t in PEAK_THRESHOLDS for w in LIMB_PEAK_WEIGHTS if (t, w) != current]
    # One forward pass; each pair decodes it and groups it with no instance-score threshold.
    decoders = [Decoder(with_min_score(head, 0.0, weight), threshold) for threshold, weight in pairs]
    per_pair = dict(zip(pairs, predict_validation_with(module, loader, decoders)))
    animals = animals_per_frame(per_pair[current])
    if np.sum(animals > 0) < MIN_CALIBRATION_FRAMES:
        return None, None, kept_instances(per_pair[current], head.grouping.min_score)
    nodes, scale = module.evaluated_nodes, module.config.data.scale
    trials = {}
    for pair, grouped in per_pair.items():
        threshold = best_threshold(instance_scores(grouped), animals, head.grouping.min_score)
        kept = kept_instances(grouped, threshold.min_instance_score)
        trials[pair] = (validation_metrics(kept, nodes, scale)["oks_map"], threshold, kept)
    best = max(trials, key=lambda pair: trials[pair][0])  # the first best: the module's own pair on a tie
    oks_map, threshold, kept = trials[best]
    return Decoding(*best, round(float(oks_map), 4), round(float(trials[current][0]), 4)), threshold, kept
