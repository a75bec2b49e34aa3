"""Writing a predictions `.slp` block by block, in memory that does not grow with the video.

sleap-io writes everything but the frames (skeleton, videos, tracks, provenance, and the empty
frame tables in its own layout); the frame, instance and point tables are then appended from
arrays, in the dtypes sleap-io chose, so the file is the one `sio.save_slp` would write for the
same predictions. Building `LabeledFrame` objects for an hours-long video would take gigabytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import sleap_io as sio

from posenn.io.atomic import atomic_path

TABLES = ("frames", "instances", "pred_points")
PREDICTED = 1  # sleap-io's InstanceType.PREDICTED


@dataclass
class FrameBlock:
    """Predicted instances of consecutive frames of one video.

    Attributes:
        video: index of the video in the file's videos.
        frame_idx: `(frames,)` frame indices; frames without instances are not written.
        counts: `(frames,)` instances per frame.
        points: `(instances, nodes, 2)`, NaN for parts not found.
        point_scores: `(instances, nodes)`.
        scores: `(instances,)`.
        tracks: `(instances,)` index into the file's tracks, -1 for none.
        tracking_scores: `(instances,)`.
    """

    video: int
    frame_idx: np.ndarray
    counts: np.ndarray
    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray
    tracks: np.ndarray
    tracking_scores: np.ndarray


def append(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    """Append structured `rows` to a resizable 1-d dataset."""
    start = dataset.shape[0]
    dataset.resize((start + len(rows),))
    dataset[start:] = rows


def table_rows(block: FrameBlock, dtypes: dict[str, np.dtype], frame_start: int, instance_start: int, point_start: int) -> dict[str, np.ndarray]:
    """The frame, instance and point rows of `block`, numbered on from the given ids."""
    kept = block.counts > 0
    counts = block.counts[kept]
    n_instances, n_nodes = block.points.shape[:2]
    frames = np.zeros(len(counts), dtypes["frames"])
    frames["frame_id"] = frame_start + np.arange(len(counts))
    frames["video"] = block.video
    frames["frame_idx"] = block.frame_idx[kept]
    ends = instance_start + np.cumsum(counts)
    frames["instance_id_start"], frames["instance_id_end"] = ends - counts, ends

    instances = np.zeros(n_instances, dtypes["instances"])
    instances["instance_id"] = instance_start + np.arange(n_instances)
    instances["instance_type"] = PREDICTED
    instances["frame_id"] = np.repeat(frames["frame_id"], counts)
    instances["track"] = block.tracks
    instances["from_predicted"] = -1
    instances["score"] = block.scores
    instances["point_id_start"] = point_start + n_nodes * np.arange(n_instances)
    instances["point_id_end"] = instances["point_id_start"] + n_nodes
    instances["tracking_score"] = block.tracking_scores

    points = np.zeros(n_instances * n_nodes, dtypes["pred_points"])
    xy = block.points.reshape(-1, 2).astype(np.float64)
    points["x"], points["y"] = xy[:, 0], xy[:, 1]
    points["visible"] = ~np.isnan(xy).any(axis=1)
    points["score"] = block.point_scores.reshape(-1)
    return {"frames": frames, "instances": instances, "pred_points": points}


def write_predictions(
    path: Path, videos: list[sio.Video], skeleton: sio.Skeleton, tracks: list[sio.Track], provenance: dict, blocks: Iterable[FrameBlock]
) -> int:
    """Write a predictions `.slp` atomically from `blocks` (in the order they should appear);
    returns the number of labeled frames written."""
    with atomic_path(Path(path)) as tmp:
        empty = sio.Labels(videos=videos, skeletons=[skeleton], tracks=tracks, provenance=provenance)
        sio.save_slp(empty, str(tmp), embed=False, verbose=False)
        with h5py.File(tmp, "a") as handle:
            dtypes = {name: handle[name].dtype for name in TABLES}
            for name in TABLES:
                del handle[name]
                handle.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtypes[name], chunks=(4096,))
            counts = dict.fromkeys(TABLES, 0)
            for block in blocks:
                rows = table_rows(block, dtypes, counts["frames"], counts["instances"], counts["pred_points"])
                for name in TABLES:
                    append(handle[name], rows[name])
                    counts[name] += len(rows[name])
    return counts["frames"]


def written_provenance(path: Path) -> dict:
    """The provenance of a `.slp`, read without loading its frames; {} when there is none or
    the file is not a readable `.slp`."""
    try:
        with h5py.File(path, "r") as handle:
            return json.loads(handle["metadata"].attrs["json"]).get("provenance", {})
    except (OSError, KeyError, ValueError):
        return {}
