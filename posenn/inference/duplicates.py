"""Filtering duplicate detections: two instances that are the same animal."""

from __future__ import annotations

import numpy as np

from posenn.evaluation.matching import DEFAULT_SIGMA


def pairwise_oks(points: np.ndarray) -> np.ndarray:
    """Symmetric OKS between the instances of each frame, as `oks_matrix` with each instance in
    turn as ground truth (its bounding box as area), the larger of the two ways kept.

    Args:
        points: `(frames, instances, nodes, 2)`, NaN for missing parts.

    Returns:
        `(frames, instances, instances)`; 0 where an instance has no point.
    """
    labeled = np.isfinite(points).all(axis=-1)  # (frames, instances, nodes)
    low = np.where(labeled[..., None], points, np.inf).min(axis=2)
    high = np.where(labeled[..., None], points, -np.inf).max(axis=2)
    with np.errstate(invalid="ignore"):
        extent = high - low
        areas = extent[..., 0] * extent[..., 1]  # (frames, instances)
        squared = ((points[:, :, None] - points[:, None]) ** 2).sum(axis=-1)  # (frames, rows, cols, nodes)
        squared = np.where(np.isnan(squared), np.inf, squared)
        scale = 2 * (areas + np.spacing(1))
        similarity = np.exp(-squared / (2 * DEFAULT_SIGMA) ** 2 / scale[:, :, None, None])
        oks = (similarity * labeled[:, :, None]).sum(axis=-1) / labeled.sum(axis=-1)[:, :, None]
    oks = np.nan_to_num(oks)
    return np.maximum(oks, oks.transpose(0, 2, 1))


def duplicate_free(points: np.ndarray, scores: np.ndarray, valid: np.ndarray, max_oks: float) -> np.ndarray:
    """Which instances to keep in each frame, highest score first: an instance whose OKS with a
    kept, higher-scoring instance of its frame exceeds `max_oks` is a duplicate.

    Args:
        points: `(frames, instances, nodes, 2)`, NaN for missing parts.
        scores: `(frames, instances)`.
        valid: `(frames, instances)` bool, the instances that exist (others are ignored).
        max_oks: OKS above which two instances are the same animal.

    Returns:
        `(frames, instances)` bool: valid and not a duplicate.
    """
    frames, instances = scores.shape
    if instances < 2:
        return valid.copy()
    oks = pairwise_oks(points)
    order = np.argsort(np.where(valid, -scores, np.inf), axis=1, kind="stable")  # best first, invalid last
    rows = np.arange(frames)
    keep = np.zeros_like(valid)
    for rank in range(instances):
        candidate = order[:, rank]
        clash = (oks[rows, candidate] > max_oks) & keep  # (frames, instances): kept ones it duplicates
        keep[rows, candidate] = valid[rows, candidate] & ~clash.any(axis=1)
    return keep


def remove_duplicates(points: np.ndarray, scores: np.ndarray, max_oks: float) -> np.ndarray:
    """Sorted indices of the instances of one frame to keep (see `duplicate_free`).

    Args:
        points: `(instances, nodes, 2)`, NaN for missing parts.
        scores: `(instances,)`.
        max_oks: OKS above which two instances are the same animal.
    """
    keep = duplicate_free(points[None], np.asarray(scores)[None], np.ones((1, len(points)), bool), max_oks)
    return np.flatnonzero(keep[0])
