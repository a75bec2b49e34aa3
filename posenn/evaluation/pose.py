"""Pose accuracy: predicted instances against ground truth, per frame.

`evaluate_labels` compares two SLEAP label files (`posenn eval`); `evaluate_arrays` compares
plain arrays (validation during training). Both return a dict with these keys, stable across
versions (values are NaN where undefined, e.g. distances when nothing matched; `write_json` in
`posenn.evaluation.report` writes NaN as null):

| key | meaning |
| --- | --- |
| `oks_map` | COCO mean average precision over OKS thresholds 0.50:0.05:0.95 |
| `oks_mar` | COCO mean recall over the same thresholds |
| `oks_ap50`, `oks_ap75` | average precision at OKS 0.50 and 0.75 |
| `pck_mean` | mean of `pck` over its thresholds |
| `pck` | {"1": ..., ..., "10": ...}: fraction of labeled points predicted within 1..10 px |
| `pck_size` | {"0.05": ..., "0.1": ..., "0.2": ...}: thresholds as fractions of sqrt(gt box area) |
| `dist_mean`, `dist_p50`, `dist_p90`, `dist_p95` | error in px: mean, median, 90th, 95th pct |
| `offset_x_p50`, `offset_y_p50` | median of prediction − ground truth along x and y, px: a systematic shift (labels drawn on another grid convention, a resized video) shows here |
| `visibility_precision` | fraction of predicted points whose node is labeled in the ground truth |
| `visibility_recall` | fraction of labeled points that have a predicted point |
| `n_frames` | frames evaluated |
| `n_gt_instances` | ground-truth instances (those with at least one labeled point) |
| `n_pred_instances` | predicted instances (with at least one point) in the evaluated frames |
| `n_matched` | ground-truth / prediction pairs behind PCK, distances and visibility |
| `per_node` | {node: {`dist_mean`, `dist_p50`, `dist_p90`, `dist_p95`, `n`}}, `n` = distances |

How the figures are made:

- OKS mAP / mAR reproduce pycocotools' `COCOeval(iouType="keypoints")` (see `matching` for the
  OKS formula) with no cap on detections per frame and one area range covering everything.
- Ground-truth instances without any labeled point are dropped. (COCOeval would instead keep
  them as "ignore" regions, where predictions count neither as hits nor as false positives.)
  Predicted instances without any point are dropped too.
- PCK, distances and visibility use one-to-one pairs found by Hungarian assignment on OKS,
  keeping pairs with OKS above `match_min_oks` (default 0). Only labeled ground-truth points
  count. A labeled point without a predicted point counts as a PCK miss and lowers visibility
  recall, but adds no distance. A point counts as within a PCK threshold when its distance is
  at most the threshold.
"""

from collections import defaultdict
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import sleap_io as sio

from posenn.errors import PosennError
from posenn.evaluation.matching import (
    NodeSigmas,
    bbox_areas,
    coco_greedy_match,
    hungarian_match,
    labeled_mask,
    oks_matrix,
    resolve_sigmas,
)

OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # COCO's 101-point interpolated precision
PCK_PIXEL_THRESHOLDS = tuple(range(1, 11))
PCK_SIZE_THRESHOLDS = (0.05, 0.1, 0.2)

InstanceKind = Literal["user", "predicted", "all"]


