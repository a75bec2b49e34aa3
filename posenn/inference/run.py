"""`posenn track`: a video or labels file in, a predictions `.slp` out."""

from __future__ import annotations

import contextlib
import datetime
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import sleap_io as sio
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import posenn
from posenn.errors import PosennError
from posenn.inference.pipelines import FramePrediction, Pipeline, make_pipeline, with_grouping
from posenn.inference.predictor import TrainedModel, batch_frames, load_model, resolve_device
from posenn.io.labels import load_labels
from posenn.io.video import iter_frames, open_video, parse_frame_ranges, prefetch
from posenn.io.writers import save_labels
from posenn.tracking import TrackerOptions, track_labels


@dataclass
class TrackOptions:
    """Options of `posenn track`; None means the model's own inference setting."""

    batch_size: int | None = None
    peak_threshold: float | None = None
    max_instances: int | None = None
    duplicate_oks: float | None = None
    min_line_score: float | None = None
    min_points: int | None = None
    device: str = "auto"
    runtime: str = "torch"
    precision: str = "32"
    frames: str | None = None
    quiet: bool = False
    tracker: TrackerOptions | None = None


def video_jobs(input_path: Path, frames: str | None) -> list[tuple[sio.Video, list[int]]]:
    """The (video, frame indices) to predict: a whole video (or `--frames`), or the labeled
    frames of each video in a `.slp`."""
    if input_path.suffix == ".slp":
        labels = load_labels(input_path)
        if frames:
            raise PosennError("--frames applies to a video input; a .slp input predicts its labeled frames.")
        jobs = []
        for video in labels.videos:
            indices = sorted({int(lf.frame_idx) for lf in labels.find(video)})
            if indices:
                jobs.append((video, indices))
        if not jobs:
            raise PosennError(f"{input_path}: holds no labeled frames to predict.")
        return jobs
    video = open_video(input_path)
    return [(video, parse_frame_ranges(frames, video.shape[0]))]


def to_labeled_frame(
    prediction: FramePrediction, video: sio.Video, skeleton: sio.Skeleton, tracks: list[sio.Track]
) -> sio.LabeledFrame:
    """Wrap one frame's predictions as `PredictedInstance`s; identities become `tracks`."""
    identities = prediction.identities if prediction.identities is not None else np.full(len(prediction.points), -1)
    instances = [
        sio.PredictedInstance.from_numpy(
            points, skeleton=skeleton, point_scores=point_scores, score=float(score),
            track=tracks[identity] if identity >= 0 else None,
        )
        for points, point_scores, score, identity in zip(prediction.points, prediction.point_scores, prediction.scores, identities)
    ]
    return sio.LabeledFrame(video=video, frame_idx=prediction.frame_idx, instances=instances)


def predict_video(
    pipeline: Pipeline,
    video: sio.Video,
    indices: list[int],
    device: torch.device,
    batch_size: int,
    skeleton: sio.Skeleton,
    tracks: list[sio.Track],
    on_batch: Callable[[int], None],
) -> list[sio.LabeledFrame]:
    """Predict the given frames of one video, decoding and preprocessing on a background thread."""
    frames = iter_frames(video, indices, pipeline.channels)
    labeled_frames = []
    for batch in prefetch(batch_frames(frames, pipeline.channels, pipeline.scales, batch_size), depth=3):
        for prediction in pipeline.predict(batch, device):
            if len(prediction.points):
                labeled_frames.append(to_labeled_frame(prediction, video, skeleton, tracks))
        on_batch(len(batch.indices))
    return labeled_frames


@contextlib.contextmanager
def thread_budget(runtime: str) -> Iterator[None]:
    """Inside the block, the networks get the cores: OpenCV (decoding and resizing on the reader
    thread) runs on one thread, and so does PyTorch's own work when ONNX Runtime runs the networks.

    Idle pool threads otherwise compete with the networks' threads on a CPU; each change ran
    `posenn track` about 1.06× faster on 2 cores (ad hoc runs of speed_ceilings.py's timings).
    """
    opencv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    if runtime == "onnx":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(opencv_threads)
        torch.set_num_threads(torch_threads)


def first_set(option: float | None, default: float | None) -> float | None:
    """A command-line option when given, else the model's own setting."""
    return option if option is not None else default


def check_same_skeleton(models: list[TrainedModel]) -> None:
    """Raise a PosennError when chained models were trained on different skeletons."""
    nodes = {tuple(model.config.data.skeleton.nodes) for model in models}
    if len(nodes) > 1:
        listed = "; ".join(f"{model.path}: {model.config.data.skeleton.nodes}" for model in models)
        raise PosennError(f"The models predict different skeletons ({listed}).")


