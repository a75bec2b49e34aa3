"""Similarity matrices and matching on hand-made poses."""

import numpy as np

from posenn.tracking.matching import match
from posenn.tracking.similarity import similarity_matrix


def animal(x: float, y: float = 0.0) -> np.ndarray:
    """A 3-node animal 20 px long and 10 px wide with its head at `(x, y)`: `(3, 2)`."""
    return np.array([[x, y], [x + 20, y], [x + 10, y + 10]])


def test_identical_poses_are_most_similar_for_every_kind():
    candidates = np.array([animal(0), animal(100)])
    detections = np.array([animal(100), animal(0), animal(3)])
    for kind in ("oks", "iou", "centroid"):
        similarity = similarity_matrix(kind, candidates, detections, oks_sigma=0.1)
        assert similarity.shape == (2, 3)
        np.testing.assert_allclose([similarity[0, 1], similarity[1, 0]], 1.0)
        assert similarity[0, 0] < 0.01 and similarity[1, 1] < 0.01  # 100 px apart
        assert 0.01 < similarity[0, 2] < 1.0  # 3 px apart


def test_missing_points_and_empty_inputs_give_zero_or_empty():
    hidden = np.full((1, 3, 2), np.nan)
    for kind in ("oks", "iou", "centroid"):
        assert similarity_matrix(kind, hidden, animal(0)[None], 0.1)[0, 0] == 0.0
        assert similarity_matrix(kind, np.empty((0, 3, 2)), animal(0)[None], 0.1).shape == (0, 1)


def test_hungarian_beats_greedy_where_greedy_is_fooled():
    similarity = np.array([[0.9, 0.8], [0.7, 0.0]])
    assert sorted(match(similarity, "hungarian", 0.1)) == [(0, 1), (1, 0)]
    assert match(similarity, "greedy", 0.1) == [(0, 0)]  # (1, 1) is below the threshold


def test_pairs_below_min_similarity_are_dropped():
    assert match(np.array([[0.05, 0.0], [0.0, 0.5]]), "hungarian", 0.1) == [(1, 1)]
