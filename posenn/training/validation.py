"""Validation figures during and after training, computed by the same code as `posenn eval`.

Under DDP each process validates its share of the validation set; `gather_frames` brings every
process's frames together (each frame once) before the figures are computed, so they describe
the whole validation set, as in a single-process run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from posenn.data.cache import unscale_points
from posenn.evaluation.pose import evaluate_arrays
from posenn.evaluation.report import write_json

# (ground truth (batch, instances, nodes, 2), predictions (batch, instances, nodes, 2),
#  instance scores (batch, instances), ground-truth areas (batch, instances)), in the
# coordinates of the scaled frames (or crops).
ValidationBatch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class ValidationFrame(NamedTuple):
    """One validation sample: its position in the validation set, and a `ValidationBatch` row."""

    index: int
    truth: np.ndarray  # (instances, nodes, 2)
    predicted: np.ndarray  # (instances, nodes, 2)
    scores: np.ndarray  # (instances,)
    areas: np.ndarray  # (instances,)


def validation_frames(batch: ValidationBatch, indices: Iterable[int]) -> list[ValidationFrame]:
    """Split a batch's validation output into frames tagged with their sample indices."""
    return [ValidationFrame(int(i), *row) for i, row in zip(indices, zip(*batch), strict=True)]


def merge_frames(per_process: list[list[ValidationFrame]]) -> list[ValidationFrame]:
    """The frames of every process, each sample once, in sample order.

    A `DistributedSampler` pads the validation set with repeats of its first samples so that
    every process gets as many batches; the repeats are dropped here so that they do not count
    twice in the figures.
    """
    unique: dict[int, ValidationFrame] = {}
    for frames in per_process:
        for frame in frames:
            unique.setdefault(frame.index, frame)
    return [unique[index] for index in sorted(unique)]


def all_gather_objects(value: object) -> list[object]:
    """`value` of every process of the default process group (only this one's without a group)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value]
    gathered: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def gather_frames(
    frames: list[ValidationFrame], gather: Callable[[object], list[object]] = all_gather_objects
) -> tuple[list[ValidationFrame], list[int]]:
    """Every process's validation frames, on every process (a collective call under DDP: all
    processes must make it).

    Returns:
        The frames of all processes, each sample once, in sample order; and the ranks (positions
        in the process group) that contributed frames.
    """
    per_process = gather(frames)
    ranks = [rank for rank, process_frames in enumerate(per_process) if process_frames]
    return merge_frames(per_process), ranks


def validation_metrics(frames: list[ValidationFrame], node_names: list[str], scale: float) -> dict:
    """Pose metrics of validation predictions, in original frame pixels."""
    gt_frames, pred_frames, score_frames, area_frames = [], [], [], []
    for frame in frames:
        labeled = ~np.isnan(frame.truth).all(axis=(1, 2))
        found = ~np.isnan(frame.predicted).all(axis=(1, 2))
        gt_frames.append(unscale_points(frame.truth[labeled], scale))
        pred_frames.append(unscale_points(frame.predicted[found], scale))
        score_frames.append(frame.scores[found])
        area_frames.append(frame.areas[labeled] / scale**2)
    return evaluate_arrays(gt_frames, pred_frames, score_frames, node_names, gt_areas=area_frames)


class Decoder(NamedTuple):
    """How a module's outputs are decoded: its head and peak threshold."""

    head: object
    peak_threshold: float


def predict_validation(module: torch.nn.Module, loader: DataLoader) -> list[ValidationFrame]:
    """Run the model over a validation loader without augmentation (in this process only)."""
    return predict_validation_with(module, loader, [Decoder(module.head, module.config.inference.peak_threshold)])[0]


@torch.inference_mode()
def predict_validation_with(module: torch.nn.Module, loader: DataLoader, decoders: list[Decoder]) -> list[list[ValidationFrame]]:
    """Run the model once over a validation loader without augmentation and decode each batch
    with each of `decoders`: per decoder, the frames it gives. The module's own head and peak
    threshold are left as they were."""
    module.eval()
    head, inference = module.head, module.config.inference
    threshold = inference.peak_threshold
    frames: list[list[ValidationFrame]] = [[] for _ in decoders]
    try:
        for batch in loader:
            batch = module.prepare_batch(batch, augment=False)
            outputs = module.validation_forward(batch["image"])
            for decoded, decoder in zip(frames, decoders):
                module.head, inference.peak_threshold = decoder
                output = module.validation_output(batch, outputs)
                decoded.extend(validation_frames(output, range(len(decoded), len(decoded) + len(output[0]))))
    finally:
        module.head, inference.peak_threshold = head, threshold
    return frames


def write_metrics(module: torch.nn.Module, frames: list[ValidationFrame], path: Path, calibration: dict | None = None) -> dict:
    """Write the figures of `module`'s validation `frames` (see `predict_validation`) to
    `metrics.json`, with the bottom-up instance-score `calibration` when given."""
    metrics = validation_metrics(frames, module.evaluated_nodes, module.config.data.scale)
    if calibration is not None:
        metrics["instance_score_calibration"] = calibration
    write_json(metrics, Path(path))
    return metrics
