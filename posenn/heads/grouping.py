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
        The kept limbs, with their line scores, ordered by frame, edge and source peak.
    """
    batch, n_edges, n_sources, n_destinations = candidates.shape
    ranking = (scores if ranking is None else ranking).reshape(batch * n_edges, n_sources, n_destinations)
    allowed = candidates.reshape(batch * n_edges, n_sources, n_destinations)  # one assignment problem per (frame, edge)
    has_source, has_destination = allowed.any(axis=2), allowed.any(axis=1)  # (problems, peaks)
    sources_used, destinations_used = has_source.sum(axis=1), has_destination.sum(axis=1)
    one_side = (sources_used == 1) | (destinations_used == 1)
    several = (sources_used > 1) & (destinations_used > 1)
    best = best_limbs(ranking[one_side], allowed[one_side])
    optimal = optimal_limbs(ranking[several], allowed[several], has_source[several], has_destination[several])
    problem = np.concatenate([np.flatnonzero(one_side)[best[0]], np.flatnonzero(several)[optimal[0]]])
    source, destination = np.concatenate([best[1], optimal[1]]), np.concatenate([best[2], optimal[2]])
    order = np.lexsort((source, problem))
    problem, source, destination = problem[order], source[order], destination[order]
    frame, edge = problem // n_edges, problem % n_edges
    score = np.minimum(scores[frame, edge, source, destination], 1.0).astype(np.float32)
    return Limbs(frame, edge, source, destination, score)


def best_limbs(ranking: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one allowed limb of highest ranking of each problem (the first in row-major order on
    ties), for problems with a single source or a single destination peak.

    Args:
        ranking, allowed: `(problems, sources, destinations)`, each problem with some allowed limb.

    Returns:
        problem, source, destination: `(problems,)` indices.
    """
    n_problems, n_sources, n_destinations = allowed.shape
    masked = np.where(allowed, ranking, -np.inf).reshape(n_problems, n_sources * n_destinations)
    best = np.argmax(masked, axis=1)
    return np.arange(n_problems), best // n_destinations, best % n_destinations


def optimal_limbs(
    ranking: np.ndarray, allowed: np.ndarray, has_source: np.ndarray, has_destination: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-to-one allowed limbs of highest total ranking of each problem (Hungarian, on the
    peaks that have an allowed limb; the most allowed limbs first, disallowed ones rank -1e6).

    Args:
        ranking, allowed: `(problems, sources, destinations)`.
        has_source, has_destination: `(problems, sources)` and `(problems, destinations)`, peaks
            with an allowed limb, more than one of each in every problem.

    Returns:
        problem, source, destination: `(limbs,)` indices, by problem and source.
    """
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    rows, columns = compact(has_source), compact(has_destination)  # peaks with limbs first, in order
    filled = np.where(allowed, ranking, -1e6)
    filled = np.take_along_axis(np.take_along_axis(filled, rows[:, :, None], axis=1), columns[:, None, :], axis=2)
    sizes = zip(has_source.sum(axis=1).tolist(), has_destination.sum(axis=1).tolist())
    picked = [linear_sum_assignment(filled[p, :n_rows, :n_columns], maximize=True) for p, (n_rows, n_columns) in enumerate(sizes)]
    problem = np.repeat(np.arange(len(picked)), np.array([len(row) for row, _ in picked], dtype=np.int64))
    none = [np.zeros(0, dtype=np.int64)]
    source = rows[problem, np.concatenate(none + [row for row, _ in picked])]
    destination = columns[problem, np.concatenate(none + [column for _, column in picked])]
    keep = allowed[problem, source, destination]
    return problem[keep], source[keep], destination[keep]


def compact(mask: np.ndarray) -> np.ndarray:
    """`(rows, n)` bool → `(rows, k)` the indices where it is True first in each row, in order,
    then others (k: the most True in a row)."""
    k = int(mask.sum(axis=1).max(initial=0))
    return np.argsort(~mask, axis=1, kind="stable")[:, :k]


@dataclass(frozen=True)
class GroupedInstances:
    """Instances of a batch, best first in each frame.

    Attributes:
        points: `(batch, max_instances, nodes, 2)` xy; NaN for missing parts and empty slots.
        point_scores: `(batch, max_instances, nodes)` peak values, 0 where missing.
        scores: `(batch, max_instances)` the instance's limb scores and its parts' peak values,
            summed over the number of edges and nodes (1 for a complete animal with perfect
            maps and fields), 0 for empty slots. Parts count as well as limbs, so an animal
            whose central part is hidden (its pieces joined as fragments) is not scored as a
            stray.
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
        max_hop_length: fragments join a nearby instance (see `fragments.join_fragments`)
            when given, in input pixels per skeleton edge; None or 0 for no joining.
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
        hops = skeleton_hops(nodes, tuple(map(tuple, edge_array.tolist())))
        label, limb_total = join_fragments(peaks, label, limb_total, hops, max_hop_length)
        instance_of = label[found]
    size = np.bincount(instance_of, minlength=len(labels))
    peak_total = np.bincount(instance_of, weights=np.minimum(peak_scores[found], 1.0), minlength=len(labels))
    score = (limb_total + peak_total) / (len(edges) + nodes)
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
