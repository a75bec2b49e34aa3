"""Object keypoint similarity (OKS) and the two ways we pair predictions with ground truth.

OKS follows the COCO definition exactly as pycocotools' `COCOeval` computes it. For a
ground-truth instance with labeled points L and bounding-box area A (the box around its labeled
points), and a predicted instance:

    OKS = mean over i in L of exp(-d_i^2 / (2 * (A + eps) * (2 * sigma_i)^2)),   eps = np.spacing(1)

where d_i is the distance between predicted and labeled point i and sigma_i is node i's sigma
(default 0.025 for every node; larger sigmas forgive larger errors). A predicted point that is
missing (NaN) counts as infinitely far away and adds exp(-inf) = 0. Ground-truth points that are
not labeled are left out of the mean. When the labeled points span no area (one point, or points
on a horizontal or vertical line), A = 0 and only an exact hit scores above zero, as in COCO.

Pairing:

- `coco_greedy_match` reproduces COCOeval's matching, used for mAP and mAR: at each OKS threshold,
  predictions in descending score order each take the best still-free ground truth.
- `hungarian_match` pairs instances one-to-one maximising the total OKS, used for distances, PCK
  and visibility.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from posenn.errors import PosennError

DEFAULT_SIGMA = 0.025

NodeSigmas = float | Sequence[float] | Mapping[str, float] | None

# COCOeval caps the threshold just below 1 so that a perfect match (OKS == 1) passes it.
_MAX_THRESHOLD = 1 - 1e-10


def resolve_sigmas(node_sigmas: NodeSigmas, node_names: Sequence[str]) -> np.ndarray:
    """Per-node OKS sigmas as an array.

    Args:
        node_sigmas: None (0.025 for every node), one number for all nodes, a sequence in node
            order, or a mapping node name -> sigma (nodes it leaves out get 0.025).
        node_names: the `n_nodes` node names.

    Returns:
        `(n_nodes,)` sigmas.

    Raises:
        PosennError: if a mapping names unknown nodes, a sequence has the wrong length, or a
            sigma is not positive.
    """
    if node_sigmas is None:
        sigmas = np.full(len(node_names), DEFAULT_SIGMA)
    elif isinstance(node_sigmas, Mapping):
        unknown = sorted(set(node_sigmas) - set(node_names))
        if unknown:
            raise PosennError(
                f"node_sigmas names nodes that are not in the skeleton: {unknown}; "
                f"expected some of {list(node_names)}"
            )
        sigmas = np.array([node_sigmas.get(name, DEFAULT_SIGMA) for name in node_names], float)
    elif np.ndim(node_sigmas) == 0:
        sigmas = np.full(len(node_names), float(node_sigmas))
    else:
        sigmas = np.asarray(node_sigmas, dtype=float)
        if sigmas.shape != (len(node_names),):
            raise PosennError(
                f"node_sigmas has {sigmas.size} values; expected one per node "
                f"({len(node_names)}: {list(node_names)})"
            )
    if not (sigmas > 0).all():
        raise PosennError(f"node_sigmas must be positive numbers, got {sigmas.tolist()}")
    return sigmas


def labeled_mask(points: np.ndarray) -> np.ndarray:
    """Whether each point has both coordinates: `(..., n_nodes, 2)` -> `(..., n_nodes)` bool."""
    return np.isfinite(points).all(axis=-1)


def bbox_areas(instances: np.ndarray) -> np.ndarray:
    """Area of the bounding box of each instance's labeled points.

    Args:
        instances: `(n_instances, n_nodes, 2)`; NaN marks points that are not labeled. Every
            instance needs at least one labeled point.

    Returns:
        `(n_instances,)` areas in square pixels.
    """
    labeled = labeled_mask(instances)[..., None]
    low = np.where(labeled, instances, np.inf).min(axis=1)
    high = np.where(labeled, instances, -np.inf).max(axis=1)
    width, height = (high - low).T
    return width * height


def oks_matrix(gt: np.ndarray, pred: np.ndarray, sigmas: np.ndarray, areas: np.ndarray | None = None) -> np.ndarray:
    """OKS between every ground-truth and every predicted instance of one frame.

    Args:
        gt: `(n_gt, n_nodes, 2)` ground truth; NaN marks points that are not labeled. Every
            instance needs at least one labeled point.
        pred: `(n_pred, n_nodes, 2)` predictions; NaN marks points that were not predicted.
        sigmas: `(n_nodes,)` per-node OKS sigmas.
        areas: `(n_gt,)` instance areas; default: the bounding box of each gt's labeled points.

    Returns:
        `(n_gt, n_pred)` OKS values in [0, 1].
    """
    if len(gt) == 0 or len(pred) == 0:
        return np.zeros((len(gt), len(pred)))
    squared_dist = ((pred[None] - gt[:, None]) ** 2).sum(axis=-1)  # (n_gt, n_pred, n_nodes)
    squared_dist = np.where(np.isnan(squared_dist), np.inf, squared_dist)
    variances = (2 * sigmas) ** 2
    scale = 2 * ((bbox_areas(gt) if areas is None else areas) + np.spacing(1))  # (n_gt,)
    with np.errstate(invalid="ignore"):  # a gt without labeled points gives NaN, as documented by callers
        similarity = np.exp(-squared_dist / variances / scale[:, None, None])
    labeled = labeled_mask(gt)[:, None, :]  # (n_gt, 1, n_nodes)
    return (similarity * labeled).sum(axis=-1) / labeled.sum(axis=-1)


def coco_greedy_match(oks: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Match predictions to ground truth the way COCOeval does, at each OKS threshold.

    Predictions are taken in column order, which must be descending score. Each takes the free
    ground truth with the highest OKS, if that OKS reaches the threshold; on equal OKS the later
    ground truth wins, as in COCOeval.

    Args:
        oks: `(n_gt, n_pred)` OKS, columns sorted by descending prediction score.
        thresholds: `(n_thresholds,)` OKS thresholds.

    Returns:
        `(n_thresholds, n_pred)` bool: whether each prediction is a true positive.
    """
    n_gt, n_pred = oks.shape
    true_positive = np.zeros((len(thresholds), n_pred), dtype=bool)
    if n_gt == 0:
        return true_positive
    for t, threshold in enumerate(thresholds):
        taken = np.zeros(n_gt, dtype=bool)
        for d in range(n_pred):
            free_oks = np.where(taken, -np.inf, oks[:, d])
            best = n_gt - 1 - np.argmax(free_oks[::-1])  # last index of the maximum
            if free_oks[best] >= min(threshold, _MAX_THRESHOLD):
                taken[best] = True
                true_positive[t, d] = True
    return true_positive


def hungarian_match(oks: np.ndarray, min_oks: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pair ground truth and predictions one-to-one, maximising the total OKS.

    Args:
        oks: `(n_gt, n_pred)` OKS.
        min_oks: pairs with OKS at or below this value are dropped after the assignment.

    Returns:
        `(gt_indices, pred_indices)`, two `(n_pairs,)` integer arrays.
    """
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    gt_indices, pred_indices = linear_sum_assignment(oks, maximize=True)
    keep = oks[gt_indices, pred_indices] > min_oks
    return gt_indices[keep], pred_indices[keep]