def evaluate_arrays(
    gt_frames: Sequence[np.ndarray],
    pred_frames: Sequence[np.ndarray],
    pred_scores: Sequence[np.ndarray],
    node_names: Sequence[str],
    node_sigmas: NodeSigmas = None,
    match_min_oks: float = 0.0,
    gt_areas: Sequence[np.ndarray] | None = None,
) -> dict:
    """Evaluate predictions against ground truth given as arrays, one entry per frame.

    Args:
        gt_frames: per frame, `(n_gt, n_nodes, 2)` ground-truth points; NaN = not labeled.
        pred_frames: per frame, `(n_pred, n_nodes, 2)` predicted points; NaN = not predicted.
        pred_scores: per frame, `(n_pred,)` instance scores (higher = more confident).
        node_names: the `n_nodes` node names, for `per_node`.
        node_sigmas: OKS sigmas, in any form `matching.resolve_sigmas` accepts (default
            0.025 for every node).
        match_min_oks: pairs with OKS at or below this are not matched for distances and PCK.
        gt_areas: per frame, `(n_gt,)` instance areas for OKS, where the ground truth's own
            bounding box does not give them (e.g. one centre point per animal).

    Returns:
        The metrics dict described in this module's docstring.

    Raises:
        PosennError: if `node_sigmas` does not fit the nodes.
        ValueError: if the per-frame lists differ in length or an array has the wrong shape.
    """
    if not len(gt_frames) == len(pred_frames) == len(pred_scores):
        raise ValueError(
            f"gt_frames, pred_frames and pred_scores must have one entry per frame, got "
            f"{len(gt_frames)}, {len(pred_frames)} and {len(pred_scores)}"
        )
    n_nodes = len(node_names)
    sigmas = resolve_sigmas(node_sigmas, node_names)
    frame_scores, frame_hits, matched_gt, matched_pred = [], [], [], []
    n_gt = n_pred = 0
    areas_per_frame = gt_areas if gt_areas is not None else [None] * len(gt_frames)
    for frame_gt, frame_pred, frame_scores_in, frame_areas in zip(gt_frames, pred_frames, pred_scores, areas_per_frame):
        gt, pred, scores, areas = _prepare_frame(frame_gt, frame_pred, frame_scores_in, n_nodes, frame_areas)
        oks = oks_matrix(gt, pred, sigmas, areas)
        frame_scores.append(scores)
        frame_hits.append(coco_greedy_match(oks, OKS_THRESHOLDS))
        gt_index, pred_index = hungarian_match(oks, match_min_oks)
        matched_gt.append(gt[gt_index])
        matched_pred.append(pred[pred_index])
        n_gt += len(gt)
        n_pred += len(pred)
    matched_gt = np.concatenate(matched_gt) if matched_gt else np.zeros((0, n_nodes, 2))
    matched_pred = np.concatenate(matched_pred) if matched_pred else np.zeros((0, n_nodes, 2))
    return {
        **_coco_precision_recall(frame_scores, frame_hits, n_gt),
        **_localization_metrics(matched_gt, matched_pred, node_names),
        "n_frames": len(gt_frames),
        "n_gt_instances": n_gt,
        "n_pred_instances": n_pred,
        "n_matched": len(matched_gt),
    }


