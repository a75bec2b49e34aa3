"""Join fragments of one animal: parts cut off from their instance by a missed part or a weak limb.

When a part in the middle of the skeleton is not found (e.g. hidden under another animal), or a
limb's field is too weak to keep, grouping yields the animal in pieces. A piece joins a larger
instance (or, when the animal's hub is hidden, a larger piece) of the same frame when the two
hold no part in common (so it may be that instance's missing parts) and are close for the
skeleton: some part of the piece lies within `hops × max_hop_length` of some part of the instance,
`hops` being the number of skeleton edges between the two parts. All of it is array operations on
the batch, repeated for a few rounds (one join per instance and round); distances are measured
only between the peaks of instances that may ever join (see `joinable_pairs`), so the work grows
with the fragments, not with the square of the peaks.
"""

from __future__ import annotations

import functools

import numpy as np

MIN_TARGET_PARTS = 2  # a piece takes fragments once it holds a limb: lone peaks never gather


@functools.lru_cache(maxsize=32)
def skeleton_hops(n_nodes: int, edges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """`(nodes, nodes)` number of edges on the path between two parts; inf across trees, 0 on
    the diagonal. Computed once per skeleton: the array is shared and read-only."""
    from scipy.sparse import coo_matrix  # imported when used: scipy is slow to import
    from scipy.sparse.csgraph import shortest_path

    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_nodes, n_nodes))
    hops = shortest_path(graph, directed=False, unweighted=True)
    hops.setflags(write=False)
    return hops


def held_parts(instance: np.ndarray, node: np.ndarray, n_instances: int, n_nodes: int) -> np.ndarray:
    """`(instances, nodes)` bool, the parts each instance holds, from the instance and the node
    of each found peak (`(found,)` each)."""
    parts = np.zeros((n_instances, n_nodes), dtype=bool)
    parts[instance, node] = True
    return parts


