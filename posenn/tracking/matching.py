"""Pairing candidates with detections from a similarity matrix."""

import numpy as np


def hungarian_pairs(similarity: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, column) maximizing the total similarity, each row and column used once."""
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return list(zip(rows.tolist(), cols.tolist()))


def greedy_pairs(similarity: np.ndarray) -> list[tuple[int, int]]:
    """Pairs taken best first, skipping any whose row or column is already used."""
    order = np.argsort(-similarity, axis=None, kind="stable")
    used_rows, used_cols, pairs = set(), set(), []
    for flat in order.tolist():
        row, col = divmod(flat, similarity.shape[1])
        if row not in used_rows and col not in used_cols:
            pairs.append((row, col))
            used_rows.add(row)
            used_cols.add(col)
    return pairs


def match(similarity: np.ndarray, method: str, min_similarity: float) -> list[tuple[int, int]]:
    """Pair rows (candidates) with columns (detections), dropping pairs below `min_similarity`.

    Args:
        similarity: `(m, n)` similarities.
        method: "hungarian" or "greedy".
        min_similarity: pairs scoring less are not matched.

    Returns:
        The kept (row, column) pairs.
    """
    if similarity.size == 0:
        return []
    pairs = hungarian_pairs(similarity) if method == "hungarian" else greedy_pairs(similarity)
    return [(r, c) for r, c in pairs if similarity[r, c] >= min_similarity]
