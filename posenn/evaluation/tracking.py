"""Tracking accuracy: do predicted identities follow the ground-truth animals over time?

`evaluate_tracking` compares two SLEAP label files whose instances carry tracks;
`evaluate_tracking_arrays` compares plain per-frame arrays. Both return a dict with these keys
(ratios are NaN where undefined, e.g. MOTA without ground truth):

| key | meaning |
| --- | --- |
| `id_switches` | times a ground-truth animal is matched to another predicted id than before |
| `fragmentations` | times a ground-truth track goes from matched to unmatched (within its span) |
| `mota` | 1 - (misses + false_positives + id_switches) / n_gt_detections |
| `motp_oks` | mean OKS of the matched pairs (CLEAR-MOT's MOTP with OKS as similarity) |
| `idf1`, `idp`, `idr` | identity F1, precision and recall (Ristani et al. 2016) |
| `n_gt_tracks`, `n_pred_tracks` | distinct ground-truth and predicted (tracked) ids |
| `mostly_tracked`, `mostly_lost` | ground-truth tracks matched in >= 80% / < 20% of their frames |
| `n_frames` | frames evaluated |
| `n_gt_detections` | ground-truth instances over all frames |
| `n_matches` | matched pairs, including those that are identity switches |
| `false_positives`, `misses` | unmatched predictions and unmatched ground-truth instances |

The definitions are py-motmetrics' (`motmetrics` package). A ground-truth and a predicted
instance can match when their OKS (see `matching`) is at least `min_oks`; motmetrics gets the
distance 1 - OKS, NaN (impossible) below the threshold. Per frame it keeps the previous frame's
correspondences that are still possible, then pairs the rest by Hungarian assignment (CLEAR-MOT).
IDF1 assigns ground-truth ids to predicted ids one-to-one over the whole sequence, maximising the
frames where both are matchable.

Untracked predictions (id -1) are detections without identity. Each gets a fresh id of its own,
so for CLEAR-MOT a ground-truth animal matched to one is a match (neither a miss nor a false
positive), and, as with any change of id, an identity switch when its previous match had another
id. For IDF1 they can never match, so they only add identity false positives. They do not count
in `n_pred_tracks`.
"""

from typing import Literal

import motmetrics as mm
import numpy as np
import sleap_io as sio

from posenn.errors import PosennError
from posenn.evaluation.matching import NodeSigmas, labeled_mask, oks_matrix, resolve_sigmas
from posenn.evaluation.pose import InstanceKind, _stack, pair_labels

UNTRACKED = -1

# One tracked frame: gt points, gt ids, predicted points, predicted ids.
Frame = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_CLEAR_METRICS = [
    "num_switches", "num_fragmentations", "mota", "motp", "num_unique_objects",
    "mostly_tracked", "mostly_lost", "num_objects", "num_matches", "num_false_positives",
    "num_misses",
]  # fmt: skip


def evaluate_tracking_arrays(frames: list[Frame], sigmas: np.ndarray, min_oks: float = 0.5) -> dict:
    """Evaluate tracked predictions against tracked ground truth given as arrays.

    Args:
        frames: in temporal order, per frame `(gt_points, gt_ids, pred_points, pred_ids)`:
            `(n_gt, n_nodes, 2)` ground truth (NaN = not labeled), `(n_gt,)` integer ids,
            `(n_pred, n_nodes, 2)` predictions (NaN = not predicted), `(n_pred,)` integer ids,
            -1 for untracked predictions. Instances without any point are dropped.
        sigmas: `(n_nodes,)` per-node OKS sigmas.
        min_oks: pairs with OKS below this cannot match.

    Returns:
        The metrics dict described in this module's docstring.
    """
    sigmas = np.asarray(sigmas, dtype=float)
    clear = mm.MOTAccumulator()  # CLEAR-MOT: untracked predictions can match
    identity = mm.MOTAccumulator()  # IDF1: untracked predictions cannot match
    next_fresh_id = 1 + max((int(np.max(f[3], initial=UNTRACKED)) for f in frames), default=0)
    pred_tracks = set()
    for frame_idx, frame in enumerate(frames):
        gt, gt_ids, pred, pred_ids = _drop_empty(frame, len(sigmas))
        oks = oks_matrix(gt, pred, sigmas)
        distances = np.where(oks >= min_oks, 1 - oks, np.nan)
        untracked = pred_ids == UNTRACKED
        pred_ids = pred_ids.copy()
        pred_ids[untracked] = next_fresh_id + np.arange(untracked.sum())
        next_fresh_id += int(untracked.sum())
        pred_tracks.update(pred_ids[~untracked].tolist())
        clear.update(gt_ids, pred_ids, distances, frameid=frame_idx)
        identity.update(gt_ids, pred_ids, np.where(untracked, np.nan, distances), frameid=frame_idx)
    return _summarize(clear, identity, len(frames), len(pred_tracks))