def joinable_pairs(
    frame: np.ndarray, incomplete: np.ndarray, target: np.ndarray, parts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of instances that may ever join: of one frame, the first incomplete, the second a
    target, with no part in common (parts only gather as fragments join, so two instances that
    share a part never join, nor do the instances they become part of).

    Args:
        frame: `(instances,)` frame of each instance in the batch.
        incomplete, target: `(instances,)` bool, instances missing parts, instances that may
            take fragments.
        parts: `(instances, nodes)` bool, the parts each instance holds.

    Returns:
        first, second: `(pairs,)` the instances of each pair.
    """
    first, second = np.flatnonzero(incomplete), np.flatnonzero(target)
    i, j = np.nonzero((frame[first][:, None] == frame[second][None, :]) & (first[:, None] != second[None, :]))
    first, second = first[i], second[j]
    packed = np.packbits(parts, axis=1)  # (instances, bytes) the parts as bits
    apart = ~(packed[first] & packed[second]).any(axis=1)
    return first[apart], second[apart]


def near_pairs(
    peaks: np.ndarray, label: np.ndarray, first: np.ndarray, second: np.ndarray, hops: np.ndarray, max_hop_length: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair of instances of one frame, the pairs of their peaks within `max_hop_length`
    per skeleton edge between their parts (peaks of one part or of unconnected parts are never
    near).

    Args:
        peaks: `(batch, nodes, peaks, 2)` part positions, NaN where missing.
        label: `(batch, nodes * peaks)` instance of each peak (vertex = `node * peaks + peak`),
            -1 where missing.
        first, second: `(pairs,)` the instances of each pair, of one frame.
        hops: `(nodes, nodes)` from `skeleton_hops`.
        max_hop_length: the longest distance per skeleton edge.

    Returns:
        first, second: `(near,)` the instances of each pair of near peaks (first's peak, second's
            peak).
        ratio: `(near,)` their distance over the hops between their parts.
    """
    batch, nodes, n_peaks, _ = peaks.shape
    flat = peaks.reshape(batch * nodes * n_peaks, 2).astype(np.float32)
    pair, u, v = peak_pairs(label.reshape(-1), first, second)
    dx, dy = (flat[u, axis] - flat[v, axis] for axis in (0, 1))
    squared = dx * dx + dy * dy
    pair_hops = hops[u // n_peaks % nodes, v // n_peaks % nodes]
    linked = np.isfinite(pair_hops) & (pair_hops > 0)
    near = linked & (squared <= (max_hop_length * np.where(linked, pair_hops, 0)) ** 2)
    return first[pair[near]], second[pair[near]], np.sqrt(squared[near]) / pair_hops[near]


def peak_pairs(label: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of a peak of `first` and a peak of `second`, for each pair of instances.

    Args:
        label: `(peaks,)` instance of each peak of the batch, -1 where missing.
        first, second: `(pairs,)` the instances of each pair.

    Returns:
        pair, u, v: `(peak pairs,)` the pair of instances, the peak of its first and of its second.
    """
    found = np.flatnonzero(label >= 0)
    order = np.argsort(label[found], kind="stable")
    members, owner = found[order], label[found][order]  # found peaks, grouped by instance
    start_a, start_b = np.searchsorted(owner, first), np.searchsorted(owner, second)
    count_b = np.searchsorted(owner, second, side="right") - start_b
    count = (np.searchsorted(owner, first, side="right") - start_a) * count_b
    pair = np.repeat(np.arange(len(first)), count)
    index = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)  # within the pair's peak pairs
    return pair, members[start_a[pair] + index // count_b[pair]], members[start_b[pair] + index % count_b[pair]]


def join_fragments(
    peaks: np.ndarray, label: np.ndarray, limb_total: np.ndarray, hops: np.ndarray, max_hop_length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Relabel peaks so that fragments join the instance whose missing parts they are.

    In each round every fragment picks the nearest larger instance it may join (smallest hop
    ratio) among those with at least one limb (`MIN_TARGET_PARTS`: lone peaks join, but do not
    gather); pieces of an animal whose central part is hidden gather this way into one instance
    (whether it is kept is decided afterwards, by its parts and score). Lone peaks join only in
    rounds where no piece holding a limb can: a stray peak that took a part's place in one piece
    would keep it from the piece of the same animal that holds that part. Each instance takes the
    fragments that chose it, nearest first, except those sharing a part with a nearer one (they
    try again in the next round); an instance that takes fragments does not itself move in that
    round. Rounds stop when nothing joins.

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
    label, limb_total = label.reshape(batch, nodes * n_peaks), limb_total.copy()
    n_instances = len(limb_total)
    node_of_vertex = np.broadcast_to(np.repeat(np.arange(nodes), n_peaks), label.shape)
    found = label >= 0
    size = np.bincount(label[found], minlength=n_instances)
    frame = np.zeros(n_instances, dtype=np.int64)
    frame[label[found]] = np.nonzero(found)[0]
    # Complete instances neither take nor give parts; sizes only grow, so targets stay targets.
    target = (size >= MIN_TARGET_PARTS) & (size < nodes)
    parts = held_parts(label[found], node_of_vertex[found], n_instances, nodes)
    first, second = joinable_pairs(frame, size < nodes, target, parts)
    first, second, ratio = nearest_of_each_pair(*near_pairs(peaks, label, first, second, hops, max_hop_length), n_instances)
    renumber = np.arange(n_instances)  # original instance → the instance it is now part of
    for _ in range(2 * nodes):  # each round joins one fragment or more: pieces, then lone peaks
        if not len(first):
            break
        found = label >= 0
        current = renumber[label[found]]
        size = np.bincount(current, minlength=n_instances)
        parts = held_parts(current, node_of_vertex[found], n_instances, nodes)
        smaller = (size[first] < size[second]) | ((size[first] == size[second]) & (first > second))
        allowed = smaller & ~(parts[first] & parts[second]).any(axis=1)
        if not allowed.any():
            break
        pieces = allowed & (size[first] >= MIN_TARGET_PARTS)
        if pieces.any():  # lone peaks join once the pieces holding a limb have gathered
            allowed = pieces
        joining, into, best = nearest_of_each(first[allowed], second[allowed], ratio[allowed])  # one target per fragment
        joining, into = without_conflicts(joining, into, best, parts)
        moving = ~np.isin(joining, into)
        joining, into = joining[moving], into[moving]
        step = np.arange(n_instances)
        step[joining] = into
        renumber = step[renumber]
        first, second, ratio = nearest_of_each_pair(step[first], step[second], ratio, n_instances)
        limb_total[into] += limb_total[joining]
        limb_total[joining] = 0
    label = np.where(label >= 0, renumber[label], -1)
    return label.reshape(batch, nodes, n_peaks), limb_total


def without_conflicts(
    joining: np.ndarray, into: np.ndarray, ratio: np.ndarray, parts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The fragments that may join their chosen instance together: per instance, nearest first,
    each fragment sharing no part with a nearer fragment of the same instance.

    Args:
        joining, into, ratio: `(fragments,)` each fragment, its chosen instance and hop ratio.
        parts: `(instances, nodes)` bool, the parts each instance holds.
    """
    order = np.lexsort((ratio, into))
    joining, into = joining[order], into[order]
    held = parts[joining].astype(np.int64)  # (fragments, nodes)
    before = np.cumsum(held, axis=0) - held  # parts of the fragments sorted before each one
    start = np.flatnonzero(np.r_[True, into[1:] != into[:-1]])
    group = np.cumsum(np.r_[True, into[1:] != into[:-1]]) - 1
    before -= before[start][group]  # ... of the same instance
    free = ~((before > 0) & (held > 0)).any(axis=1)
    return joining[free], into[free]


def nearest_of_each_pair(
    first: np.ndarray, second: np.ndarray, ratio: np.ndarray, n_instances: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct pair of different instances `(first, second)`, the smallest `ratio`."""
    apart = first != second
    key, ratio = (first * n_instances + second)[apart], ratio[apart]
    if not len(key):
        return key, key, ratio
    order = np.argsort(key, kind="stable")
    key, ratio = key[order], ratio[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    key = key[start]
    return key // n_instances, key % n_instances, np.minimum.reduceat(ratio, start)


def nearest_of_each(key: np.ndarray, other: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct `key`, the row with the smallest `ratio` (all `(rows,)`)."""
    order = np.lexsort((ratio, key))
    key, other, ratio = key[order], other[order], ratio[order]
    first = np.r_[True, key[1:] != key[:-1]][: len(key)]
    return key[first], other[first], ratio[first]
