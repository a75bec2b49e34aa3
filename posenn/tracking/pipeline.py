"""Tracking from detections to identities: the online pass, then post-processing.

The online pass keeps only each track's last poses; post-processing works on flat per-detection
arrays (a few numbers per detection), so a whole video can be tracked from a stream of frames
(`track_stream`) in memory that hardly grows with its length.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from posenn.errors import PosennError
from posenn.tracking.online import OnlineTracker
from posenn.tracking.options import FrameInstances, TrackerOptions, TrackingResult
from posenn.tracking.linking import link_identities
from posenn.tracking.postprocess import build_tracklets, drop_short, infer_count, split_tracklets
from posenn.tracking.similarity import body_axes, centroids, sizes


@dataclass
class Detections:
    """What post-processing needs of every detection, in frame order.

    Attributes:
        frame_idx: `(n,)` frame of each detection.
        ids: `(n,)` online track ids, -1 = untracked.
        confidence: `(n,)` confidence of the online link (see `online`).
        breaks: `(n,)` whether a new tracklet starts here.
        centres: `(n, 2)` centroids.
        axes: `(n, 2)` body axes (see `similarity.body_axes`).
        sizes: `(n,)` instance sizes in pixels.
    """

    frame_idx: np.ndarray
    ids: np.ndarray
    confidence: np.ndarray
    breaks: np.ndarray
    centres: np.ndarray
    axes: np.ndarray
    sizes: np.ndarray


def contiguous(ids: np.ndarray) -> np.ndarray:
    """Renumber `(n,)` track ids 0..T-1 in order of first appearance; -1 stays -1."""
    tracked = ids >= 0
    if not tracked.any():
        return ids.copy()
    values, first = np.unique(ids[tracked], return_index=True)
    rank = np.empty(len(values), int)
    rank[np.argsort(first, kind="stable")] = np.arange(len(values))
    out = np.full(len(ids), -1)
    out[tracked] = rank[np.searchsorted(values, ids[tracked])]
    return out


def check_frames(frames: list[FrameInstances], options: TrackerOptions, has_images: bool) -> None:
    """Refuse frames out of order and optical flow without images."""
    frame_idxs = [frame.frame_idx for frame in frames]
    if any(b <= a for a, b in zip(frame_idxs, frame_idxs[1:])):
        raise PosennError("tracker: frames must be given in increasing frame_idx order, once each")
    if options.optical_flow and not has_images:
        raise PosennError("tracker: optical_flow needs images (a function frame_idx → image)")


FIELDS = ("frame_idx", "ids", "confidence", "breaks", "centres", "axes", "sizes")
BLOCK_FRAMES = 4096  # frames whose small per-frame arrays are joined into one block


def online_pass(
    frames: Iterable[FrameInstances], options: TrackerOptions, images: Callable[[int], np.ndarray] | None = None
) -> Detections:
    """Run the online tracker over `frames` (consumed once, in order) into flat arrays.

    Per-frame arrays are joined every `BLOCK_FRAMES` frames, so a long video costs a few numbers
    per detection, not a few small arrays per frame.
    """
    tracker = OnlineTracker(options)
    blocks: dict[str, list[np.ndarray]] = {name: [] for name in FIELDS}
    pending: dict[str, list[np.ndarray]] = {name: [] for name in FIELDS}
    empty = {"centres": np.zeros((0, 2)), "axes": np.zeros((0, 2)), "breaks": np.zeros(0, bool)}

    def join(parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: np.concatenate(values) if values else empty.get(name, np.zeros(0, int)) for name, values in parts.items()}

    last = None
    for frame in frames:
        if last is not None and frame.frame_idx <= last:
            raise PosennError("tracker: frames must be given in increasing frame_idx order, once each")
        last = frame.frame_idx
        image = images(frame.frame_idx) if options.optical_flow and images is not None else None
        ids, confidence, breaks = tracker.step(frame, image)
        if not len(ids):
            continue
        points = np.asarray(frame.points, dtype=float).reshape(len(ids), -1, 2)
        for name, values in zip(FIELDS, (np.full(len(ids), frame.frame_idx), ids, confidence, breaks, centroids(points), body_axes(points), sizes(points))):
            pending[name].append(values)
        if len(pending["ids"]) == BLOCK_FRAMES:
            for name, values in join(pending).items():
                blocks[name].append(values)
                pending[name] = []
    for name, values in join(pending).items():
        blocks[name].append(values)
    return Detections(**join(blocks))


def link(detections: Detections, options: TrackerOptions) -> tuple[np.ndarray, np.ndarray]:
    """Post-processing: `(n,)` final track ids 0..T-1 (-1 = untracked) and identity confidences.

    Detections the global pass leaves on no identity are untracked with `max_tracks`; without it,
    those of each online track get an id of their own when at least `min_track_length` remain.
    A detection's confidence is its online link's, except at the start of a tracklet, where it is
    the confidence of the global pass's decision that gave the tracklet its identity (see
    `linking`); untracked detections score 0.
    """
    online = drop_short(detections.ids, options.min_track_length)
    ids = split_tracklets(online, detections.breaks)
    confidence = detections.confidence.copy()
    if options.global_pass:
        count = options.max_tracks or infer_count(detections.frame_idx, ids)
        tracklets = build_tracklets(detections.frame_idx, ids, detections.centres, detections.axes, detections.sizes)
        identity, decided = link_identities(tracklets, count, options.max_gap)
        lookup = np.array([identity.get(t, -1) for t in range(ids.max(initial=-1) + 1)] + [-1], dtype=int)
        starts = first_detections(ids)
        confidence[starts] = np.array([decided.get(t, 1.0) for t in ids[starts].tolist()])
        left = (ids >= 0) & (lookup[ids] < 0)  # -1 indexes the trailing -1
        ids = lookup[ids]
        if options.max_tracks is None:
            own = drop_short(np.where(left, online, -1), options.min_track_length)
            ids = np.where(own >= 0, count + own, ids)
    ids = contiguous(ids)
    return ids, np.where(ids >= 0, confidence, 0.0)


def first_detections(ids: np.ndarray) -> np.ndarray:
    """Indices of the first detection of each tracklet in `(n,)` ids (-1 = untracked)."""
    tracked = np.flatnonzero(ids >= 0)
    return tracked[np.unique(ids[tracked], return_index=True)[1]]


def track_stream(frames: Iterable[FrameInstances], options: TrackerOptions) -> tuple[np.ndarray, np.ndarray]:
    """Track a stream of frames in increasing `frame_idx`; returns `(detections,)` track ids and
    identity confidences, in the order the detections came (no optical flow: no images)."""
    if options.optical_flow:
        raise PosennError("tracker: optical_flow needs images; it is not available when tracking a stream of predictions")
    return link(online_pass(frames, options), options)


def track(
    frames: list[FrameInstances], options: TrackerOptions, images: Callable[[int], np.ndarray] | None = None
) -> TrackingResult:
    """Track ids and link similarities for every detection.

    Args:
        frames: detections per frame, in increasing `frame_idx`.
        options: tracker options.
        images: `frame_idx → (H, W) or (H, W, 3)` uint8 frame, for optical flow.

    Returns:
        Per frame, `(n,)` track ids 0..T-1 (-1 = untracked) and `(n,)` identity confidences.
    """
    check_frames(frames, options, images is not None)
    ids, scores = link(online_pass(frames, options, images), options)
    bounds = np.cumsum([len(frame.points) for frame in frames])[:-1]
    return TrackingResult(ids=np.split(ids, bounds), scores=np.split(scores, bounds))


def track_frames(
    frames: list[FrameInstances], options: TrackerOptions, images: Callable[[int], np.ndarray] | None = None
) -> list[np.ndarray]:
    """Per frame, an `(n,)` int array of track ids 0..T-1 (-1 = untracked); see `track`."""
    return track(frames, options, images).ids
