"""Identity accuracy: the share of ground-truth animals whose matched prediction carries their name.

Identity models name each animal from what it looks like; the tracking metrics (`tracking`)
count switches of names over time but not whether a name is right. `named_right` matches each
frame's ground-truth and predicted instances one-to-one by the mean distance of their parts
(Hungarian, within `match_px`) and counts the ground-truth instances whose match carries a track
of the same name; instances left without a match count as not named right.
"""

from __future__ import annotations

import numpy as np
import sleap_io as sio

MATCH_PX = 20.0  # default: a ground-truth animal is matched by a prediction whose mean part distance is within this


def mean_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`(n, nodes, 2)` and `(m, nodes, 2)` instances → `(n, m)` mean distance over the parts both
    have (inf where they share none)."""
    distance = np.linalg.norm(a[:, None] - b[None], axis=-1)  # (n, m, nodes)
    shared = ~np.isnan(distance)
    total = np.where(shared, distance, 0.0).sum(axis=-1)
    return np.where(shared.any(axis=-1), total / np.maximum(shared.sum(axis=-1), 1), np.inf)


def named_right(truth: sio.Labels, predictions: sio.Labels, match_px: float = MATCH_PX) -> tuple[float, int]:
    """Share of `truth`'s instances whose matched prediction (one-to-one, nearest, within
    `match_px`) has a track of the same name, and the number of them left unmatched. Frames
    are paired by frame index (labels of one video).

    Raises:
        ValueError: when a ground-truth instance has no track (nothing to name it by).
    """
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    by_frame = {lf.frame_idx: lf.instances for lf in predictions.labeled_frames}
    right = total = unmatched = 0
    for lf in truth.labeled_frames:
        gt = lf.instances
        if any(instance.track is None for instance in gt):
            raise ValueError(f"ground truth frame {lf.frame_idx}: an instance has no track, so no name to check")
        pred = by_frame.get(lf.frame_idx, [])
        total += len(gt)
        matched = {}
        if gt and pred:
            cost = mean_distance(np.stack([i.numpy() for i in gt]), np.stack([i.numpy() for i in pred]))
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
            matched = {r: c for r, c in zip(rows, cols) if cost[r, c] <= match_px}
        unmatched += len(gt) - len(matched)
        for r, c in matched.items():
            right += pred[c].track is not None and pred[c].track.name == gt[r].track.name
    return right / max(total, 1), unmatched
