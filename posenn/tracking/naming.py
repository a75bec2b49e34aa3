"""Naming tracks by a body property that holds for the whole video, and checking the names.

Identity models learn names ("female", "male") from the labels' tracks. A tracker gives
anonymous tracks; when the animals differ in size, the track of the larger animal gets the first
name, and every frame is checked against the same rule:

1. the predicted instances are re-tracked with one track per animal (`max_tracks`); instances
   the tracker leaves untracked (stray detections of a few parts) are dropped;
2. tracks are ranked by their median body length (distance between two axis nodes, e.g. head and
   abdomen) and named in that order;
3. per frame, the named instances must rank the same way by their own body length. A frame where
   they do not is a size disagreement; its names are repaired by the size rule (the longest
   instance gets the first name). Frames where a body length is missing are not checked by size;
4. the motion check: between consecutive frames, a name whose centroid lands closer to the other
   animal's previous position than to its own (crossed pairing cheaper than kept) is a swap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import sleap_io as sio

from posenn.errors import PosennError
from posenn.tracking.labels import track_labels
from posenn.tracking.options import TrackerOptions


@dataclass
class NamingReport:
    """What naming found: track lengths, frames where the size rule disagreed, swaps by motion.

    Attributes:
        names: the names, largest animal first.
        median_lengths: `(names,)` median body length of each named track, pixels.
        frames: frames in the output.
        checked_frames: frames where every named animal has a body length (the size rule applies).
        disagreements: frames where the size rule disagreed with the tracks (repaired).
        smallest_margin: in checked frames, the smallest length gap between consecutive ranks, px.
        motion_swaps: frames whose names cross the previous frame's positions (after repair).
        dropped: untracked instances dropped.
        incomplete_frames: frames with fewer named animals than names.
    """

    names: list[str]
    median_lengths: list[float]
    frames: int = 0
    checked_frames: int = 0
    disagreements: list[int] = field(default_factory=list)
    smallest_margin: float = float("nan")
    motion_swaps: list[int] = field(default_factory=list)
    dropped: int = 0
    incomplete_frames: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as printable lines."""
        lengths = ", ".join(f"{name} {length:.1f} px" for name, length in zip(self.names, self.median_lengths))
        return [
            f"median body length: {lengths}",
            f"frames: {self.frames}; size rule checked in {self.checked_frames}, "
            f"disagreed (repaired) in {len(self.disagreements)}: {self.disagreements[:20]}",
            f"smallest size margin in a checked frame: {self.smallest_margin:.1f} px",
            f"swaps by motion between consecutive frames: {len(self.motion_swaps)}: {self.motion_swaps[:20]}",
            f"untracked instances dropped: {self.dropped}; frames with fewer animals than names: {self.incomplete_frames[:20]}",
        ]


def body_lengths(points: np.ndarray, front: int, back: int) -> np.ndarray:
    """`(..., nodes, 2)` points → `(...)` distance between nodes `front` and `back` (NaN if either is missing)."""
    return np.linalg.norm(points[..., front, :] - points[..., back, :], axis=-1)


def node_index(skeleton: sio.Skeleton, name: str) -> int:
    """Index of node `name`, or a PosennError listing the nodes."""
    if name not in skeleton.node_names:
        raise PosennError(f"naming tracks: no node '{name}' in the skeleton; expected one of {skeleton.node_names}.")
    return skeleton.node_names.index(name)


def named_points(labels: sio.Labels, n_tracks: int) -> tuple[list[int], np.ndarray, int]:
    """Frame indices, `(frames, tracks, nodes, 2)` points of each track (NaN where absent) and
    the number of untracked instances, from re-tracked labels of one video."""
    frames = [lf for lf in labels.labeled_frames if lf.instances]
    frames.sort(key=lambda lf: lf.frame_idx)
    n_nodes = len(labels.skeleton.nodes)
    points = np.full((len(frames), n_tracks, n_nodes, 2), np.nan)
    dropped = 0
    for row, lf in enumerate(frames):
        for instance in lf.predicted_instances:
            if instance.track is None:
                dropped += 1
                continue
            points[row, labels.tracks.index(instance.track)] = instance.numpy()
    return [int(lf.frame_idx) for lf in frames], points, dropped


