"""`remove_duplicates`: two detections of one animal keep the higher-scoring one."""

import numpy as np
import pytest

from posenn.evaluation.matching import DEFAULT_SIGMA, oks_matrix
from posenn.inference.duplicates import remove_duplicates

MAX_OKS = 0.8


def animal(x: float, y: float, rng: np.random.Generator | None = None, n_nodes: int = 5) -> np.ndarray:
    """A fly-sized `(n_nodes, 2)` animal (about 40 × 30 px) at (x, y)."""
    base = np.array([[0, 0], [20, 5], [40, 0], [10, 30], [30, 30]], np.float64)[:n_nodes]
    if rng is not None:
        base = base + rng.normal(0, 1, base.shape)
    return (base + [x, y]).astype(np.float32)


def oks(a: np.ndarray, b: np.ndarray) -> float:
    """The symmetric OKS that remove_duplicates compares with max_oks."""
    sigmas = np.full(a.shape[0], DEFAULT_SIGMA)
    return float(max(oks_matrix(a[None], b[None], sigmas)[0, 0], oks_matrix(b[None], a[None], sigmas)[0, 0]))


def test_identical_instances_keep_the_higher_score():
    one = animal(100, 100)
    points = np.stack([one, one.copy()])
    assert remove_duplicates(points, np.array([0.4, 0.9]), MAX_OKS).tolist() == [1]
    assert remove_duplicates(points, np.array([0.9, 0.4]), MAX_OKS).tolist() == [0]
    # Equal scores: the first one (stable order).
    assert remove_duplicates(points, np.array([0.5, 0.5]), MAX_OKS).tolist() == [0]


def test_far_apart_instances_are_both_kept():
    points = np.stack([animal(10, 10), animal(200, 150)])
    assert oks(points[0], points[1]) < 1e-6
    assert remove_duplicates(points, np.array([0.3, 0.9]), MAX_OKS).tolist() == [0, 1]


def test_a_duplicate_is_judged_against_kept_instances_only():
    """Best (2) duplicates the second (0) but not the third (1): keep 1 and 2."""
    rng = np.random.default_rng(0)
    best = animal(100, 100)
    second = best + rng.normal(0, 0.3, best.shape).astype(np.float32)  # a near-copy
    third = animal(100 + 25, 100)  # overlaps, but a different animal
    points = np.stack([second, third, best])
    scores = np.array([0.8, 0.7, 0.9])
    assert oks(best, second) > MAX_OKS > oks(best, third)
    assert remove_duplicates(points, scores, MAX_OKS).tolist() == [1, 2]


def test_a_chain_of_duplicates_compares_with_kept_instances_only():
    """a ~ b and b ~ c but not a ~ c: b is dropped for a, and c stays (it is only like b)."""
    a = animal(100, 100)
    b = a + np.float32(0.75)  # OKS ≈ 0.83 with a (a 40 × 30 px animal, sigma 0.025)
    c = b + np.float32(0.75)  # OKS ≈ 0.83 with b, ≈ 0.47 with a
    points = np.stack([c, b, a])
    scores = np.array([0.5, 0.7, 0.9])
    assert oks(a, b) > MAX_OKS and oks(b, c) > MAX_OKS and oks(a, c) <= MAX_OKS, (oks(a, b), oks(b, c), oks(a, c))
    assert remove_duplicates(points, scores, MAX_OKS).tolist() == [0, 2]


def test_max_oks_is_a_strict_bound():
    a = animal(100, 100)
    b = a + np.float32(3.0)
    similarity = oks(a, b)
    points = np.stack([a, b])
    scores = np.array([0.9, 0.8])
    assert remove_duplicates(points, scores, similarity + 1e-6).tolist() == [0, 1]
    assert remove_duplicates(points, scores, similarity - 1e-6).tolist() == [0]


def test_missing_parts_compare_on_the_parts_both_have():
    a = animal(100, 100)
    b = a.copy()
    b[[1, 3]] = np.nan  # same animal, fewer parts found
    assert remove_duplicates(np.stack([a, b]), np.array([0.6, 0.9]), MAX_OKS).tolist() == [1]


def test_an_all_nan_instance_does_not_remove_real_ones():
    """An instance with no points is nobody's duplicate: the real animals stay, whatever its score."""
    empty = np.full((5, 2), np.nan, np.float32)
    points = np.stack([animal(10, 10), empty, animal(200, 150)])
    for empty_score in (0.1, 0.99):
        keep = remove_duplicates(points, np.array([0.8, empty_score, 0.7]), MAX_OKS)
        assert {0, 2} <= set(keep.tolist()), f"empty instance scored {empty_score}: kept {keep.tolist()}"


@pytest.mark.parametrize("seed", range(5))
def test_indices_are_sorted_and_unique(seed):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 300, (8, 2))
    points = np.stack([animal(x, y, rng) for x, y in centres])
    # Duplicate some of them, with small jitter.
    copies = rng.choice(8, 4, replace=False)
    points = np.concatenate([points, points[copies] + rng.normal(0, 0.2, (4, 5, 2)).astype(np.float32)])
    scores = rng.random(len(points))
    keep = remove_duplicates(points, scores, MAX_OKS)
    assert keep.dtype.kind == "i"
    assert keep.tolist() == sorted(set(keep.tolist()))
    # Of each original/copy pair, exactly the higher-scoring one is kept.
    for copy_row, original in enumerate(copies, start=8):
        winner, loser = (original, copy_row) if scores[original] >= scores[copy_row] else (copy_row, original)
        assert winner in keep and loser not in keep
    # No two kept instances are duplicates; every dropped one duplicates a kept, higher one.
    for i in keep:
        for j in keep:
            if i != j:
                assert oks(points[i], points[j]) <= MAX_OKS
    for dropped in set(range(len(points))) - set(keep.tolist()):
        assert any(oks(points[dropped], points[k]) > MAX_OKS and scores[k] >= scores[dropped] for k in keep)


def test_fewer_than_two_instances():
    assert remove_duplicates(np.zeros((0, 5, 2), np.float32), np.zeros(0), MAX_OKS).tolist() == []
    assert remove_duplicates(animal(1, 1)[None], np.array([0.1]), MAX_OKS).tolist() == [0]
