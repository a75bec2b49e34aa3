"""Post-processing of the online tracks: tracklets, dropping short ones, linking into identities.

1. `split_tracklets`: each online track is cut wherever a link was forced (see `online`), so a
   tracklet only holds detections that really resembled each other.
2. `drop_short`: tracklets with fewer than `min_track_length` detections become untracked.
3. `link_identities` (the global pass): tracklets are given to N identities in order of their
   first frame. N is `max_tracks` when given; otherwise `infer_count`: the 90th percentile
   (nearest value) of the number of tracklets present per frame, over frames with any tracklet —
   the number of animals seen together in most frames, robust to a few frames with a spurious
   extra tracklet. When tracklets start, a Hungarian assignment pairs them with the identities
   that are free then (whose last tracklet ended earlier), the cost being the distance between
   the identity's last centroid, moved on by its velocity for up to `max_gap` frames, and the
   tracklet's first centroid, in animal sizes and divided by (1 + gap / 10) since an animal gone
   longer may have gone further. While fewer than N identities exist, starting a new one costs
   `NEW_IDENTITY_COST`. A tracklet that finds no free identity keeps an id of its own, or is
   untracked when `max_tracks` caps the number of tracks.
"""

from dataclasses import dataclass

import numpy as np

NEW_IDENTITY_COST = 2.0  # starting an identity costs as much as a jump of two animal sizes
VELOCITY_FRAMES = 5  # an identity's velocity: over the last this many frames of its last tracklet


@dataclass
class Tracklet:
    """Where one tracklet is."""

    frames: np.ndarray  # (k,) frame indices, increasing
    centroids: np.ndarray  # (k, 2)
    size: float  # median instance size in pixels