def progress_bar(console: Console) -> Progress:
    """Progress with frames done, frames/s and time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )


def build_pipeline(model_dirs: list[Path], device: torch.device, options: TrackOptions) -> tuple[Pipeline, TrainedModel]:
    """Load the model folders and compose them with the options (or the last model's own
    inference settings); returns the pipeline and the last model, whose skeleton it predicts."""
    models = [
        with_grouping(load_model(path, device, options.runtime, options.precision), min_line_score=options.min_line_score, min_points=options.min_points)
        for path in model_dirs
    ]
    check_same_skeleton(models)
    settings = models[-1].config.inference
    pipeline = make_pipeline(
        models,
        peak_threshold=first_set(options.peak_threshold, settings.peak_threshold),
        max_instances=options.max_instances,
        duplicate_oks=first_set(options.duplicate_oks, settings.duplicate_oks),
    )
    return pipeline, models[-1]


def track(input_path: Path, model_dirs: list[Path], output: Path, options: TrackOptions) -> sio.Labels:
    """Predict poses on a video or on the labeled frames of a `.slp`; write `output` atomically."""
    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise PosennError(f"Input not found: {input_path}")
    if not 1 <= len(model_dirs) <= 2:
        raise PosennError(f"Expected one or two model folders (-m), got {len(model_dirs)}.")
    device = resolve_device(options.device)
    pipeline, last_model = build_pipeline(model_dirs, device, options)
    batch_size = options.batch_size or last_model.config.inference.batch_size
    skeleton = last_model.skeleton
    # Identity models name each animal themselves: their classes are the tracks, no linking needed.
    identity_tracks = [sio.Track(name) for name in last_model.config.model.classes]
    jobs = video_jobs(input_path, options.frames)

    console = Console(quiet=options.quiet)
    labeled_frames: list[sio.LabeledFrame] = []
    started = datetime.datetime.now()
    with progress_bar(console) as progress, thread_budget(options.runtime):
        task = progress.add_task("Predicting", total=sum(len(indices) for _, indices in jobs), rate="")
        for video, indices in jobs:

            def advance(n: int) -> None:
                progress.advance(task, n)
                speed = progress.tasks[task].speed
                progress.update(task, rate=f"{speed:.1f} frames/s" if speed else "")

            labeled_frames += predict_video(pipeline, video, indices, device, batch_size, skeleton, identity_tracks, advance)
    elapsed = (datetime.datetime.now() - started).total_seconds()
    n_frames = sum(len(indices) for _, indices in jobs)
    console.print(f"Predicted {n_frames} frames in {elapsed:.1f} s ({n_frames / max(elapsed, 1e-9):.1f} frames/s) → {output}")

    videos = [video for video, _ in jobs]
    tracks = identity_tracks
    if identity_tracks:
        console.print(f"Identities from the model: {', '.join(track.name for track in identity_tracks)}.")
    elif options.tracker is not None:
        tracked = track_labels(sio.Labels(labeled_frames=labeled_frames, videos=videos, skeletons=[skeleton]), options.tracker)
        labeled_frames, tracks = tracked.labeled_frames, tracked.tracks
    labels = sio.Labels(
        labeled_frames=labeled_frames,
        videos=videos,
        skeletons=[skeleton],
        tracks=tracks,
        provenance={
            "software": "posenn",
            "posenn_version": posenn.__version__,
            "model_paths": [str(Path(p).resolve()) for p in model_dirs],
            "source": str(input_path.resolve()),
            "device": str(device),
            "runtime": options.runtime,
            "precision": options.precision,
            "started": started.isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 3),
            "host": platform.node(),
            "torch_version": torch.__version__,
            "tracker": "identity model" if identity_tracks else str(options.tracker) if options.tracker else "none",
        },
    )
    save_labels(labels, output)
    return labels


def retrack(input_path: Path, output: Path, tracker: TrackerOptions, quiet: bool = False) -> sio.Labels:
    """`--tracking-only`: link the predictions of an existing `.slp` again, no model needed."""
    labels = load_labels(input_path)
    if not labels.n_pred_instances:
        raise PosennError(f"{input_path}: holds no predicted instances to track.")
    started = datetime.datetime.now()
    tracked = track_labels(labels, tracker)
    elapsed = (datetime.datetime.now() - started).total_seconds()
    tracked.provenance = {**labels.provenance, "retracked_by": f"posenn {posenn.__version__}", "tracker": str(tracker)}
    n_frames = len(tracked.labeled_frames)
    Console(quiet=quiet).print(
        f"Tracked {n_frames} frames into {len(tracked.tracks)} tracks in {elapsed:.2f} s "
        f"({n_frames / max(elapsed, 1e-9):.0f} frames/s) → {output}"
    )
    save_labels(tracked, output)
    return tracked
