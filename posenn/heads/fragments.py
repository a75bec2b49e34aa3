"""Join fragments of one animal: parts cut off from their instance by a missed part or a weak limb.

When a part in the middle of the skeleton is not found, or a limb's field is too weak to keep,
grouping yields the animal in pieces. A piece joins a larger instance of the same frame when the
two hold no part in common (so it may be that instance's missing parts) and are close for the
skeleton: some part of the piece lies within `hops × max_hop_length` of some part of the instance,
`hops` being the number of skeleton edges between the two parts. All of it is array operations on
the batch, repeated for a few rounds (one join per instance and round).
"""

from __future__ import annotations

import numpy as np


def skeleton_hops(n_nodes: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """`(nodes, nodes)` number of edges on the path between two parts; inf across trees, 0 on
    the diagonal."""
    from scipy.sparse import coo_matrix  # imported when used: scipy is slow to import
    from scipy.sparse.csgraph import shortest_path

    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_nodes, n_nodes))
    return shortest_path(graph, directed=False, unweighted=True)


def hop_ratios(peaks: np.ndarray, hops: np.ndarray) -> np.ndarray:
    """`(batch, vertices, vertices)` distance between two peaks over the skeleton hops between
    their parts (vertex = node * peaks + peak); inf for peaks of one part, of unconnected parts,
    or missing.

    Args:
        peaks: `(batch, nodes, peaks, 2)` part positions, NaN where missing.
        hops: `(nodes, nodes)` from `skeleton_hops`.
    """
    batch, nodes, n_peaks, _ = peaks.shape
    flat = peaks.reshape(batch, nodes * n_peaks, 2)
    distance = np.linalg.norm(flat[:, :, None] - flat[:, None], axis=-1)
    node = np.repeat(np.arange(nodes), n_peaks)
    vertex_hops = hops[node[:, None], node[None]]
    linked = np.isfinite(vertex_hops) & (vertex_hops > 0)
    ratio = np.full_like(distance, np.inf)
    np.divide(distance, vertex_hops, out=ratio, where=linked[None] & np.isfinite(distance))
    return ratio


def join_fragments(
    peaks: np.ndarray, label: np.ndarray, limb_total: np.ndarray, hops: np.ndarray, max_hop_length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Relabel peaks so that fragments join the instance whose missing parts they are.

    In each round every fragment picks the nearest larger instance it may join (smallest hop
    ratio); each instance takes at most its nearest fragment, and an instance that takes one does
    not itself move in that round. Rounds stop when nothing joins.

    Args:
        peaks: `(batch, nodes, peaks, 2)` part positions, NaN where missing.
        label: `(batch, nodes, peaks)` instance of each found peak, -1 where missing.
        limb_total: `(instances,)` sum of each instance's limb scores.
        hops: `(nodes, nodes)` from `skeleton_hops`.
        max_hop_length: longest distance (input pixels) per skeleton edge between two parts.

    Returns:
        The new labels (joined fragments take the instance's number) and limb totals (a joined
        fragment's total moves to its instance; its own becomes 0).
    """
    batch, nodes, n_peaks, _ = peaks.shape
    label, limb_total = label.reshape(batch, nodes * n_peaks).copy(), limb_total.copy()
    n_instances = len(limb_total)
    node_of_vertex = np.repeat(np.arange(nodes), n_peaks)
    ratios = hop_ratios(peaks, hops)
    near = ratios <= max_hop_length
    for _ in range(nodes):  # each round joins at least one fragment, and at most nodes - 1 join one animal
        frame, u, v = np.nonzero(near & (label[:, :, None] != label[:, None, :]) & (label[:, :, None] >= 0) & (label[:, None, :] >= 0))
        if not len(frame):
            break
        found = label >= 0
        size = np.bincount(label[found], minlength=n_instances)
        parts = np.zeros((n_instances, nodes), dtype=bool)
        parts[label[found], np.broadcast_to(node_of_vertex, label.shape)[found]] = True
        fragment, target, ratio = label[frame, u], label[frame, v], ratios[frame, u, v]
        smaller = (size[fragment] < size[target]) | ((size[fragment] == size[target]) & (fragment > target))
        allowed = smaller & ~(parts[fragment] & parts[target]).any(axis=1)
        fragment, target, ratio = fragment[allowed], target[allowed], ratio[allowed]
        if not len(fragment):
            break
        fragment, target, ratio = nearest_of_each(fragment, target, ratio)  # one target per fragment
        target, fragment, ratio = nearest_of_each(target, fragment, ratio)  # one fragment per target
        moving = ~np.isin(fragment, target)
        fragment, target = fragment[moving], target[moving]
        renumber = np.arange(n_instances)
        renumber[fragment] = target
        label = np.where(label >= 0, renumber[label], -1)
        limb_total[target] += limb_total[fragment]
        limb_total[fragment] = 0
    return label.reshape(batch, nodes, n_peaks), limb_total


def nearest_of_each(key: np.ndarray, other: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct `key`, the row with the smallest `ratio` (all `(rows,)`)."""
    order = np.lexsort((ratio, key))
    key, other, ratio = key[order], other[order], ratio[order]
    first = np.r_[True, key[1:] != key[:-1]]
    return key[first], other[first], ratio[first]