def split_tracklets(ids: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Renumber detections into tracklets, a new one starting at every forced link.

    Args:
        ids: `(detections,)` online track ids in frame order, -1 = untracked.
        forced: `(detections,)` True where the link to the track was forced.

    Returns:
        `(detections,)` tracklet ids, -1 = untracked.
    """
    current: dict[int, int] = {}  # online track id → its tracklet id now
    next_id = 0
    out = np.full(len(ids), -1)
    for d, (track, was_forced) in enumerate(zip(ids.tolist(), forced.tolist())):
        if track < 0:
            continue
        if was_forced or track not in current:
            current[track], next_id = next_id, next_id + 1
        out[d] = current[track]
    return out


def drop_short(ids: np.ndarray, min_length: int) -> np.ndarray:
    """Untrack (-1) the detections of `(detections,)` tracks with fewer than `min_length` detections."""
    if not (ids >= 0).any():
        return ids.copy()
    lengths = np.bincount(ids[ids >= 0])
    return np.where((ids >= 0) & (lengths[np.maximum(ids, 0)] >= min_length), ids, -1)


def build_tracklets(frame_idx: np.ndarray, ids: np.ndarray, centres: np.ndarray, instance_sizes: np.ndarray) -> dict[int, Tracklet]:
    """Tracklet id → its frames, centroids and size.

    Args:
        frame_idx: `(detections,)` frame of each detection, non-decreasing.
        ids: `(detections,)` tracklet ids, -1 = untracked.
        centres: `(detections, 2)` centroids.
        instance_sizes: `(detections,)` sizes in pixels.
    """
    tracked = np.flatnonzero(ids >= 0)
    order = tracked[np.argsort(ids[tracked], kind="stable")]  # by tracklet, frame order within each
    tracklet_ids, starts = np.unique(ids[order], return_index=True)
    tracklets = {}
    for tracklet_id, rows in zip(tracklet_ids.tolist(), np.split(order, starts[1:])):
        tracklets[tracklet_id] = Tracklet(frames=frame_idx[rows], centroids=centres[rows], size=float(np.median(instance_sizes[rows])))
    return tracklets


def infer_count(frame_rows: np.ndarray, ids: np.ndarray) -> int:
    """Number of animals: 90th percentile of tracklets per frame, over frames with any (see module).

    Args:
        frame_rows: `(detections,)` which frame each detection is in (any frame numbering).
        ids: `(detections,)` tracklet ids, -1 = untracked.
    """
    counts = np.unique(frame_rows[ids >= 0], return_counts=True)[1]
    return int(np.percentile(counts, 90, method="nearest")) if len(counts) else 0


@dataclass
class Identity:
    """Where an identity was last seen and how it was moving."""

    last_frame: int
    position: np.ndarray  # (2,) last centroid
    velocity: np.ndarray  # (2,) pixels per frame


def identity_after(tracklet: Tracklet) -> Identity:
    """The state of an identity whose last tracklet is `tracklet`."""
    valid = ~np.isnan(tracklet.centroids).any(axis=1)
    frames, points = tracklet.frames[valid][-VELOCITY_FRAMES:], tracklet.centroids[valid][-VELOCITY_FRAMES:]
    if len(frames) == 0:
        return Identity(int(tracklet.frames[-1]), np.full(2, np.nan), np.zeros(2))
    velocity = (points[-1] - points[0]) / (frames[-1] - frames[0]) if len(frames) > 1 else np.zeros(2)
    return Identity(int(tracklet.frames[-1]), points[-1], velocity)


def continuity_cost(identity: Identity, tracklet: Tracklet, max_gap: int) -> float:
    """How unlikely `tracklet` continues `identity`: extrapolated distance in sizes, eased by the gap."""
    valid = ~np.isnan(tracklet.centroids).any(axis=1)
    if not valid.any() or np.isnan(identity.position).any():
        return NEW_IDENTITY_COST
    first = np.flatnonzero(valid)[0]
    gap = int(tracklet.frames[first]) - identity.last_frame
    expected = identity.position + identity.velocity * min(gap, max_gap)
    distance = np.linalg.norm(tracklet.centroids[first] - expected) / max(tracklet.size, 1.0)
    return float(distance / (1 + gap / 10))


def link_identities(tracklets: dict[int, Tracklet], count: int, max_gap: int, capped: bool) -> dict[int, int]:
    """Give tracklets to `count` identities in time order (see the module docstring).

    Args:
        tracklets: tracklet id → tracklet.
        count: number of identities N.
        max_gap: longest gap, in frames, an identity's velocity is extrapolated over.
        capped: untrack tracklets that fit no identity instead of giving them their own id.

    Returns:
        Tracklet id → identity id (ids beyond N-1 for tracklets of their own), or -1 (untracked).
    """
    from scipy.optimize import linear_sum_assignment  # imported when used: scipy is slow to import

    identities: list[Identity] = []
    assigned: dict[int, int] = {}
    extra = count  # next id for a tracklet of its own
    starts = sorted({int(t.frames[0]) for t in tracklets.values()})
    for start in starts:
        group = [k for k, t in tracklets.items() if t.frames[0] == start]
        group.sort(key=lambda k: -len(tracklets[k].frames))  # longest first
        free = [i for i, identity in enumerate(identities) if identity.last_frame < start]
        new = max(0, count - len(identities))
        cost = np.full((len(group), len(free) + new), NEW_IDENTITY_COST)
        for row, k in enumerate(group):
            for col, i in enumerate(free):
                cost[row, col] = continuity_cost(identities[i], tracklets[k], max_gap)
        rows, cols = linear_sum_assignment(cost)
        chosen = dict(zip(rows.tolist(), cols.tolist()))
        for row, k in enumerate(group):
            if row not in chosen:
                assigned[k], extra = (-1, extra) if capped else (extra, extra + 1)
                continue
            col = chosen[row]
            if col >= len(free):
                identities.append(identity_after(tracklets[k]))
                assigned[k] = len(identities) - 1
            else:
                identities[free[col]] = identity_after(tracklets[k])
                assigned[k] = free[col]
    return assigned
