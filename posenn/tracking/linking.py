"""The global pass: tracklets joined into N identities by one min-cost flow over all of them.

Each identity is a path through tracklets in time order, so tracklets that share a frame are
never the same identity, and at most N paths exist: the constraint that there are N animals.
Among all such sets of paths the flow finds the one of least total cost, where

- covering a tracklet earns `COVER_REWARD` nats per detection, so every tracklet is covered when
  the N paths can hold it, and only then do the link costs choose between ways of covering;
- linking the end of tracklet a to the start of tracklet b, `gap` frames later, costs the negative
  log-likelihood of b's start under a motion model (`link_costs`): a's last centroid moved on by
  the mean of a's final and b's initial velocities (those known: a tracklet of a few frames has none),
  with a Gaussian error whose spread grows with
  the gap (`spread`), plus a term for the change of body size.

Tracklet a may be followed by any tracklet starting within `max_gap` frames of its end, and by the
`count` tracklets that start first after that (so an animal hidden for longer is still found).

The flow is solved by successive shortest paths (one Dijkstra per identity, with potentials so
that reduced costs stay non-negative): exact, and O(N · E log V) for E candidate links.

For proofreading, every decision gets a confidence (`junction_confidence`): how much cheaper the
chosen link is than the best swap with another link, or than handing the tracklet to another
identity, as tanh(margin / 2) — 0 where either was as likely.
"""

from dataclasses import dataclass

import numpy as np

from posenn.tracking.postprocess import Tracklet

COVER_REWARD = 10.0  # nats per detection of a covered tracklet
VELOCITY_FRAMES = 5  # a tracklet's end (start) velocity: over its last (first) this many frames
SIZE_SIGMA = 0.2  # spread of log(size ratio) between the two sides of a link
SIZE_MOST = 2.0  # most a size change costs, in nats: a partly detected animal looks small
AXIS_TURN = 1.0  # after a long gap, the body axis may have turned by about its own length


@dataclass
class Ends:
    """Where tracklets start and end, in tracklet order (arrays of `(T,)` or `(T, 2)`)."""

    first: np.ndarray  # (T,) first frame
    last: np.ndarray  # (T,) last frame
    start: np.ndarray  # (T, 2) first valid centroid
    stop: np.ndarray  # (T, 2) last valid centroid
    start_axis: np.ndarray  # (T, 2) first body axis (see `similarity.body_axes`), NaN = unknown
    stop_axis: np.ndarray  # (T, 2) last body axis
    start_velocity: np.ndarray  # (T, 2) pixels per frame over the first frames, NaN = unknown
    stop_velocity: np.ndarray  # (T, 2) pixels per frame over the last frames, NaN = unknown
    size: np.ndarray  # (T,) median instance size
    length: np.ndarray  # (T,) detections


