"""How alike a track's last pose and a new detection are: OKS, box IoU or centroid distance.

Every function takes `candidates` `(m, nodes, 2)` (poses of tracks) and `detections`
`(n, nodes, 2)` (poses in the new frame), NaN = missing point, and returns an `(m, n)` matrix
of similarities in [0, 1]; pairs that cannot be compared score 0.
"""

import warnings

import numpy as np

from posenn.evaluation.matching import oks_matrix


def centroids(points: np.ndarray) -> np.ndarray:
    """Mean of the visible points: `(k, nodes, 2)` → `(k, 2)`, NaN when no point is visible."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN instances give NaN on purpose
        return np.nanmean(points, axis=1)


def boxes(points: np.ndarray) -> np.ndarray:
    """Bounding boxes of the visible points: `(k, nodes, 2)` → `(k, 4)` as x0, y0, x1, y1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN instances give NaN on purpose
        return np.concatenate([np.nanmin(points, axis=1), np.nanmax(points, axis=1)], axis=1)


def sizes(points: np.ndarray) -> np.ndarray:
    """Instance size: square root of the box area, at least 1 px. `(k, nodes, 2)` → `(k,)`."""
    box = boxes(points)
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    return np.sqrt(np.maximum(np.nan_to_num(area, nan=1.0), 1.0))


def body_axes(points: np.ndarray) -> np.ndarray:
    """Direction and spread of the skeleton's node order: `(k, nodes, 2)` → `(k, 2)` pixels per node.

    The least-squares slope of the visible points against their node index, a pose descriptor of
    two numbers that turns with the animal (skeletons list nodes roughly from head to tail) and
    does not move with it; NaN when fewer than two points are visible.
    """
    index = np.arange(points.shape[1], dtype=float)[None, :, None]  # (1, nodes, 1)
    visible = ~np.isnan(points).any(axis=2, keepdims=True)  # (k, nodes, 1)
    count = visible.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        centred_index = np.where(visible, index - (index * visible).sum(axis=1, keepdims=True) / count, 0.0)
        centred_points = np.where(visible, points - centroids(points)[:, None], 0.0)
        slope = (centred_index * centred_points).sum(axis=1) / (centred_index**2).sum(axis=1)
    return np.where(count[:, 0] >= 2, slope, np.nan)


def oks_similarity(candidates: np.ndarray, detections: np.ndarray, sigma: float) -> np.ndarray:
    """Object keypoint similarity, with each candidate's box area as the scale."""
    sigmas = np.full(candidates.shape[1], sigma)
    return np.nan_to_num(oks_matrix(candidates, detections, sigmas), nan=0.0)


def iou_similarity(candidates: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """Intersection over union of the keypoint bounding boxes."""
    a, b = boxes(candidates)[:, None], boxes(detections)[None]  # (m, 1, 4), (1, n, 4)
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = intersection / (area_a + area_b - intersection)
    return np.nan_to_num(iou, nan=0.0, posinf=0.0)


def centroid_similarity(candidates: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """exp(-d² / 2s²) of the centroid distance d, with s half the candidate's size."""
    d2 = ((centroids(candidates)[:, None] - centroids(detections)[None]) ** 2).sum(axis=-1)
    s = 0.5 * sizes(candidates)[:, None]
    return np.nan_to_num(np.exp(-d2 / (2 * s**2)), nan=0.0)


def similarity_matrix(
    kind: str, candidates: np.ndarray, detections: np.ndarray, oks_sigma: float
) -> np.ndarray:
    """The `(m, n)` similarity named by `kind` ("oks", "iou" or "centroid")."""
    if len(candidates) == 0 or len(detections) == 0:
        return np.zeros((len(candidates), len(detections)))
    if kind == "oks":
        return oks_similarity(candidates, detections, oks_sigma)
    if kind == "iou":
        return iou_similarity(candidates, detections)
    return centroid_similarity(candidates, detections)