def motion_swaps(points: np.ndarray) -> np.ndarray:
    """Rows of `(frames, tracks, nodes, 2)` points where pairing the tracks' centroids with the
    previous frame's crossed is cheaper than keeping them (two tracks; frames in order)."""
    found = ~np.isnan(points)
    counts = found.sum(axis=-2)
    centres = np.where(found, points, 0.0).sum(axis=-2) / np.maximum(counts, 1)
    centres[counts == 0] = np.nan  # (frames, tracks, 2), NaN where a track is absent
    before, after = centres[:-1], centres[1:]
    kept = np.linalg.norm(after - before, axis=-1).sum(axis=-1)
    crossed = np.linalg.norm(after[:, ::-1] - before, axis=-1).sum(axis=-1)
    return np.flatnonzero(crossed < kept) + 1


def name_tracks_by_length(
    labels: sio.Labels, names: list[str], front: str, back: str, options: TrackerOptions | None = None
) -> tuple[sio.Labels, NamingReport]:
    """Re-track predicted instances into one track per name and name them by body length.

    Args:
        labels: predicted instances of one video (tracked or not).
        names: one name per animal, largest animal first (e.g. ["female", "male"]).
        front: node at one end of the body axis (e.g. "head").
        back: node at the other end (e.g. "abdomen").
        options: tracker options; `max_tracks` is set to the number of names.

    Returns:
        Labels with the same video and skeleton, tracks named `names`, and in each frame one user
        instance per named animal found (untracked detections dropped); and the `NamingReport`.

    Raises:
        PosennError: for several videos, fewer than two names, or unknown nodes.
    """
    if len(labels.videos) != 1:
        raise PosennError(f"naming tracks: the labels hold {len(labels.videos)} videos; give one video.")
    if len(names) < 2 or len(set(names)) != len(names):
        raise PosennError(f"naming tracks: give two or more distinct names, got {names}.")
    front_node, back_node = node_index(labels.skeleton, front), node_index(labels.skeleton, back)
    retracked = track_labels(labels, replace(options or TrackerOptions(), max_tracks=len(names)))
    frame_idx, points, dropped = named_points(retracked, len(names))
    lengths = body_lengths(points, front_node, back_node)  # (frames, tracks)
    order = np.argsort(-np.nanmedian(lengths, axis=0))
    points, lengths = points[:, order], lengths[:, order]

    checked = ~np.isnan(lengths).any(axis=1)
    ranked = np.argsort(-np.where(checked[:, None], lengths, 0.0), axis=1, kind="stable")
    disagree = checked & (ranked != np.arange(len(names))).any(axis=1)
    rows = np.flatnonzero(disagree)
    points[rows] = np.take_along_axis(points[rows], ranked[rows][:, :, None, None], axis=1)
    lengths[rows] = np.take_along_axis(lengths[rows], ranked[rows], axis=1)
    gaps = -np.diff(lengths[checked], axis=1)

    tracks = [sio.Track(name=name) for name in names]
    skeleton = labels.skeleton
    out_frames = []
    present = ~np.isnan(points[..., 0]).all(axis=-1)  # (frames, tracks)
    for row, index in enumerate(frame_idx):
        instances = [
            sio.Instance.from_numpy(points[row, t], skeleton=skeleton, track=tracks[t])
            for t in range(len(names)) if present[row, t]
        ]
        out_frames.append(sio.LabeledFrame(video=labels.video, frame_idx=index, instances=instances))
    named = sio.Labels(labeled_frames=out_frames, videos=labels.videos, skeletons=[skeleton], tracks=tracks)
    report = NamingReport(
        names=list(names),
        median_lengths=[float(v) for v in np.nanmedian(lengths, axis=0)],
        frames=len(frame_idx),
        checked_frames=int(checked.sum()),
        disagreements=[frame_idx[r] for r in rows.tolist()],
        smallest_margin=float(gaps.min()) if gaps.size else float("nan"),
        motion_swaps=[frame_idx[r] for r in motion_swaps(points).tolist()] if len(names) == 2 else [],
        dropped=dropped,
        incomplete_frames=[frame_idx[r] for r in np.flatnonzero(~present.all(axis=1)).tolist()],
    )
    return named, report