def velocity(frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`(2,)` mean velocity over `(k,)` frames and `(k, 2)` valid points; NaN (unknown) when they
    span fewer than `VELOCITY_FRAMES - 1` frames (from two noisy points a velocity is mostly noise)."""
    if len(frames) < 2 or frames[-1] - frames[0] < VELOCITY_FRAMES - 1:
        return np.full(2, np.nan)
    return (points[-1] - points[0]) / (frames[-1] - frames[0])


def tracklet_ends(tracklets: list[Tracklet]) -> Ends:
    """The start and end state of each tracklet; NaN positions for tracklets without a point."""
    rows = []
    for t in tracklets:
        valid = ~np.isnan(t.centroids).any(axis=1)
        frames, points = t.frames[valid], t.centroids[valid]
        if not len(frames):
            frames, points = t.frames[:1], np.full((1, 2), np.nan)
        head, tail = slice(None, VELOCITY_FRAMES), slice(-VELOCITY_FRAMES, None)
        rows.append(
            (t.frames[0], t.frames[-1], points[0], points[-1], t.axes[0], t.axes[-1], velocity(frames[head], points[head]),
             velocity(frames[tail], points[tail]), t.size, len(t.frames))
        )
    columns = [np.array(column, dtype=float) for column in zip(*rows)] if rows else [np.zeros(0)] * 10
    ends = Ends(*columns)
    ends.first, ends.last, ends.length = ends.first.astype(int), ends.last.astype(int), ends.length.astype(int)
    return ends


def step_scale(tracklets: list[Tracklet], field: str = "centroids") -> float:
    """Median change per frame of a tracklet's `field` ("centroids" or "axes"), in pixels (≥ 1)."""
    steps = [
        np.linalg.norm(np.diff(getattr(t, field), axis=0), axis=1) / np.diff(t.frames) for t in tracklets if len(t.frames) > 1
    ]
    steps = np.concatenate(steps) if steps else np.zeros(0)
    steps = steps[~np.isnan(steps)]
    return max(float(np.median(steps)), 1.0) if len(steps) else 1.0


def spread(gap: np.ndarray, scale: float) -> np.ndarray:
    """Standard deviation, in pixels, of where an animal is after `gap` frames unseen: it grows
    linearly with the gap, from `scale` (a typical step of one frame) — a velocity can change by
    about its own size over the gap."""
    return scale * (1.0 + gap)


def candidate_links(ends: Ends, max_gap: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`(E,)` pairs (a, b): b starts after a ends, within `max_gap` frames or among the `count`
    tracklets starting first after that."""
    order = np.argsort(ends.first, kind="stable")
    firsts = ends.first[order]
    sources, targets = [], []
    for a in range(len(ends.first)):
        lo = np.searchsorted(firsts, ends.last[a] + 1)
        hi = max(np.searchsorted(firsts, ends.last[a] + max_gap + 1), min(lo + count, len(firsts)))
        targets.append(order[lo:hi])
        sources.append(np.full(hi - lo, a))
    if not targets:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(sources).astype(int), np.concatenate(targets).astype(int)


def link_costs(ends: Ends, a: np.ndarray, b: np.ndarray, scale: float, axis_scale: float) -> np.ndarray:
    """`(E,)` negative log-likelihood, in nats, that tracklet b continues tracklet a (see module)."""
    gap = (ends.first[b] - ends.last[a]).astype(float)
    both = np.stack([ends.stop_velocity[a], ends.start_velocity[b]])  # (2, E, 2)
    known = ~np.isnan(both)
    mean_velocity = np.where(known, both, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
    error = ends.start[b] - ends.stop[a] - mean_velocity * gap[:, None]
    sigma = spread(gap, scale)
    position = (error**2).sum(axis=1) / (2 * sigma**2) + 2 * np.log(sigma)
    size = np.log(np.maximum(ends.size[b], 1.0) / np.maximum(ends.size[a], 1.0)) ** 2 / (2 * SIZE_SIGMA**2)
    size = np.minimum(size, SIZE_MOST)
    axis_sigma = np.minimum(spread(gap, axis_scale), AXIS_TURN * np.linalg.norm(ends.stop_axis[a], axis=1))
    axis_sigma = np.maximum(axis_sigma, 0.1)
    turn = ((ends.start_axis[b] - ends.stop_axis[a]) ** 2).sum(axis=1) / (2 * axis_sigma**2) + 2 * np.log(axis_sigma)
    known = ~np.isnan(turn)
    turn = np.where(known, turn, np.median(turn[known]) if known.any() else 0.0)  # unknown axis: a typical cost
    worst = 2 * COVER_REWARD  # a link from or to a tracklet without any point: possible, never preferred
    return np.nan_to_num(position + size, nan=worst) + turn


def dag_potentials(ends: Ends, a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Shortest distances from the source in the flow graph before any flow (a DAG in time order).

    Nodes: tracklet t enters at 2t and leaves at 2t + 1; the source is 2T, the sink 2T + 1.
    """
    n = len(ends.first)
    into = np.zeros(n)  # source → enter t costs 0
    leave = np.zeros(n)
    incoming: list[list[int]] = [[] for _ in range(n)]
    for e, target in enumerate(b.tolist()):
        incoming[target].append(e)
    for t in np.argsort(ends.first, kind="stable").tolist():
        if incoming[t]:
            edges = np.array(incoming[t])
            into[t] = min(0.0, float((leave[a[edges]] + cost[edges]).min()))
        leave[t] = into[t] - COVER_REWARD * ends.length[t]
    sink = min(0.0, float(leave.min(initial=0.0)))
    return np.concatenate([np.stack([into, leave], axis=1).reshape(-1), [0.0, sink]])


def min_cost_paths(
    ends: Ends, a: np.ndarray, b: np.ndarray, cost: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most `count` node-disjoint paths of least total cost.

    Args:
        ends: tracklet ends (for lengths and time order).
        a, b: `(E,)` candidate links a → b.
        cost: `(E,)` link costs.
        count: number of paths (identities).

    Returns:
        `(T,)` path index of each tracklet (-1 = on no path) and `(E,)` whether each link is used.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    n = len(ends.first)
    source, sink = 2 * n, 2 * n + 1
    tracklet = np.arange(n)
    # every edge of the flow graph: source → enter, enter → leave, leave → sink, leave → enter
    tail = np.concatenate([np.full(n, source), 2 * tracklet, 2 * tracklet + 1, 2 * a + 1])
    head = np.concatenate([2 * tracklet, 2 * tracklet + 1, np.full(n, sink), 2 * b])
    weight = np.concatenate([np.zeros(n), -COVER_REWARD * ends.length, np.zeros(n), cost])
    used = np.zeros(len(tail), dtype=bool)
    index = {(u, v): e for e, (u, v) in enumerate(zip(tail.tolist(), head.tolist()))}
    potential = dag_potentials(ends, a, b, cost)
    for _ in range(count):
        u, v = np.where(used, head, tail), np.where(used, tail, head)
        reduced = np.where(used, -weight, weight) + potential[u] - potential[v]
        graph = csr_matrix((np.maximum(reduced, 0.0) + 1e-9, (u, v)), shape=(2 * n + 2, 2 * n + 2))
        distance, previous = dijkstra(graph, directed=True, indices=source, return_predecessors=True)
        if np.isinf(distance[sink]) or distance[sink] + potential[sink] - potential[source] >= 0:
            break
        node = sink
        while node != source:
            before = int(previous[node])
            forward = index.get((before, node))
            if forward is not None and not used[forward]:
                used[forward] = True
            else:
                used[index[(node, before)]] = False
            node = before
        reachable = np.isfinite(distance)
        potential[reachable] += distance[reachable]
    return path_labels(n, a, b, used[:n], used[3 * n :]), used[3 * n :]


def path_labels(n: int, a: np.ndarray, b: np.ndarray, starts: np.ndarray, links: np.ndarray) -> np.ndarray:
    """`(n,)` path index of each tracklet (-1 = on no path) from the used start and link edges."""
    following = dict(zip(a[links].tolist(), b[links].tolist()))
    labels = np.full(n, -1)
    for path, t in enumerate(np.flatnonzero(starts).tolist()):
        while t is not None:
            labels[t] = path
            t = following.get(t)
    return labels


def junction_confidence(a: np.ndarray, b: np.ndarray, cost: np.ndarray, used: np.ndarray, n: int) -> np.ndarray:
    """`(n,)` confidence in [0, 1] of the decision that gave each tracklet its identity.

    For a tracklet t that continues p (a used link p → t), the margin is the least extra cost of
    the alternatives: swapping with another used link r → s (p → s and r → t instead), or handing
    t to a path that ends at r (r → t instead of p → t, p's path then ends). Confidence is
    tanh(margin / 2), margin in nats; 1 where there is no alternative, or where t starts a path.

    Args:
        a, b: `(E,)` candidate links a → b.
        cost: `(E,)` their costs.
        used: `(E,)` whether each is on a path.
        n: number of tracklets.
    """
    link_cost = dict(zip(zip(a.tolist(), b.tolist()), cost.tolist()))
    after = {int(p): (int(t), float(c)) for p, t, c in zip(a[used], b[used], cost[used])}
    before = {t: (p, c) for p, (t, c) in after.items()}
    margin = np.full(n, np.inf)
    for rival, target, c in zip(a[~used].tolist(), b[~used].tolist(), cost[~used].tolist()):
        if target not in before:
            continue
        mine, mine_cost = before[target]
        if rival not in after:
            margin[target] = min(margin[target], c - mine_cost)
            continue
        other, other_cost = after[rival]
        swap = link_cost.get((mine, other))
        if swap is not None:
            margin[target] = min(margin[target], swap + c - mine_cost - other_cost)
    return np.tanh(np.maximum(margin, 0.0) / 2)


def link_identities(
    tracklets: dict[int, Tracklet], count: int, max_gap: int
) -> tuple[dict[int, int], dict[int, float]]:
    """Give tracklets to `count` identities by a min-cost flow (see the module docstring).

    Args:
        tracklets: tracklet id → tracklet.
        count: number of identities N.
        max_gap: links across longer gaps are only tried to the first tracklets after them.

    Returns:
        Tracklet id → identity id 0..N-1 (-1 = on no path), and tracklet id → confidence of that
        identity at the tracklet's start.
    """
    keys = sorted(tracklets, key=lambda k: (int(tracklets[k].frames[0]), k))
    if not keys:
        return {}, {}
    listed = [tracklets[k] for k in keys]
    ends = tracklet_ends(listed)
    a, b = candidate_links(ends, max_gap, count)
    cost = link_costs(ends, a, b, step_scale(listed), step_scale(listed, "axes"))
    labels, used = min_cost_paths(ends, a, b, cost, count)
    confidence = junction_confidence(a, b, cost, used, len(keys))
    return dict(zip(keys, labels.tolist())), dict(zip(keys, confidence.tolist()))