def _drop_empty(frame: Frame, n_nodes: int) -> Frame:
    """Check one frame's arrays and drop instances without any point.

    Args:
        frame: `(gt_points, gt_ids, pred_points, pred_ids)` as in `evaluate_tracking_arrays`.
        n_nodes: number of nodes per instance.

    Returns:
        The same four arrays, as float points and int ids, without empty instances.

    Raises:
        ValueError: if points have the wrong shape or their number differs from the ids'.
    """
    checked = []
    for points, ids, what in ((*frame[:2], "ground truth"), (*frame[2:], "predictions")):
        points = np.asarray(points, dtype=float)
        ids = np.asarray(ids, dtype=int).reshape(-1)
        if points.size == 0:
            points = np.zeros((0, n_nodes, 2))
        if points.ndim != 3 or points.shape[1:] != (n_nodes, 2):
            raise ValueError(f"{what}: expected shape (n, {n_nodes}, 2), got {points.shape}")
        if len(ids) != len(points):
            raise ValueError(f"{what}: {len(points)} instances but {len(ids)} ids")
        keep = labeled_mask(points).any(axis=1)
        checked += [points[keep], ids[keep]]
    return tuple(checked)


def _summarize(
    clear: mm.MOTAccumulator, identity: mm.MOTAccumulator, n_frames: int, n_pred_tracks: int
) -> dict:
    """The metrics dict from motmetrics' two accumulators (see `evaluate_tracking_arrays`)."""
    host = mm.metrics.create()
    c = host.compute(clear, metrics=_CLEAR_METRICS, return_dataframe=False)
    i = host.compute(identity, metrics=["idf1", "idp", "idr"], return_dataframe=False)
    n_matches = int(c["num_matches"] + c["num_switches"])
    return {
        "id_switches": int(c["num_switches"]),
        "fragmentations": int(c["num_fragmentations"]),
        "mota": float(c["mota"]) if c["num_objects"] else float("nan"),
        "motp_oks": float(1 - c["motp"]) if n_matches else float("nan"),
        "idf1": float(i["idf1"]),
        "idp": float(i["idp"]),
        "idr": float(i["idr"]),
        "n_gt_tracks": int(c["num_unique_objects"]),
        "n_pred_tracks": n_pred_tracks,
        "mostly_tracked": int(c["mostly_tracked"]),
        "mostly_lost": int(c["mostly_lost"]),
        "n_frames": n_frames,
        "n_gt_detections": int(c["num_objects"]),
        "n_matches": n_matches,
        "false_positives": int(c["num_false_positives"]),
        "misses": int(c["num_misses"]),
    }


def has_tracks(labels: sio.Labels) -> bool:
    """Whether any instance in `labels` belongs to a track."""
    return any(inst.track is not None for lf in labels.labeled_frames for inst in lf.instances)


