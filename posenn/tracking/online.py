"""The online pass: frame by frame, each detection continues a recent track or starts one.

For each frame, in order:

1. candidates: the last pose of every track seen within `window` frames, moved forward by
   optical flow (tracks seen in the previous frame) or by constant velocity when asked;
2. a similarity matrix between candidates and detections, matched by Hungarian or greedy
   assignment; pairs below `min_similarity` are not matched;
3. unmatched detections start new tracks, except when `max_tracks` exist already: then each is
   forced onto the nearest track not taken in this frame (re-linking a lost track), or left
   untracked when all are taken. With more detections than `max_tracks`, the lowest scores are
   untracked first.

Each link gets a confidence: 1 - r / s, where s is its similarity and r that of its best rival
(another track as similar to the detection, or another detection to the track), so 0 at a close
encounter where a swap is as likely as not. Links that post-processing should not trust are
flagged as breaks, where a new tracklet starts: forced links, links less similar than
`break_similarity` (after a gap, a track may take another animal nearby), and links whose rival
is at least `break_ambiguity` times as similar.
"""

from dataclasses import dataclass, field

import numpy as np

from posenn.tracking.flow import flow_shift, to_gray
from posenn.tracking.matching import match
from posenn.tracking.options import FrameInstances, TrackerOptions
from posenn.tracking.similarity import centroids, similarity_matrix


@dataclass
class Track:
    """The last two instances of one track."""

    frames: list[int] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)  # each (nodes, 2)

    def add(self, frame_idx: int, pose: np.ndarray) -> None:
        """Record an instance, keeping only the last two."""
        self.frames = (self.frames + [frame_idx])[-2:]
        self.poses = (self.poses + [pose])[-2:]

    def predict(self, frame_idx: int) -> np.ndarray:
        """`(nodes, 2)` pose at `frame_idx` by constant velocity from the last two instances."""
        if len(self.frames) < 2:
            return self.poses[-1]
        velocity = (self.poses[1] - self.poses[0]) / (self.frames[1] - self.frames[0])
        predicted = self.poses[1] + velocity * (frame_idx - self.frames[1])
        return np.where(np.isnan(predicted), self.poses[1], predicted)


def kept_detections(scores: np.ndarray, max_tracks: int | None) -> np.ndarray:
    """Indices of the detections that may be tracked, best score first: `(k,)`."""
    order = np.argsort(-scores, kind="stable")
    return order if max_tracks is None else order[:max_tracks]


def candidate_poses(
    tracks: list[Track],
    active: list[int],
    frame_idx: int,
    options: TrackerOptions,
    flowed: dict[int, np.ndarray],
) -> np.ndarray:
    """`(len(active), nodes, 2)` poses expected at `frame_idx` for the active tracks."""
    poses = []
    for t in active:
        if t in flowed:
            poses.append(flowed[t])
        elif options.motion == "constant_velocity":
            poses.append(tracks[t].predict(frame_idx))
        else:
            poses.append(tracks[t].poses[-1])
    return np.array(poses) if poses else np.empty((0, 0, 2))


def link_confidence(similarity: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """`(len(pairs),)` confidence 1 - rival / similarity of each matched (row, column) pair.

    The rival of a pair is the best similarity of its row with another column or of its column
    with another row of the `(m, n)` `similarity` matrix.
    """
    out = np.zeros(len(pairs))
    for k, (row, col) in enumerate(pairs):
        rivals = np.concatenate([np.delete(similarity[row], col), np.delete(similarity[:, col], row)])
        rival = rivals.max(initial=0.0)
        out[k] = np.clip(1.0 - rival / similarity[row, col], 0.0, 1.0) if similarity[row, col] > 0 else 0.0
    return out


def force_link(pose: np.ndarray, tracks: list[Track], taken: set[int]) -> int:
    """The track not taken in this frame whose last centroid is nearest to `pose`, or -1."""
    free = [t for t in range(len(tracks)) if t not in taken]
    if not free:
        return -1
    last = centroids(np.array([tracks[t].poses[-1] for t in free]))
    distance = np.nan_to_num(np.linalg.norm(last - centroids(pose[None]), axis=1), nan=np.inf)
    return free[int(np.argmin(distance))]


def flowed_poses(
    tracks: list[Track], previous: tuple[int, np.ndarray] | None, current: np.ndarray | None
) -> dict[int, np.ndarray]:
    """Last poses of the tracks seen in the previous frame, moved by optical flow into this one."""
    if previous is None or current is None:
        return {}
    seen = [t for t, track in enumerate(tracks) if track.frames[-1] == previous[0]]
    if not seen:
        return {}
    moved = flow_shift(previous[1], current, np.array([tracks[t].poses[-1] for t in seen]))
    return dict(zip(seen, moved))


class OnlineTracker:
    """The online pass as a state machine: `step` links one frame's detections and keeps only
    what the next frames need (each track's last two poses), so memory does not grow with the
    video."""

    def __init__(self, options: TrackerOptions):
        self.options = options
        self.tracks: list[Track] = []
        self.previous: tuple[int, np.ndarray] | None = None  # (frame_idx, grey image) for optical flow

    def step(self, frame: FrameInstances, image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track ids (-1 untracked), link confidences and break flags of the frame's `(n,)`
        detections (see the module docstring); `image` is the frame, for optical flow."""
        options, tracks = self.options, self.tracks
        n = len(frame.points)
        ids, confidence, breaks = np.full(n, -1), np.zeros(n), np.zeros(n, dtype=bool)
        current = to_gray(image) if options.optical_flow and image is not None else None
        active = [t for t, track in enumerate(tracks) if frame.frame_idx - track.frames[-1] <= options.window]
        keep = kept_detections(np.asarray(frame.scores, dtype=float), options.max_tracks)
        flowed = flowed_poses(tracks, self.previous, current)
        candidates = candidate_poses(tracks, active, frame.frame_idx, options, flowed)
        similarity = similarity_matrix(options.similarity, candidates, frame.points[keep], options.oks_sigma)
        pairs = match(similarity, options.matching, options.min_similarity)
        for (row, col), sure in zip(pairs, link_confidence(similarity, pairs)):
            d = keep[col]
            ids[d], confidence[d] = active[row], sure
            breaks[d] = similarity[row, col] < options.break_similarity or sure <= 1 - options.break_ambiguity
        for d in keep:
            if ids[d] >= 0:
                continue
            if options.max_tracks is None or len(tracks) < options.max_tracks:
                tracks.append(Track())
                ids[d], confidence[d] = len(tracks) - 1, 1.0
            else:
                ids[d] = force_link(frame.points[d], tracks, set(ids[ids >= 0].tolist()))
                breaks[d] = ids[d] >= 0
        for d in np.flatnonzero(ids >= 0):
            tracks[ids[d]].add(frame.frame_idx, frame.points[d])
        self.previous = (frame.frame_idx, current) if current is not None else None
        return ids, confidence, breaks
