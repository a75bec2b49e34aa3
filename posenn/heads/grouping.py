"""Group detected parts into animals: one optimal assignment per limb, then connected parts.

Runs on the CPU on one batch at a time. Limb candidates were scored on the device (see
`pafs.line_scores`); here each (frame, edge) keeps the best one-to-one set of limbs (Hungarian),
and animals are the connected components of the graph of kept limbs, with fragments cut off by a
missed part joined back (see `fragments`). On a skeleton forest (see
`pafs.spanning_edges`) a component never holds two peaks of the same part, so no conflict
resolution is needed; a skeleton of several trees yields one instance per tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posenn.heads.fragments import join_fragments, skeleton_hops


@dataclass(frozen=True)
class Limbs:
    """Limbs kept after assignment, one row each.

    Attributes:
        frame, edge, source, destination: `(limbs,)` frame in the batch, edge index, and the
            peak indices of its source and destination parts.
        score: `(limbs,)` line score of the limb, at most 1 (a field that overshoots the unit
            length along the limb adds nothing).
    """

    frame: np.ndarray
    edge: np.ndarray
    source: np.ndarray
    destination: np.ndarray
    score: np.ndarray


def assign_limbs(scores: np.ndarray, candidates: np.ndarray, ranking: np.ndarray | None = None) -> Limbs:
    """Per frame and edge, the one-to-one set of candidate limbs with the highest total ranking.

    Args:
        scores: `(batch, edges, peaks, peaks)` line scores [source peak, destination peak].
        candidates: `(batch, edges, peaks, peaks)` bool, limbs allowed (both peaks found, score
            and support above their minimums).
        ranking: same shape, what the assignment maximises (e.g. line scores plus the parts'
            peak values, see `BottomUpHead.limb_peak_weight`); the line scores when None.

    Returns:
        The kept limbs, with their line scores.
    """
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    ranking = scores if ranking is None else ranking
    rows: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for frame, edge in np.argwhere(candidates.any(axis=(2, 3))):
        allowed = candidates[frame, edge]
        sources, destinations = np.flatnonzero(allowed.any(axis=1)), np.flatnonzero(allowed.any(axis=0))
        sub_allowed = allowed[np.ix_(sources, destinations)]
        if len(sources) == 1 or len(destinations) == 1:
            sub_scores = np.where(sub_allowed, ranking[frame, edge][np.ix_(sources, destinations)], -np.inf)
            best = np.unravel_index(np.argmax(sub_scores), sub_scores.shape)
            picked = (np.array([best[0]]), np.array([best[1]]))
        else:
            sub_scores = np.where(sub_allowed, ranking[frame, edge][np.ix_(sources, destinations)], -1e6)
            picked = linear_sum_assignment(sub_scores, maximize=True)
            keep = sub_allowed[picked]
            picked = (picked[0][keep], picked[1][keep])
        rows.append((frame, edge, sources[picked[0]], destinations[picked[1]]))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return Limbs(empty, empty, empty, empty, np.zeros(0, dtype=np.float32))
    frame = np.concatenate([np.full(len(s), f) for f, _, s, _ in rows])
    edge = np.concatenate([np.full(len(s), e) for _, e, s, _ in rows])
    source = np.concatenate([s for _, _, s, _ in rows])
    destination = np.concatenate([d for _, _, _, d in rows])
    score = np.minimum(scores[frame, edge, source, destination], 1.0).astype(np.float32)
    return Limbs(frame, edge, source, destination, score)


@dataclass(frozen=True)
class GroupedInstances:
    """Instances of a batch, best first in each frame.

    Attributes:
        points: `(batch, max_instances, nodes, 2)` xy; NaN for missing parts and empty slots.
        point_scores: `(batch, max_instances, nodes)` peak values, 0 where missing.
        scores: `(batch, max_instances)` sum of the instance's limb scores over the number of
            edges (1 for a complete, perfectly supported animal), 0 for empty slots.
    """

    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray


def assemble_instances(
    peaks: np.ndarray,
    peak_scores: np.ndarray,
    limbs: Limbs,
    edges: list[tuple[int, int]],
    max_instances: int,
    min_points: int,
    min_score: float = 0.0,
    max_hop_length: float | None = None,
) -> GroupedInstances:
    """Connected components of the kept limbs, fragments joined to their animal, as instances
    ranked by score within each frame.

    Args:
        peaks: `(batch, nodes, peaks, 2)` part positions, NaN past the last peak.
        peak_scores: `(batch, nodes, peaks)` peak values.
        limbs: kept limbs (see `assign_limbs`).
        edges: `(source, destination)` node indices of the skeleton forest.
        max_instances: at most this many instances per frame.
        min_points: instances with fewer parts are dropped.
        min_score: instances scoring less (see `GroupedInstances.scores`) are dropped.
        max_hop_length: fragments join a nearby instance of at least `min_points` parts (see
            `fragments.join_fragments`) when given, in input pixels per skeleton edge; None or 0
            for no joining.
    """
    from scipy.sparse import coo_matrix  # imported when used: scipy is slow to import
    from scipy.sparse.csgraph import connected_components

    batch, nodes, n_peaks, _ = peaks.shape
    found = ~np.isnan(peaks[..., 0])  # (batch, nodes, peaks)
    edge_array = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    n_vertices = batch * nodes * n_peaks

    def vertex(frame: np.ndarray, node: np.ndarray, peak: np.ndarray) -> np.ndarray:
        return (frame * nodes + node) * n_peaks + peak

    a = vertex(limbs.frame, edge_array[limbs.edge, 0], limbs.source)
    b = vertex(limbs.frame, edge_array[limbs.edge, 1], limbs.destination)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n_vertices, n_vertices))
    _, component = connected_components(graph, directed=False)

    frame_of, node_of, peak_of = np.nonzero(found)
    vertices = vertex(frame_of, node_of, peak_of)
    labels, instance_of = np.unique(component[vertices], return_inverse=True)
    limb_total = np.bincount(np.searchsorted(labels, component[a]), weights=limbs.score, minlength=len(labels))
    if max_hop_length and len(labels) > 1:
        label = np.full(found.shape, -1, dtype=np.int64)
        label[found] = instance_of
        label, limb_total = join_fragments(peaks, label, limb_total, skeleton_hops(nodes, edges), max_hop_length, min_points)
        instance_of = label[found]
    size = np.bincount(instance_of, minlength=len(labels))
    score = limb_total / max(len(edges), 1)
    instance_frame = np.zeros(len(labels), dtype=np.int64)
    instance_frame[instance_of] = frame_of

    keep = (size >= max(min_points, 1)) & (score >= min_score)
    order = np.lexsort((-score, instance_frame))
    order = order[keep[order]]
    rank = np.zeros(len(labels), dtype=np.int64)
    first_of_frame = np.searchsorted(instance_frame[order], instance_frame[order])
    rank[order] = np.arange(len(order)) - first_of_frame
    kept = np.zeros(len(labels), dtype=bool)
    kept[order] = rank[order] < max_instances

    points = np.full((batch, max_instances, nodes, 2), np.nan, dtype=np.float32)
    point_scores = np.zeros((batch, max_instances, nodes), dtype=np.float32)
    scores = np.zeros((batch, max_instances), dtype=np.float32)
    chosen = kept[instance_of]
    slot = rank[instance_of][chosen]
    frame, node, peak = frame_of[chosen], node_of[chosen], peak_of[chosen]
    points[frame, slot, node] = peaks[frame, node, peak]
    point_scores[frame, slot, node] = peak_scores[frame, node, peak]
    scores[instance_frame[kept], rank[kept]] = score[kept]
    return GroupedInstances(points, point_scores, scores)