def evaluate_tracking(
    gt: sio.Labels,
    pred: sio.Labels,
    node_sigmas: NodeSigmas = None,
    *,
    min_oks: float = 0.5,
    gt_instances: InstanceKind = "user",
    pred_instances: InstanceKind | Literal["auto"] = "auto",
    gt_path: str | None = None,
    pred_path: str | None = None,
) -> dict:
    """Evaluate the tracks in one label file against the ground-truth tracks in another.

    Frames pair as in `pose.evaluate_labels`: by video (same object, else same file name) and
    frame index; only frames with ground truth count, in video then frame order. Nodes pair by
    name. Ids are the `(video, track)` pairs, so identities do not carry over between videos.

    Args:
        gt: ground-truth labels, every chosen instance on a track.
        pred: predicted labels; instances without a track are untracked predictions.
        node_sigmas: OKS sigmas, in any form `matching.resolve_sigmas` accepts.
        min_oks: pairs with OKS below this cannot match.
        gt_instances: which instances are ground truth, as in `pose.evaluate_labels`.
        pred_instances: which instances are predictions, as in `pose.evaluate_labels`.
        gt_path: the ground-truth file, for messages (default: the file it was loaded from).
        pred_path: the predictions file, for messages.

    Returns:
        The metrics dict described in this module's docstring.

    Raises:
        PosennError: if the ground truth has no instances of the chosen kind, has no tracks,
            or has chosen instances without a track, or the files' nodes or videos do not pair.
    """
    paired = pair_labels(gt, pred, gt_instances, pred_instances, gt_path, pred_path, _track)
    _check_tracks(gt, paired.gt_by_frame, paired.gt_name)
    node_names, gt_by_frame, pred_by_frame = paired.node_names, paired.gt_by_frame, paired.pred_by_frame
    video_pairs = paired.video_pairs

    frames = []
    for video, frame_idx in sorted(gt_by_frame, key=lambda key: (gt.videos.index(key[0]), key[1])):
        gt_points, gt_tracks = gt_by_frame[video, frame_idx]
        pred_video = video_pairs.get(video)
        pred_points, pred_tracks = pred_by_frame.get((pred_video, frame_idx), ([], []))
        pred_video_index = pred.videos.index(pred_video) if pred_video is not None else 0
        frames.append(
            (
                _stack(gt_points, len(node_names)),
                _track_ids(gt_tracks, gt.videos.index(video), gt.tracks),
                _stack(pred_points, len(node_names)),
                _track_ids(pred_tracks, pred_video_index, pred.tracks),
            )
        )
    return evaluate_tracking_arrays(frames, resolve_sigmas(node_sigmas, node_names), min_oks)


def _track(instance: sio.Instance) -> sio.Track | None:
    return instance.track


def _check_tracks(gt: sio.Labels, gt_by_frame: dict, name: str) -> None:
    """Check that the chosen ground-truth instances all have tracks.

    Args:
        gt: ground-truth labels.
        gt_by_frame: the chosen instances and their tracks, from `pose.pair_labels`.
        name: the file's name, for messages.

    Raises:
        PosennError: if the file has no tracks, or some chosen instances have no track.
    """
    if not has_tracks(gt):
        raise PosennError(f"{name}: has no tracks; tracking metrics need tracked ground truth")
    n_untracked = sum(track is None for _, tracks in gt_by_frame.values() for track in tracks)
    if n_untracked:
        raise PosennError(
            f"{name}: ground truth has no tracks on {n_untracked} instances; "
            "tracking metrics need tracked ground truth"
        )


def _track_ids(
    tracks: list[sio.Track | None], video_index: int, all_tracks: list[sio.Track]
) -> np.ndarray:
    """Integer ids of `(video, track)` pairs; -1 for instances without a track.

    Args:
        tracks: one frame's instance tracks, None for untracked instances.
        video_index: index of the frame's video in its file.
        all_tracks: the file's tracks (`labels.tracks`).

    Returns:
        `(n_instances,)` ids, `video_index * len(all_tracks) + track index`.
    """
    offset = video_index * len(all_tracks)
    ids = [UNTRACKED if t is None else offset + all_tracks.index(t) for t in tracks]
    return np.array(ids, dtype=int)