def _prepare_frame(
    gt: np.ndarray, pred: np.ndarray, scores: np.ndarray, n_nodes: int, areas: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Check one frame, drop instances without points, sort predictions by descending score."""
    gt = _as_instances(gt, n_nodes, "ground truth")
    if areas is not None:
        areas = np.asarray(areas, dtype=float).reshape(-1)[labeled_mask(gt).any(axis=1)]
    pred = _as_instances(pred, n_nodes, "predictions")
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(scores) != len(pred):
        raise ValueError(f"{len(pred)} predicted instances but {len(scores)} scores")
    gt = gt[labeled_mask(gt).any(axis=1)]
    has_points = labeled_mask(pred).any(axis=1)
    pred, scores = pred[has_points], scores[has_points]
    order = np.argsort(-scores, kind="mergesort")  # stable, like COCOeval
    return gt, pred[order], scores[order], areas


def _as_instances(points: np.ndarray, n_nodes: int, what: str) -> np.ndarray:
    """Check and convert one frame's instances to a float `(n_instances, n_nodes, 2)` array."""
    points = np.asarray(points, dtype=float)
    if points.size == 0:
        return np.zeros((0, n_nodes, 2))
    if points.ndim != 3 or points.shape[1:] != (n_nodes, 2):
        raise ValueError(f"{what}: expected shape (n_instances, {n_nodes}, 2), got {points.shape}")
    return points


def _coco_precision_recall(
    frame_scores: list[np.ndarray], frame_hits: list[np.ndarray], n_gt: int
) -> dict:
    """COCO average precision and recall from per-frame matches, as COCOeval.accumulate.

    Args:
        frame_scores: per frame, `(n_pred,)` scores in descending order.
        frame_hits: per frame, `(n_thresholds, n_pred)` true-positive flags from
            `coco_greedy_match`.
        n_gt: number of ground-truth instances over all frames.
    """
    keys = ("oks_map", "oks_mar", "oks_ap50", "oks_ap75")
    if n_gt == 0:
        return dict.fromkeys(keys, float("nan"))
    scores = np.concatenate(frame_scores)
    hits = np.concatenate(frame_hits, axis=1)
    if len(scores) == 0:
        return dict.fromkeys(keys, 0.0)
    hits = hits[:, np.argsort(-scores, kind="mergesort")]
    true_pos = np.cumsum(hits, axis=1)
    false_pos = np.cumsum(~hits, axis=1)
    recall = true_pos / n_gt
    precision = true_pos / (true_pos + false_pos)
    # Precision envelope: best precision at this recall or any higher one.
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    average_precision = np.array(
        [_interpolated_precision(r, p).mean() for r, p in zip(recall, precision)]
    )
    return {
        "oks_map": float(average_precision.mean()),
        "oks_mar": float(recall[:, -1].mean()),
        "oks_ap50": float(average_precision[0]),
        "oks_ap75": float(average_precision[5]),
    }


def _interpolated_precision(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Precision at each of the 101 recall thresholds; 0 beyond the highest recall reached."""
    index = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
    reached = index < len(recall)
    return np.where(reached, precision[np.minimum(index, len(recall) - 1)], 0.0)


def _localization_metrics(gt: np.ndarray, pred: np.ndarray, node_names: Sequence[str]) -> dict:
    """PCK, distances and visibility over matched pairs.

    Args:
        gt: `(n_pairs, n_nodes, 2)` matched ground truth.
        pred: `(n_pairs, n_nodes, 2)` matched predictions, row for row.
        node_names: the `n_nodes` node names.
    """
    labeled = labeled_mask(gt)
    predicted = labeled_mask(pred)
    both = labeled & predicted
    distances = np.linalg.norm(pred - gt, axis=-1)  # (n_pairs, n_nodes), NaN if a point is missing
    sizes = np.sqrt(bbox_areas(gt))[:, None]
    pck = {
        f"{t:g}": _ratio((both & (distances <= t)).sum(), labeled.sum())
        for t in PCK_PIXEL_THRESHOLDS
    }
    pck_size = {
        f"{t:g}": _ratio((both & (distances <= t * sizes)).sum(), labeled.sum())
        for t in PCK_SIZE_THRESHOLDS
    }
    per_node = {
        name: {**_distance_summary(distances[:, k][both[:, k]]), "n": int(both[:, k].sum())}
        for k, name in enumerate(node_names)
    }
    offsets = (pred - gt)[both]  # (n_points, 2)
    return {
        "pck_mean": float(np.mean(list(pck.values()))),
        "pck": pck,
        "pck_size": pck_size,
        **_distance_summary(distances[both]),
        "offset_x_p50": float(np.median(offsets[:, 0])) if len(offsets) else float("nan"),
        "offset_y_p50": float(np.median(offsets[:, 1])) if len(offsets) else float("nan"),
        "visibility_precision": _ratio(both.sum(), predicted.sum()),
        "visibility_recall": _ratio(both.sum(), labeled.sum()),
        "per_node": per_node,
    }


def _distance_summary(distances: np.ndarray) -> dict:
    """Mean and 50th/90th/95th percentiles of `(n,)` distances; NaN when empty."""
    if len(distances) == 0:
        return dict.fromkeys(("dist_mean", "dist_p50", "dist_p90", "dist_p95"), float("nan"))
    p50, p90, p95 = np.percentile(distances, [50, 90, 95])
    return {
        "dist_mean": float(distances.mean()),
        "dist_p50": float(p50),
        "dist_p90": float(p90),
        "dist_p95": float(p95),
    }


def _ratio(numerator: int, denominator: int) -> float:
    """`numerator / denominator` as a float, NaN when the denominator is 0."""
    return float(numerator / denominator) if denominator else float("nan")


def evaluate_labels(
    gt: sio.Labels,
    pred: sio.Labels,
    node_sigmas: NodeSigmas = None,
    *,
    gt_instances: InstanceKind = "user",
    pred_instances: InstanceKind | Literal["auto"] = "auto",
    match_min_oks: float = 0.0,
    gt_path: str | None = None,
    pred_path: str | None = None,
) -> dict:
    """Evaluate the predictions in one label file against the ground truth in another.

    Frames are paired by video and frame index. A ground-truth video pairs with the same
    `Video` object or, failing that, a prediction video of the same file name. Only frames with
    ground-truth instances (or marked negative, i.e. holding no animal) are evaluated; predictions
    on other frames are ignored. Nodes are paired by name.

    Args:
        gt: ground-truth labels.
        pred: predicted labels.
        node_sigmas: OKS sigmas, as in `evaluate_arrays`.
        gt_instances: which instances are ground truth: "user" (hand-labeled), "predicted",
            or "all" (user instances plus predictions no user instance replaced).
        pred_instances: which instances are predictions, with the same choices; "auto" takes
            predicted instances if the file holds any, otherwise user instances. User instances
            score 1.0; predicted instances score `instance.score`.
        match_min_oks: as in `evaluate_arrays`.
        gt_path: the ground-truth file, for messages (default: the file it was loaded from).
        pred_path: the predictions file, for messages.

    Returns:
        The metrics dict described in this module's docstring.

    Raises:
        PosennError: if the ground truth holds no instances of the chosen kind, the skeletons'
            node names differ, or no ground-truth video appears in the predictions.
    """
    paired = pair_labels(gt, pred, gt_instances, pred_instances, gt_path, pred_path)
    node_names, pred_by_frame, video_pairs = paired.node_names, paired.pred_by_frame, paired.video_pairs

    gt_frames, pred_frames, pred_scores = [], [], []
    for (video, frame_idx), (points, _) in paired.gt_by_frame.items():
        pred_key = (video_pairs.get(video), frame_idx)
        predicted, scores = pred_by_frame.get(pred_key, ([], []))
        gt_frames.append(_stack(points, len(node_names)))
        pred_frames.append(_stack(predicted, len(node_names)))
        pred_scores.append(np.array(scores, dtype=float))
    return evaluate_arrays(
        gt_frames, pred_frames, pred_scores, node_names, node_sigmas, match_min_oks
    )


@dataclass
class PairedLabels:
    """Ground truth and predictions of two label files, ready to compare frame by frame.

    Attributes:
        gt_name: the ground-truth file's name, for messages.
        node_names: nodes in ground-truth order.
        gt_by_frame, pred_by_frame: `{(video, frame_idx): (points, values)}` from
            `_collect_instances`, predictions under their own videos.
        video_pairs: ground-truth video → prediction video (absent when it has none).
    """

    gt_name: str
    node_names: list[str]
    gt_by_frame: dict
    pred_by_frame: dict
    video_pairs: dict


def pair_labels(
    gt: sio.Labels,
    pred: sio.Labels,
    gt_instances: InstanceKind,
    pred_instances: InstanceKind | Literal["auto"],
    gt_path: str | None,
    pred_path: str | None,
    value: Callable[[sio.Instance], Any] | None = None,
) -> PairedLabels:
    """Choose, check and group the instances of two label files (see `evaluate_labels`).

    Args:
        value: what to keep beside each instance's points, as in `_collect_instances`.

    Raises:
        PosennError: for an unknown instance kind, ground truth without instances of that kind,
            skeletons with different nodes, or videos that do not pair.
    """
    _check_choice("gt_instances", gt_instances, ("user", "predicted", "all"))
    _check_choice("pred_instances", pred_instances, ("auto", "user", "predicted", "all"))
    gt_name = _file_name(gt, gt_path, "ground-truth labels")
    pred_name = _file_name(pred, pred_path, "prediction labels")
    node_names = _node_names(gt, gt_name)
    if pred.skeletons:
        pred_nodes = _node_names(pred, pred_name)
        if set(pred_nodes) != set(node_names):
            raise PosennError(
                f"Skeletons do not match: {gt_name} has nodes {node_names}, "
                f"{pred_name} has nodes {pred_nodes}"
            )
    if pred_instances == "auto":
        has_predictions = any(lf.has_predicted_instances for lf in pred.labeled_frames)
        pred_instances = "predicted" if has_predictions else "user"
    gt_by_frame = _collect_instances(gt, gt_instances, node_names, value)
    if not any(len(points) for points, _ in gt_by_frame.values()):
        raise PosennError(_no_ground_truth_message(gt, gt_name, gt_instances))
    pred_by_frame = _collect_instances(pred, pred_instances, node_names, value)
    video_pairs = _pair_videos(gt.videos, pred.videos, gt_name, pred_name)
    return PairedLabels(gt_name, node_names, gt_by_frame, pred_by_frame, video_pairs)


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise a PosennError unless `value` is one of `choices`."""
    if value not in choices:
        raise PosennError(f"{option} must be one of {list(choices)}, got {value!r}")


def _file_name(labels: sio.Labels, path: str | None, fallback: str) -> str:
    """The name to use for `labels` in messages."""
    return str(path or labels.provenance.get("filename") or fallback)


def _node_names(labels: sio.Labels, name: str) -> list[str]:
    """Node names of the file's skeleton; all its skeletons must have the same nodes."""
    if not labels.skeletons:
        raise PosennError(f"{name}: holds no skeleton")
    node_lists = [skeleton.node_names for skeleton in labels.skeletons]
    if any(set(nodes) != set(node_lists[0]) for nodes in node_lists):
        raise PosennError(f"{name}: its skeletons have different nodes: {node_lists}")
    return node_lists[0]


def _collect_instances(
    labels: sio.Labels,
    kind: InstanceKind,
    node_names: list[str],
    value: Callable[[sio.Instance], Any] = None,
) -> dict[tuple[sio.Video, int], tuple[list[np.ndarray], list]]:
    """Points of the chosen instances and one value per instance, grouped by frame.

    Args:
        value: what to keep beside each instance's points (default: its score, 1.0 for user
            instances; tracking metrics keep the track).

    Returns:
        {(video, frame_idx): (list of `(n_nodes, 2)` points in `node_names` order, values)}.
        Frames marked negative are included, with no instances, when user instances count.
    """
    value = value or _instance_score
    by_frame = defaultdict(lambda: ([], []))
    for lf in labels.labeled_frames:
        instances = _select(lf, kind)
        if not instances and not (lf.is_negative and kind != "predicted"):
            continue
        points, values = by_frame[lf.video, lf.frame_idx]
        for instance in instances:
            node_order = [instance.skeleton.node_names.index(name) for name in node_names]
            points.append(instance.numpy()[node_order])
            values.append(value(instance))
    return dict(by_frame)


def _instance_score(instance: sio.Instance) -> float:
    """A prediction's score; a user instance counts as certain."""
    return instance.score if isinstance(instance, sio.PredictedInstance) else 1.0


def _select(lf: sio.LabeledFrame, kind: InstanceKind) -> list[sio.Instance]:
    """The instances of one frame of the given kind."""
    if kind == "user":
        return lf.user_instances
    if kind == "predicted":
        return lf.predicted_instances
    return lf.user_instances + lf.unused_predictions


def _no_ground_truth_message(gt: sio.Labels, name: str, kind: InstanceKind) -> str:
    """Explain that `gt` holds no ground truth of `kind`, and what it holds instead."""
    n_user = sum(len(lf.user_instances) for lf in gt.labeled_frames)
    n_predicted = sum(len(lf.predicted_instances) for lf in gt.labeled_frames)
    message = (
        f"{name}: holds no ground-truth instances of kind {kind!r} "
        f"(it has {n_user} user-labeled and {n_predicted} predicted instances)"
    )
    if kind == "user" and n_predicted:
        message += "; to use its predicted instances as ground truth, pass gt_instances='predicted'"
    return message


def _pair_videos(
    gt_videos: list[sio.Video], pred_videos: list[sio.Video], gt_name: str, pred_name: str
) -> dict[sio.Video, sio.Video]:
    """Pair each ground-truth video with a prediction video: the same object, else same file name.

    Raises:
        PosennError: if the predictions have videos but none pairs with a ground-truth video.
    """
    pairs = {}
    for gt_video in gt_videos:
        same_file = [v for v in pred_videos if gt_video.matches_path(v, strict=False)]
        if any(v is gt_video for v in pred_videos):
            pairs[gt_video] = gt_video
        elif same_file:
            pairs[gt_video] = same_file[0]
    if pred_videos and not pairs:
        raise PosennError(
            f"No video of {gt_name} ({[str(v.filename) for v in gt_videos]}) appears in "
            f"{pred_name} ({[str(v.filename) for v in pred_videos]}); videos pair by file name"
        )
    return pairs


def _stack(points: list[np.ndarray], n_nodes: int) -> np.ndarray:
    """List of `(n_nodes, 2)` arrays -> `(n_instances, n_nodes, 2)`."""
    return np.stack(points) if points else np.zeros((0, n_nodes, 2))
