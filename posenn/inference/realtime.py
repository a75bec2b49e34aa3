"""The real-time Predictor: poses with identities frame by frame, for experiment code.

`Predictor` loads one or two model folders into the same pipeline `posenn track` uses, warms it up
on a frame of the expected size, and then predicts one frame per call with a batch of one. The
online tracker (or the identity model) keeps its state between calls, so each result carries
track ids at once; `reset()` starts a new session. On the same frames the results equal
`posenn track`'s without its offline steps (global pass, dropping short tracks), with
`break_tracks=True` (tracklets) or with tracklet breaks turned off.

    predictor = posenn.Predictor(["models/centroid", "models/centered"], runtime="onnx")
    result = predictor(frame)          # (H, W) or (H, W, C) uint8, RGB or grey
    result.points                      # (animals, nodes, 2) pixels, NaN where a part is missing
    result.track_ids                   # (animals,) -1 untracked
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sleap_io as sio
import torch

from posenn.errors import PosennError
from posenn.inference.frames import make_batch
from posenn.inference.pipelines import TopDownPipeline
from posenn.inference.predictor import resolve_device
from posenn.inference.results import BatchPrediction
from posenn.inference.run import TrackOptions, build_pipeline, resolve_precision, thread_budget
from posenn.io.video import to_channels
from posenn.tracking.online import OnlineTracker
from posenn.tracking.options import FrameInstances, TrackerOptions
from posenn.zoo.refs import model_dirs as resolve_models

WARMUP_CALLS = 3  # calls that build the runtimes' kernels (oneDNN primitives, ONNX sessions)
MAX_WARMUP_CROPS = 4  # top-down: the instance network is warmed up on 1 … this many crops per frame


@dataclass
class PoseResult:
    """The animals found in one frame.

    Attributes:
        frame_idx: index of the frame in the session (calls count from 0, or as given).
        points: `(animals, nodes, 2)` float32 x, y in frame pixels, NaN for parts not found.
        point_scores: `(animals, nodes)` float32 confidence of each part.
        scores: `(animals,)` float32 instance scores.
        track_ids: `(animals,)` int track (or identity) index, -1 untracked.
        track_names: name of each animal's track or identity, None when untracked.
        node_names: the skeleton's node names, in the order of `points`' second axis.
    """

    frame_idx: int
    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    track_names: list[str | None]
    node_names: list[str] = field(repr=False)

    def __len__(self) -> int:
        return len(self.scores)

    def point(self, track: int | str, node: str) -> np.ndarray | None:
        """`(2,)` position of `node` of the animal with track id or name `track`; None when that
        animal or part is not in this frame.

        Raises:
            PosennError: for a node name the skeleton does not have.
        """
        if node not in self.node_names:
            raise PosennError(f"node '{node}': the skeleton's nodes are {self.node_names}.")
        column = self.node_names.index(node)
        for row in range(len(self)):
            if track in (int(self.track_ids[row]), self.track_names[row]):
                xy = self.points[row, column]
                return None if np.isnan(xy).any() else xy
        return None

    def to_dict(self) -> dict:
        """A JSON-ready dict: frame, and per animal its track, score, points (null when missing)
        and point scores."""
        animals = []
        for row in range(len(self)):
            points = [None if np.isnan(xy).any() else [round(float(xy[0]), 2), round(float(xy[1]), 2)] for xy in self.points[row]]
            animals.append({
                "track": self.track_names[row],
                "track_id": int(self.track_ids[row]),
                "score": round(float(self.scores[row]), 4),
                "points": points,
                "point_scores": [round(float(s), 4) for s in self.point_scores[row]],
            })
        return {"frame": self.frame_idx, "animals": animals}


def training_frame_shape(model_dir: Path) -> tuple[int, int] | None:
    """Height and width of the first training video of a posenn model folder, when its
    `labels_train.slp` says; None otherwise."""
    path = Path(model_dir) / "labels_train.slp"
    if not path.is_file():
        return None
    try:
        labels = sio.load_slp(str(path), open_videos=False)
        shape = labels.videos[0].backend_metadata.get("shape") if labels.videos else None
    except Exception:  # an unreadable copy of the training labels only costs the warm-up size
        return None
    return (int(shape[1]), int(shape[2])) if shape else None


def as_frame(frame: np.ndarray, channels: int) -> np.ndarray:
    """A frame checked and converted to `(H, W, channels)` uint8 (RGB frames to grey as OpenCV
    does, as `posenn track`'s reader).

    Raises:
        PosennError: for anything but a 2-D or 3-D uint8 array with 1, 3 or 4 channels.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4)):
        raise PosennError(f"frame: expected a (H, W) or (H, W, C) uint8 array with C 1, 3 or 4, got {frame.dtype} {frame.shape}.")
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    return np.ascontiguousarray(to_channels(frame, channels))


