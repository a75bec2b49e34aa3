"""Tracking from detections to identities: the online pass, then post-processing."""

from collections.abc import Callable

import numpy as np

from posenn.errors import PosennError
from posenn.tracking.online import track_online
from posenn.tracking.options import FrameInstances, TrackerOptions, TrackingResult
from posenn.tracking.postprocess import (
    build_tracklets,
    drop_short,
    infer_count,
    link_identities,
    split_tracklets,
)


def contiguous(ids: list[np.ndarray]) -> list[np.ndarray]:
    """Renumber track ids 0..T-1 in order of first appearance; -1 stays -1."""
    order: dict[int, int] = {}
    for frame_ids in ids:
        for track in frame_ids[frame_ids >= 0].tolist():
            order.setdefault(track, len(order))
    return [np.array([order.get(t, -1) for t in frame_ids.tolist()], dtype=int) for frame_ids in ids]


def check_frames(frames: list[FrameInstances], options: TrackerOptions, has_images: bool) -> None:
    """Refuse frames out of order and optical flow without images."""
    frame_idxs = [frame.frame_idx for frame in frames]
    if any(b <= a for a, b in zip(frame_idxs, frame_idxs[1:])):
        raise PosennError("tracker: frames must be given in increasing frame_idx order, once each")
    if options.optical_flow and not has_images:
        raise PosennError("tracker: optical_flow needs images (a function frame_idx → image)")


def track(
    frames: list[FrameInstances], options: TrackerOptions, images: Callable[[int], np.ndarray] | None = None
) -> TrackingResult:
    """Track ids and link similarities for every detection.

    Args:
        frames: detections per frame, in increasing `frame_idx`.
        options: tracker options.
        images: `frame_idx → (H, W) or (H, W, 3)` uint8 frame, for optical flow.

    Returns:
        Per frame, `(n,)` track ids 0..T-1 (-1 = untracked) and `(n,)` link similarities.
    """
    check_frames(frames, options, images is not None)
    online = track_online(frames, options, images)
    ids = drop_short(split_tracklets(online.ids, online.forced), options.min_track_length)
    if options.global_pass:
        count = options.max_tracks or infer_count(ids)
        tracklets = build_tracklets([f.frame_idx for f in frames], ids, [f.points for f in frames])
        identity = link_identities(tracklets, count, options.max_gap, capped=options.max_tracks is not None)
        ids = [np.array([identity.get(t, -1) for t in frame_ids.tolist()], dtype=int) for frame_ids in ids]
    ids = contiguous(ids)
    scores = [np.where(frame_ids >= 0, s, 0.0) for frame_ids, s in zip(ids, online.scores)]
    return TrackingResult(ids=ids, scores=scores)


def track_frames(
    frames: list[FrameInstances], options: TrackerOptions, images: Callable[[int], np.ndarray] | None = None
) -> list[np.ndarray]:
    """Per frame, an `(n,)` int array of track ids 0..T-1 (-1 = untracked); see `track`."""
    return track(frames, options, images).ids
