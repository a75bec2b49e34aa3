"""Tracked predictions as dense arrays: one row per video frame, one column per track.

The shape every tabular pose format wants (NWB, SLEAP analysis HDF5, DeepLabCut CSV, movement).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sleap_io as sio

from posenn.errors import PosennError

UNTRACKED = "track_0"  # the one animal of predictions made without a tracker


@dataclass
class TrackArrays:
    """Tracked poses of one video, frames 0 to `frames - 1`.

    Attributes:
        points: `(frames, tracks, nodes, 2)` float64 xy in pixels, NaN where absent.
        point_scores: `(frames, tracks, nodes)` float64, NaN where absent or user-labelled.
        instance_scores: `(frames, tracks)` float64, NaN where absent or user-labelled.
        tracks: `(tracks,)` track names.
        nodes: `(nodes,)` node names.
    """

    points: np.ndarray
    point_scores: np.ndarray
    instance_scores: np.ndarray
    tracks: list[str]
    nodes: list[str]

    @property
    def frames(self) -> int:
        return self.points.shape[0]


def video_length(video: sio.Video) -> int | None:
    """Frames in the video as recorded in the labels file, or None when unknown."""
    shape = (video.backend_metadata or {}).get("shape")
    return int(shape[0]) if shape else None


def track_arrays(labels: sio.Labels, source: Path | str) -> TrackArrays:
    """Dense arrays of the first video's instances; a user instance wins over a predicted one
    of the same track in a frame.

    Raises:
        PosennError: when the file holds several videos or no instances, or a frame holds
            several instances that no track tells apart.
    """
    if len(labels.videos) != 1:
        raise PosennError(f"{source}: holds {len(labels.videos)} videos; expected predictions of exactly one video.")
    frames = [frame for frame in labels.labeled_frames if frame.instances]
    if not frames:
        raise PosennError(f"{source}: holds no instances.")
    tracked = bool(labels.tracks)
    names = [track.name for track in labels.tracks] if tracked else [UNTRACKED]
    index = {id(track): k for k, track in enumerate(labels.tracks)}
    last = max(int(frame.frame_idx) for frame in frames)
    n_frames = max(video_length(labels.videos[0]) or 0, last + 1)
    n_nodes = len(labels.skeleton.nodes)
    points = np.full((n_frames, len(names), n_nodes, 2), np.nan)
    point_scores = np.full((n_frames, len(names), n_nodes), np.nan)
    instance_scores = np.full((n_frames, len(names)), np.nan)
    for frame in frames:
        f = int(frame.frame_idx)
        untracked = [inst for inst in frame.instances if inst.track is None]
        if (tracked and untracked) or len(untracked) > 1:
            raise PosennError(
                f"{source}: frame {f} has {len(untracked)} instance(s) without a track; expected one track per "
                "animal. Track the predictions first (posenn track ... --tracker oks)."
            )
        # predicted first, so that a user instance of the same track overwrites it
        for instance in list(frame.predicted_instances) + list(frame.user_instances):
            k = index[id(instance.track)] if tracked else 0
            points[f, k] = instance.numpy()[:, :2]
            if isinstance(instance, sio.PredictedInstance):
                point_scores[f, k] = instance.numpy(scores=True)[:, 2]
                instance_scores[f, k] = instance.score
            else:
                point_scores[f, k] = np.nan
                instance_scores[f, k] = np.nan
    return TrackArrays(points, point_scores, instance_scores, names, list(labels.skeleton.node_names))
