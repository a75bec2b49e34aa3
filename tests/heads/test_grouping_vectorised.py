"""The batch-wide grouping steps equal their straightforward loops on random inputs."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from posenn.heads import fragments
from posenn.heads.fragments import join_fragments, joinable_pairs, near_pairs, skeleton_hops
from posenn.heads.grouping import assign_limbs

SKELETON = ((0, 1), (1, 2), (1, 3), (3, 4), (5, 6))  # two trees


def assign_limbs_one_by_one(scores: np.ndarray, candidates: np.ndarray, ranking: np.ndarray) -> list[tuple]:
    """(frame, edge, source, destination, score) of the limbs kept, one problem at a time."""
    rows = []
    for frame, edge in np.argwhere(candidates.any(axis=(2, 3))):
        allowed = candidates[frame, edge]
        sources, destinations = np.flatnonzero(allowed.any(axis=1)), np.flatnonzero(allowed.any(axis=0))
        sub_allowed = allowed[np.ix_(sources, destinations)]
        sub_ranking = ranking[frame, edge][np.ix_(sources, destinations)]
        if len(sources) == 1 or len(destinations) == 1:
            best = np.unravel_index(np.argmax(np.where(sub_allowed, sub_ranking, -np.inf)), sub_allowed.shape)
            picked = [best]
        else:
            row, column = linear_sum_assignment(np.where(sub_allowed, sub_ranking, -1e6), maximize=True)
            picked = [(i, j) for i, j in zip(row, column) if sub_allowed[i, j]]
        for i, j in picked:
            source, destination = sources[i], destinations[j]
            rows.append((frame, edge, source, destination, np.float32(min(scores[frame, edge, source, destination], 1.0))))
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_assign_limbs_equals_one_assignment_per_frame_and_edge(seed):
    rng = np.random.default_rng(seed)
    shape = (3, 4, rng.integers(1, 7), rng.integers(1, 7))
    scores = rng.uniform(0, 1.2, shape).astype(np.float32)
    candidates = rng.random(shape) < rng.uniform(0.05, 0.9)
    ranking = scores + rng.uniform(0, 1, shape).astype(np.float32)
    limbs = assign_limbs(scores, candidates, ranking)
    got = list(zip(limbs.frame, limbs.edge, limbs.source, limbs.destination, limbs.score))
    assert got == assign_limbs_one_by_one(scores, candidates, ranking)
    by_score = assign_limbs(scores, candidates)
    assert list(zip(by_score.source, by_score.destination)) == [row[2:4] for row in assign_limbs_one_by_one(scores, candidates, scores)]
    assert limbs.score.dtype == np.float32 and limbs.frame.dtype == np.int64


def random_scene(rng: np.random.Generator, batch: int = 3, animals: int = 4, n_peaks: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Peaks `(batch, 7, n_peaks, 2)` of animals with parts missing, cut into random fragments,
    and their labels `(batch, 7, n_peaks)` (-1 where no peak)."""
    nodes = 7
    peaks = np.full((batch, nodes, n_peaks, 2), np.nan, dtype=np.float32)
    label = np.full((batch, nodes, n_peaks), -1, dtype=np.int64)
    n_instances = 0
    for frame in range(batch):
        for animal in range(animals):
            centre = rng.uniform(0, 60, 2)
            present = np.flatnonzero(rng.random(nodes) < 0.8)
            pieces = rng.integers(0, rng.integers(1, 4), len(present))  # fragment of each present part
            for node, piece in zip(present, pieces):  # the animal's peak of each part: peak `animal`
                peaks[frame, node, animal] = centre + rng.normal(0, 8, 2)
                label[frame, node, animal] = n_instances + piece
            n_instances += 3
        stray = rng.integers(animals, n_peaks, size=2)
        for node, peak in zip(rng.integers(0, nodes, 2), stray):
            peaks[frame, node, peak] = rng.uniform(0, 60, 2)
            label[frame, node, peak] = n_instances
            n_instances += 1
    label[label >= 0] = np.unique(label[label >= 0], return_inverse=True)[1]  # numbers without gaps
    return peaks, label


def test_joinable_pairs_equal_a_loop_over_instance_pairs():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 3, 30)
    parts = rng.random((30, 7)) < 0.3
    incomplete, target = ~parts.all(axis=1), rng.random(30) < 0.5
    first, second = joinable_pairs(frame, incomplete, target, parts)
    expected = [(a, b) for a in range(30) for b in range(30)
                if a != b and frame[a] == frame[b] and incomplete[a] and target[b] and not (parts[a] & parts[b]).any()]
    assert list(zip(first.tolist(), second.tolist())) == expected


def test_near_pairs_equal_a_loop_over_peak_pairs():
    rng = np.random.default_rng(1)
    peaks, label = random_scene(rng)
    hops = skeleton_hops(7, SKELETON)
    flat_label = label.reshape(len(label), -1)
    frame_of = np.array([np.nonzero(flat_label == instance)[0][0] for instance in range(flat_label.max() + 1)])
    first, second = np.nonzero((frame_of[:, None] == frame_of[None, :]))  # pairs of one frame
    first, second = first[first != second], second[first != second]
    got = near_pairs(peaks, flat_label, first, second, hops, 12.0)
    expected = []
    for a, b in zip(first, second):
        for frame, u in zip(*np.nonzero(flat_label == a)):
            for v in np.flatnonzero(flat_label[frame] == b):
                (node_u, peak_u), (node_v, peak_v) = divmod(u, 6), divmod(v, 6)
                distance = np.float32(np.hypot(*(peaks[frame, node_u, peak_u] - peaks[frame, node_v, peak_v])))
                if 0 < hops[node_u, node_v] < np.inf and distance <= 12.0 * hops[node_u, node_v]:
                    expected.append((a, b, distance / hops[node_u, node_v]))
    assert len(expected) > 10
    assert sorted(zip(got[0].tolist(), got[1].tolist())) == sorted((a, b) for a, b, _ in expected)
    np.testing.assert_allclose(sorted(got[2]), sorted(r for _, _, r in expected), rtol=1e-5)


@pytest.mark.parametrize("seed", range(8))
def test_joining_only_pairs_without_common_parts_changes_nothing(seed, monkeypatch):
    """Instances that share a part never join: leaving their pairs out gives the same joins as
    pairing every incomplete instance with every target of its frame."""
    rng = np.random.default_rng(seed)
    peaks, label = random_scene(rng)
    hops = skeleton_hops(7, SKELETON)
    limb_total = rng.uniform(0, 3, label.max() + 1)
    reach = float(rng.uniform(5, 30))
    pruned = join_fragments(peaks, label, limb_total, hops, reach)

    def every_pair(frame, incomplete, target, parts):
        return joinable_pairs(frame, incomplete, target, np.zeros_like(parts))

    monkeypatch.setattr(fragments, "joinable_pairs", every_pair)
    unpruned = join_fragments(peaks, label, limb_total, hops, reach)
    np.testing.assert_array_equal(pruned[0], unpruned[0])
    np.testing.assert_array_equal(pruned[1], unpruned[1])
    assert (pruned[0] != label).any()  # fragments do join
