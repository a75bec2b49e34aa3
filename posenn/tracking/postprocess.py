"""Post-processing of the online tracks: tracklets, dropping short ones, counting animals.

1. `drop_short`: online tracks with fewer than `min_track_length` detections (spurious
   detections) become untracked.
2. `split_tracklets`: each online track is cut wherever the online pass flagged a link as a
   break (forced, weak or ambiguous; see `online`), so a tracklet only holds detections that
   surely belong together. Pieces of any length are kept: the global pass places them.
3. `infer_count`: without `max_tracks`, the number of animals is the 90th percentile (nearest
   value) of the number of tracklets present per frame, over frames with any tracklet — the
   number of animals seen together in most frames, robust to a few frames with a spurious extra
   tracklet.

`linking` then joins the tracklets into that many identities.
"""

from dataclasses import dataclass

import numpy as np

@dataclass
class Tracklet:
    """Where one tracklet is."""

    frames: np.ndarray  # (k,) frame indices, increasing
    centroids: np.ndarray  # (k, 2)
    axes: np.ndarray  # (k, 2) body axes (see `similarity.body_axes`)
    size: float  # median instance size in pixels


def split_tracklets(ids: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Renumber detections into tracklets, a new one starting at every break.

    Args:
        ids: `(detections,)` online track ids in frame order, -1 = untracked.
        breaks: `(detections,)` True where the link to the track is not to be trusted.

    Returns:
        `(detections,)` tracklet ids, -1 = untracked.
    """
    current: dict[int, int] = {}  # online track id → its tracklet id now
    next_id = 0
    out = np.full(len(ids), -1)
    for d, (track, broken) in enumerate(zip(ids.tolist(), breaks.tolist())):
        if track < 0:
            continue
        if broken or track not in current:
            current[track], next_id = next_id, next_id + 1
        out[d] = current[track]
    return out


def drop_short(ids: np.ndarray, min_length: int) -> np.ndarray:
    """Untrack (-1) the detections of `(detections,)` tracks with fewer than `min_length` detections."""
    if not (ids >= 0).any():
        return ids.copy()
    lengths = np.bincount(ids[ids >= 0])
    return np.where((ids >= 0) & (lengths[np.maximum(ids, 0)] >= min_length), ids, -1)


def build_tracklets(
    frame_idx: np.ndarray, ids: np.ndarray, centres: np.ndarray, axes: np.ndarray, instance_sizes: np.ndarray
) -> dict[int, Tracklet]:
    """Tracklet id → its frames, centroids, body axes and size.

    Args:
        frame_idx: `(detections,)` frame of each detection, non-decreasing.
        ids: `(detections,)` tracklet ids, -1 = untracked.
        centres: `(detections, 2)` centroids.
        axes: `(detections, 2)` body axes.
        instance_sizes: `(detections,)` sizes in pixels.
    """
    tracked = np.flatnonzero(ids >= 0)
    order = tracked[np.argsort(ids[tracked], kind="stable")]  # by tracklet, frame order within each
    tracklet_ids, starts = np.unique(ids[order], return_index=True)
    tracklets = {}
    for tracklet_id, rows in zip(tracklet_ids.tolist(), np.split(order, starts[1:])):
        tracklets[tracklet_id] = Tracklet(frames=frame_idx[rows], centroids=centres[rows], axes=axes[rows], size=float(np.median(instance_sizes[rows])))
    return tracklets


def infer_count(frame_rows: np.ndarray, ids: np.ndarray) -> int:
    """Number of animals: 90th percentile of tracklets per frame, over frames with any (see module).

    Args:
        frame_rows: `(detections,)` which frame each detection is in (any frame numbering).
        ids: `(detections,)` tracklet ids, -1 = untracked.
    """
    counts = np.unique(frame_rows[ids >= 0], return_counts=True)[1]
    return int(np.percentile(counts, 90, method="nearest")) if len(counts) else 0