class Predictor:
    """Poses and identities frame by frame; see the module docstring.

    Args:
        model_dirs: one model folder (single-instance, bottom-up, multi-class bottom-up) or two
            (centroid, then centered-instance or multi-class top-down); `zoo:NAME` names a zoo
            model (both folders of a top-down pair).
        device: auto, cpu, cuda, cuda:N or mps.
        runtime: torch, or onnx (ONNX Runtime on the CPU).
        precision: auto (16 on CUDA, else 32), 32, bf16 or 16.
        tracker: the online tracker's options; None for the defaults (OKS, Hungarian) with
            `max_tracks` set to `max_instances`. Identity models name the animals themselves
            and use no tracker.
        tracking: False to skip tracking (track ids -1).
        break_tracks: start a new track id at each link the tracker flags as unsure (forced,
            weak or ambiguous), as `posenn track`'s tracklets before its global pass; by
            default a track keeps its id through them (with `max_instances`, ids stay below it).
        max_instances: at most this many animals per frame (top-down, bottom-up).
        peak_threshold: minimum part confidence (default: the model's setting).
        duplicate_oks: drop an instance whose OKS with a better one exceeds this.
        frame_shape: height and width of the frames to warm up on; default: the training
            frames' size, else the first frame is the warm-up.

    Raises:
        PosennError: for missing or incompatible model folders and bad options.
    """

    def __init__(
        self,
        model_dirs: Sequence[str | Path] | str | Path,
        device: str = "auto",
        runtime: str = "torch",
        precision: str = "auto",
        tracker: TrackerOptions | None = None,
        tracking: bool = True,
        break_tracks: bool = False,
        max_instances: int | None = None,
        peak_threshold: float | None = None,
        duplicate_oks: float | None = None,
        frame_shape: tuple[int, int] | None = None,
    ):
        dirs = resolve_models([model_dirs] if isinstance(model_dirs, (str, Path)) else model_dirs)
        if not 1 <= len(dirs) <= 2:
            raise PosennError(f"Expected one or two model folders, got {len(dirs)}.")
        if runtime not in ("torch", "onnx"):
            raise PosennError(f"runtime '{runtime}': expected torch or onnx.")
        self.device = resolve_device(device)
        self.runtime = runtime
        self.precision = resolve_precision(precision, self.device)
        options = TrackOptions(peak_threshold=peak_threshold, max_instances=max_instances, duplicate_oks=duplicate_oks,
                               device=device, runtime=runtime, precision=self.precision)
        self.pipeline, last = build_pipeline(dirs, self.device, options)
        self.model_dirs = dirs
        self.node_names = list(last.config.data.skeleton.nodes)
        self.edges = [(self.node_names.index(a), self.node_names.index(b)) for a, b in last.config.data.skeleton.edges]
        self.classes = list(last.config.model.classes)
        self.batch_size = last.config.inference.batch_size
        if self.classes or not tracking:
            self.tracker_options = None
        else:
            self.tracker_options = tracker or TrackerOptions(max_tracks=max_instances)
        self.break_tracks = break_tracks
        self.frame_shape = frame_shape or training_frame_shape(dirs[0])
        self.warmed_up = False
        if self.frame_shape is not None:
            self.warm_up(np.zeros((*self.frame_shape, self.pipeline.channels), np.uint8))
        self.reset()

    def reset(self) -> None:
        """Start a new session: the tracker forgets its tracks, frames count from 0 again."""
        self.tracker = OnlineTracker(self.tracker_options) if self.tracker_options else None
        self.track_numbers: dict[int, int] = {}  # online tracker's id → track id now
        self.tracks_started = 0
        self.next_frame = 0

    def warm_up(self, frame: np.ndarray) -> None:
        """Run the networks a few times on `frame` (shaped as the frames to come), and a
        throwaway tracker, so that the first real frames are as fast as the rest; the session's
        tracker is not touched."""
        batch = make_batch([(0, as_frame(frame, self.pipeline.channels))], self.device)
        with thread_budget(self.runtime), torch.inference_mode():
            for _ in range(WARMUP_CALLS):
                self.pipeline.predict_batch(batch)
                if isinstance(self.pipeline, TopDownPipeline):  # a blank frame has no animals: crops as if it had
                    centre = torch.tensor(batch.sizes[0][::-1] / 2, dtype=torch.float32, device=self.device)
                    for count in range(1, min(self.pipeline.centroid_head.max_instances, MAX_WARMUP_CROPS) + 1):
                        self.pipeline.predict_crops(batch, centre.expand(count, 2), torch.zeros(count, dtype=torch.long, device=self.device))
        if self.tracker_options is not None:  # the tracker's first links import and build its matching
            tracker, pose = OnlineTracker(self.tracker_options), np.full((1, len(self.node_names), 2), 10, np.float32)
            for index in range(2):
                tracker.step(FrameInstances(index, pose + index, np.ones(1, np.float32)), frame)
        self.warmed_up = True

    def __call__(self, frame: np.ndarray, frame_idx: int | None = None) -> PoseResult:
        """Predict and track one frame.

        Args:
            frame: `(H, W)` or `(H, W, C)` uint8, RGB or grey (C 1, 3 or 4).
            frame_idx: its index in the session (e.g. counting frames a camera dropped, so the
                tracker knows how much time passed); default: the previous one plus 1.

        Returns:
            The frame's animals with their track ids.

        Raises:
            PosennError: for a frame that is not such an array, or an index not after the last.
        """
        frame = as_frame(frame, self.pipeline.channels)
        if not self.warmed_up:
            self.warm_up(frame)
        index = self.frame_index(frame_idx)
        with thread_budget(self.runtime):
            prediction = self.pipeline.predict_batch(make_batch([(index, frame)], self.device))
        return self.tracked(prediction, frame)[0]

    def predict_batch(self, frames: Sequence[np.ndarray] | np.ndarray, batch_size: int | None = None) -> list[PoseResult]:
        """Predict frames in batches (offline use), then track them in order; continues the
        session as that many calls would.

        Args:
            frames: a sequence of frames, or a `(frames, H, W[, C])` uint8 array.
            batch_size: frames per network pass (default: the model's inference batch size).

        Returns:
            One result per frame, in order.
        """
        results: list[PoseResult] = []
        size = batch_size or self.batch_size
        for start in range(0, len(frames), size):
            chunk = [as_frame(frame, self.pipeline.channels) for frame in frames[start : start + size]]
            indexed = [(self.frame_index(None), frame) for frame in chunk]
            with thread_budget(self.runtime):
                prediction = self.pipeline.predict_batch(make_batch(indexed, self.device))
            results += self.tracked(prediction, *chunk)
        return results

    def frame_index(self, frame_idx: int | None) -> int:
        """The index of the next frame (checked to be after the last one), and count it."""
        index = self.next_frame if frame_idx is None else int(frame_idx)
        if index < self.next_frame:
            raise PosennError(f"frame_idx {index}: frames must come in increasing order (next is at least {self.next_frame}).")
        self.next_frame = index + 1
        return index

    def track_id(self, online_id: int, broken: bool) -> int:
        """The track id of a detection the online tracker gave to `online_id` (-1 stays -1):
        ids are numbered in the order their first detection comes (as `posenn track` numbers
        them); with `break_tracks`, a link flagged `broken` starts a new id."""
        if online_id < 0:
            return -1
        if online_id not in self.track_numbers or (broken and self.break_tracks):
            self.track_numbers[online_id] = self.tracks_started
            self.tracks_started += 1
        return self.track_numbers[online_id]

    def tracked(self, prediction: BatchPrediction, *frames: np.ndarray) -> list[PoseResult]:
        """Each frame's kept instances (float32, as `posenn track` saves them) with track ids
        from the tracker's next step, or the identity model's identities."""
        results = []
        for row, frame in enumerate(frames):
            keep = prediction.valid[row]
            points = prediction.points[row][keep].astype(np.float32)
            point_scores = prediction.point_scores[row][keep].astype(np.float32)
            scores = prediction.scores[row][keep].astype(np.float32)
            index = int(prediction.indices[row])
            if prediction.identities is not None:
                ids = prediction.identities[row][keep].astype(np.int64)
                names = [self.classes[i] if 0 <= i < len(self.classes) else None for i in ids.tolist()]
            elif self.tracker is not None and len(scores):
                online, _, breaks = self.tracker.step(FrameInstances(index, points, scores), frame)
                ids = np.array([self.track_id(i, b) for i, b in zip(online.tolist(), breaks.tolist())], np.int64)
                names = [f"track_{i}" if i >= 0 else None for i in ids.tolist()]
            else:
                ids, names = np.full(len(scores), -1, np.int64), [None] * len(scores)
            results.append(PoseResult(index, points, point_scores, scores, np.asarray(ids, np.int64), names, self.node_names))
        return results
