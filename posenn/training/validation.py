"""Validation figures during and after training, computed by the same code as `posenn eval`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from posenn.data.cache import unscale_points
from posenn.evaluation.pose import evaluate_arrays
from posenn.evaluation.report import write_json

# (ground truth (batch, instances, nodes, 2), predictions (batch, instances, nodes, 2),
#  instance scores (batch, instances), ground-truth areas (batch, instances)), in the
# coordinates of the scaled frames (or crops).
ValidationBatch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def validation_metrics(outputs: list[ValidationBatch], node_names: list[str], scale: float) -> dict:
    """Pose metrics of validation predictions, in original frame pixels."""
    gt_frames, pred_frames, score_frames, area_frames = [], [], [], []
    for gt, pred, scores, areas in outputs:
        for frame_gt, frame_pred, frame_scores, frame_areas in zip(gt, pred, scores, areas):
            labeled = ~np.isnan(frame_gt).all(axis=(1, 2))
            found = ~np.isnan(frame_pred).all(axis=(1, 2))
            gt_frames.append(unscale_points(frame_gt[labeled], scale))
            pred_frames.append(unscale_points(frame_pred[found], scale))
            score_frames.append(frame_scores[found])
            area_frames.append(frame_areas[labeled] / scale**2)
    return evaluate_arrays(gt_frames, pred_frames, score_frames, node_names, gt_areas=area_frames)


@torch.inference_mode()
def predict_validation(module: torch.nn.Module, loader: DataLoader) -> list[ValidationBatch]:
    """Run the model over a validation loader without augmentation."""
    module.eval()
    outputs = []
    for batch in loader:
        batch = module.prepare_batch(batch, augment=False)
        outputs.append(module.validation_output(batch, module.validation_forward(batch["image"])))
    return outputs


def write_metrics(module: torch.nn.Module, loader: DataLoader, path: Path) -> dict:
    """Evaluate `module` on `loader` and write the figures to `metrics.json`."""
    config = module.config
    metrics = validation_metrics(predict_validation(module, loader), module.evaluated_nodes, config.data.scale)
    write_json(metrics, Path(path))
    return metrics

