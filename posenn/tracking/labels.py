"""Re-tracking the predicted instances of a SLEAP labels file."""

import numpy as np
import sleap_io as sio

from posenn.tracking.options import FrameInstances, TrackerOptions
from posenn.tracking.pipeline import track


def frames_of(labeled_frames: list[sio.LabeledFrame], n_nodes: int) -> list[FrameInstances]:
    """The predicted instances of labeled frames of one video, as tracker input."""
    out = []
    for lf in labeled_frames:
        predicted = lf.predicted_instances
        points = np.array([inst.numpy() for inst in predicted], dtype=float).reshape(len(predicted), n_nodes, 2)
        scores = np.array([inst.score for inst in predicted], dtype=float)
        out.append(FrameInstances(frame_idx=int(lf.frame_idx), points=points, scores=scores))
    return out


def retracked_instance(
    instance: sio.PredictedInstance, track: sio.Track | None, score: float
) -> sio.PredictedInstance:
    """A copy of `instance` with a new track and tracking score."""
    return sio.PredictedInstance.from_numpy(
        points_data=instance.numpy(),
        skeleton=instance.skeleton,
        point_scores=np.asarray(instance.points["score"], dtype=float),
        score=instance.score,
        track=track,
        tracking_score=score,
    )


def track_labels(labels: sio.Labels, options: TrackerOptions) -> sio.Labels:
    """Re-track the predicted instances of `labels`, one video at a time, frames in order.

    Predicted instances are copied with new tracks `track_0`, `track_1`, ... (shared by all
    videos) and their tracking score; user instances are kept as they are. The input is not
    changed.

    Args:
        labels: labels with predicted instances.
        options: tracker options (optical flow is not available here: no frames are read).

    Returns:
        New labels with the same videos, skeletons and frames.
    """
    tracks: list[sio.Track] = []
    new_frames = []
    for video in labels.videos:
        video_frames = [lf for lf in labels.labeled_frames if lf.video is video]
        video_frames.sort(key=lambda lf: lf.frame_idx)
        result = track(frames_of(video_frames, len(labels.skeleton.nodes)), options)
        for lf, ids, scores in zip(video_frames, result.ids, result.scores):
            while len(tracks) <= ids.max(initial=-1):
                tracks.append(sio.Track(name=f"track_{len(tracks)}"))
            predicted = [
                retracked_instance(inst, tracks[t] if t >= 0 else None, float(s))
                for inst, t, s in zip(lf.predicted_instances, ids.tolist(), scores.tolist())
            ]
            instances = lf.user_instances + predicted
            new_frames.append(sio.LabeledFrame(video=video, frame_idx=lf.frame_idx, instances=instances))
    user_tracks = {inst.track for lf in new_frames for inst in lf.user_instances if inst.track is not None}
    return sio.Labels(
        labeled_frames=new_frames,
        videos=labels.videos,
        skeletons=labels.skeletons,
        tracks=tracks + [t for t in labels.tracks if t in user_tracks],
        suggestions=labels.suggestions,
        provenance=dict(labels.provenance),
    )
