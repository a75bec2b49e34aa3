"""Filtering duplicate detections: two instances that are the same animal."""

from __future__ import annotations

import numpy as np

from posenn.evaluation.matching import DEFAULT_SIGMA, oks_matrix


def remove_duplicates(points: np.ndarray, scores: np.ndarray, max_oks: float) -> np.ndarray:
    """Indices of instances to keep, highest score first: an instance whose OKS with a kept,
    higher-scoring instance exceeds `max_oks` is a duplicate and dropped.

    Args:
        points: `(instances, nodes, 2)`, NaN for missing parts.
        scores: `(instances,)`.
        max_oks: OKS above which two instances are the same animal.

    Returns:
        Sorted indices of the instances kept.
    """
    if len(points) < 2:
        return np.arange(len(points))
    sigmas = np.full(points.shape[1], DEFAULT_SIGMA)
    similarity = oks_matrix(points, points, sigmas)  # (instances, instances), rows as ground truth
    similarity = np.nan_to_num(np.maximum(similarity, similarity.T))  # empty instances: NaN → 0
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(similarity[index, other] <= max_oks for other in kept):
            kept.append(int(index))
    return np.array(sorted(kept), dtype=int)
