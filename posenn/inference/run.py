"""`posenn track`: videos or labels files in, one predictions `.slp` out for each.

Each input is predicted chunk by chunk into a folder beside its output (`OUTPUT.parts/`, see
`store`), then tracked from those chunks, then written as one `.slp` (atomically) and the
folder removed. Memory does not grow with the video, and a run that is stopped, killed or
crashes is continued by running the same command again.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import sleap_io as sio
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import posenn
from posenn.errors import PosennError
from posenn.inference.inputs import is_image_input
from posenn.inference.loop import default_decoders, predict_chunks
from posenn.inference.pipelines import Pipeline, make_pipeline, with_grouping
from posenn.inference.predictor import TrainedModel, load_model, model_files, resolve_device
from posenn.inference.store import Chunk, PredictionStore, chunk_spans
from posenn.io.images import image_files, image_video
from posenn.io.labels import load_labels
from posenn.io.slp_writer import FrameBlock, write_predictions, written_provenance
from posenn.io.video import open_video, parse_frame_ranges
from posenn.io.writers import save_labels
from posenn.tracking import FrameInstances, TrackerOptions, track_labels
from posenn.tracking.identities import pooled_identities
from posenn.tracking.pipeline import track_stream


@dataclass
class TrackOptions:
    """Options of `posenn track`; None means the model's own inference setting."""

    batch_size: int | None = None
    peak_threshold: float | None = None
    max_instances: int | None = None
    duplicate_oks: float | None = None
    min_line_score: float | None = None
    min_points: int | None = None
    min_instance_score: float | None = None
    max_hop_length: float | None = None  # frame pixels; 0 for no fragment joining
    device: str = "auto"
    runtime: str = "torch"
    precision: str = "auto"
    frames: str | None = None
    quiet: bool = False
    tracker: TrackerOptions | None = None
    decoders: int | None = None  # decoder threads; None: two on the CPU, up to four beside a GPU
    chunk_frames: int = 1024  # frames per saved chunk of predictions
    pool_identities: bool = True  # identity models with a tracker: names pooled along tracklets (False: frame by frame)


def video_jobs(input_path: Path, frames: str | None) -> list[tuple[sio.Video, list[int]]]:
    """The (video, frame indices) to predict: a whole video (or `--frames`), images as
    sleap-io's image-list video, or the labeled frames of each video in a `.slp`."""
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
    if is_image_input(input_path):
        files = image_files(input_path)
        return [(image_video(files), parse_frame_ranges(frames, len(files)))]
    video = open_video(input_path)
    return [(video, parse_frame_ranges(frames, video.shape[0]))]


@contextlib.contextmanager
def thread_budget(runtime: str) -> Iterator[None]:
    """Inside the block, the networks and the decoder get the cores: OpenCV (resizing) and
    PyTorch's own work run on one thread; networks on the CPU run on all of PyTorch's threads
    (`ThreadedModel`), or in ONNX Runtime's pool.

    Idle pool threads otherwise spin and take the cores from the networks and the decoder: with
    stand-in networks, one PyTorch thread outside them ran the predict loop 1.4× faster on 2 cores
    (ad hoc runs of long_video.py's pipeline ceiling).
    """
    opencv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
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


def grouped(model: TrainedModel, options: TrackOptions) -> TrainedModel:
    """A model with the grouping options of `posenn track` that were given (bottom-up only)."""
    hop = options.max_hop_length
    return with_grouping(
        model, min_line_score=options.min_line_score, min_points=options.min_points, min_score=options.min_instance_score,
        max_hop_length=None if hop is None else hop * model.config.data.scale,
    )


def build_pipeline(model_dirs: list[Path], device: torch.device, options: TrackOptions) -> tuple[Pipeline, TrainedModel]:
    """Load the model folders and compose them with the options (or the last model's own
    inference settings); returns the pipeline and the last model, whose skeleton it predicts."""
    models = [grouped(load_model(path, device, options.runtime, options.precision), options) for path in model_dirs]
    check_same_skeleton(models)
    settings = models[-1].config.inference
    pipeline = make_pipeline(
        models,
        peak_threshold=first_set(options.peak_threshold, settings.peak_threshold),
        max_instances=options.max_instances,
        duplicate_oks=first_set(options.duplicate_oks, settings.duplicate_oks),
    )
    return pipeline, models[-1]


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: float16 on CUDA GPUs (as accurate as float32 for pose maps, and faster), float32
    elsewhere; other values are kept."""
    if precision != "auto":
        return precision
    return "16" if device.type == "cuda" else "32"


def file_stamp(path: Path) -> dict:
    """What identifies a file's version: resolved path, size and modification time; for
    images, a digest of each image's."""
    if is_image_input(path):
        stamps = json.dumps([stat_stamp(image) for image in image_files(path)])
        return {"images": str(path), "digest": hashlib.sha256(stamps.encode()).hexdigest()}
    return stat_stamp(path)


def stat_stamp(path: Path) -> dict:
    """Resolved path, size and modification time of one file."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def job_signature(input_path: Path, jobs: list[tuple[sio.Video, list[int]]], model_dirs: list[Path], options: TrackOptions,
                  device: torch.device, precision: str) -> dict:
    """What makes two runs predict the same thing: input, frames, models and prediction options."""
    frames = hashlib.sha256(json.dumps([indices for _, indices in jobs]).encode()).hexdigest()
    models = [file_stamp(path) for directory in model_dirs for path in model_files(directory)]
    settings = {name: getattr(options, name) for name in ("batch_size", "peak_threshold", "max_instances", "duplicate_oks",
                                                          "min_line_score", "min_points", "min_instance_score",
                                                          "max_hop_length", "runtime", "chunk_frames")}
    return {"input": file_stamp(input_path), "frames": frames, "models": models, "settings": settings,
            "device": device.type, "precision": precision, "posenn": posenn.__version__}


def parts_folder(output: Path) -> Path:
    """Where an output's chunks are kept until it is written."""
    return output.with_name(output.name + ".parts")


def chunk_frames(chunk: Chunk) -> Iterator[FrameInstances]:
    """The frames of a chunk that hold instances, as tracker input."""
    bounds = np.cumsum(chunk.counts)
    for frame_idx, count, end in zip(chunk.frame_idx.tolist(), chunk.counts.tolist(), bounds.tolist()):
        if count:
            yield FrameInstances(frame_idx, chunk.points[end - count : end], chunk.scores[end - count : end])


@dataclass
class Prepared:
    """What every input of one `posenn track` run shares."""

    model_dirs: list[Path]
    options: TrackOptions
    device: torch.device
    precision: str
    pipeline: Pipeline
    last_model: TrainedModel

    @property
    def identity_tracks(self) -> list[sio.Track]:
        """Identity models name each animal themselves: their classes are the tracks."""
        return [sio.Track(name) for name in self.last_model.config.model.classes]


def prepare(model_dirs: list[Path], options: TrackOptions) -> Prepared:
    """Check the options, load the models and build the pipeline."""
    if not 1 <= len(model_dirs) <= 2:
        raise PosennError(f"Expected one or two model folders (-m), got {len(model_dirs)}.")
    if options.chunk_frames < 1:
        raise PosennError(f"chunk_frames must be at least 1, got {options.chunk_frames}.")
    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, device)
    pipeline, last_model = build_pipeline(model_dirs, device, replace(options, precision=precision))
    return Prepared([Path(p) for p in model_dirs], options, device, precision, pipeline, last_model)


def predict_input(input_path: Path, output: Path, run: Prepared, progress: Progress) -> int:
    """Predict, track and write one input; returns the number of frames predicted (0 when the
    output was already complete)."""
    options = run.options
    jobs = video_jobs(input_path, options.frames)
    signature = job_signature(input_path, jobs, run.model_dirs, options, run.device, run.precision)
    job = {"prediction": signature, "tracker": str(options.tracker) if options.tracker else None, "pooled": options.pool_identities}
    if output.exists() and written_provenance(output).get("posenn_job") == json.loads(json.dumps(job)):
        progress.console.print(f"{output}: already complete, skipped.")
        return 0
    parts = parts_folder(output)
    batch_size = options.batch_size or run.last_model.config.inference.batch_size
    n_frames = sum(len(indices) for _, indices in jobs)
    task = progress.add_task(input_path.name, total=n_frames, rate="")
    started = datetime.datetime.now()
    first_frame: list[float] = []  # when the first batch was predicted (Unix time), for start-up figures
    stores = []
    for number, (video, indices) in enumerate(jobs):
        spans = chunk_spans(len(indices), options.chunk_frames)
        store = PredictionStore(parts / f"video{number}", {**signature, "video": number}, len(spans))
        done = sum(spans[k].stop - spans[k].start for k in range(len(spans)) if store.done(k))
        if done:
            progress.console.print(f"{input_path}: resuming, {done} of {len(indices)} frames already predicted.")
            progress.advance(task, done)

        def advance(n: int) -> None:
            first_frame[:] = first_frame or [time.time()]
            progress.advance(task, n)
            speed = next(t.speed for t in progress.tasks if t.id == task)
            progress.update(task, rate=f"{speed:.1f} frames/s" if speed else "")

        with thread_budget(options.runtime):
            predict_chunks(run.pipeline, video, [indices[span] for span in spans], store, run.device, batch_size,
                           options.decoders or default_decoders(run.device), advance)
        stores.append(store)
    elapsed = (datetime.datetime.now() - started).total_seconds()
    progress.remove_task(task)

    tracks, tracked = link_tracks(stores, run)
    provenance = {
        "software": "posenn",
        "posenn_version": posenn.__version__,
        "model_paths": [str(p.resolve()) for p in run.model_dirs],
        "source": str(Path(input_path).resolve()),
        "device": str(run.device),
        "runtime": options.runtime,
        "precision": run.precision,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 3),
        "first_frame_time": first_frame[0] if first_frame else None,
        "host": platform.node(),
        "torch_version": torch.__version__,
        "tracker": ("identity model" + (f" pooled along tracklets of {options.tracker}" if tracked else "")) if run.identity_tracks
        else str(options.tracker) if options.tracker else "none",
        "posenn_job": job,
    }
    blocks = frame_blocks(stores, tracked, identified=bool(run.identity_tracks))
    write_predictions(output, [video for video, _ in jobs], run.last_model.skeleton, tracks, provenance, blocks)
    for store in stores:
        store.clear()
    with contextlib.suppress(OSError):
        parts.rmdir()
    progress.console.print(
        f"Predicted {n_frames} frames in {elapsed:.1f} s ({n_frames / max(elapsed, 1e-9):.1f} frames/s) → {output}"
    )
    return n_frames


def link_tracks(stores: list[PredictionStore], run: Prepared) -> tuple[list[sio.Track], list[tuple[np.ndarray, np.ndarray]] | None]:
    """The output's tracks, and for each video the `(instances,)` track index and tracking score
    of its instances in chunk order, from the tracker run over the video's chunks in bounded
    memory; None when an identity model names the tracks frame by frame or there is no tracker.

    An identity model with a tracker and `pool_identities` names the tracks by its class
    probabilities pooled along the tracker's tracklets (`posenn.tracking.identities`)."""
    tracker = run.options.tracker
    if run.identity_tracks and tracker is not None and run.options.pool_identities:
        per_video = []
        for store in stores:
            probabilities = np.concatenate([chunk.class_probabilities for chunk in store.chunks()])
            frames = (frame for chunk in store.chunks() for frame in chunk_frames(chunk))
            identities = pooled_identities(frames, probabilities, tracker)
            per_video.append((identities, np.zeros(len(identities), np.float32)))
        return run.identity_tracks, per_video
    if run.identity_tracks or tracker is None:
        return run.identity_tracks, None
    per_video = [track_stream((frame for chunk in store.chunks() for frame in chunk_frames(chunk)), tracker) for store in stores]
    n_tracks = max((int(ids.max(initial=-1)) + 1 for ids, _ in per_video), default=0)
    return [sio.Track(f"track_{i}") for i in range(n_tracks)], per_video


def frame_blocks(stores: list[PredictionStore], tracked: list[tuple[np.ndarray, np.ndarray]] | None, identified: bool) -> Iterator[FrameBlock]:
    """Each saved chunk as a block of the output, with its instances' tracks: the tracker's,
    the identity model's, or none."""
    for number, store in enumerate(stores):
        start = 0
        for chunk in store.chunks():
            end = start + len(chunk.scores)
            if tracked is not None:
                tracks, scores = tracked[number][0][start:end], tracked[number][1][start:end].astype(np.float32)
            else:
                tracks = chunk.identities if identified else np.full(end - start, -1)
                scores = np.zeros(end - start, np.float32)
            yield FrameBlock(number, chunk.frame_idx, chunk.counts, chunk.points, chunk.point_scores, chunk.scores, tracks, scores)
            start = end


def track(input_path: Path, model_dirs: list[Path], output: Path, options: TrackOptions) -> sio.Labels:
    """Predict poses on a video or on the labeled frames of a `.slp`; write `output` atomically
    and return it loaded (for long videos, prefer `track_inputs`, which does not load it)."""
    track_inputs([Path(input_path)], model_dirs, Path(output), options)
    return load_labels(Path(output))


def track_inputs(inputs: list[Path], model_dirs: list[Path], output: Path | None, options: TrackOptions,
                 devices: list[str] | None = None) -> list[Path]:
    """Predict every input into its own predictions file (see `outputs_for`); returns them.

    With several `devices` (e.g. `["cuda:0", "cuda:1"]`) the inputs are spread over them, one
    worker process per device (see `devices.track_on_devices`).
    """
    from posenn.inference.inputs import outputs_for
    from posenn.zoo.refs import model_dirs as resolve_models

    model_dirs = resolve_models(model_dirs, options.quiet)
    for path in inputs:
        if not Path(path).exists() and not is_image_input(path):
            raise PosennError(f"Input not found: {path}")
    targets = outputs_for(inputs, output)
    if devices and len(devices) > 1:
        from posenn.inference.devices import track_on_devices

        track_on_devices(list(zip(inputs, targets)), model_dirs, options, devices)
    else:
        predict_inputs(list(zip(inputs, targets)), model_dirs, replace(options, device=devices[0]) if devices else options)
    return targets


def predict_inputs(pairs: list[tuple[Path, Path]], model_dirs: list[Path], options: TrackOptions) -> None:
    """Predict each `(input, output)` pair with one set of loaded models, under one progress display."""
    run = prepare(model_dirs, options)
    console = Console(quiet=options.quiet)
    with progress_bar(console) as progress:
        overall = progress.add_task("Videos", total=len(pairs), rate="") if len(pairs) > 1 else None
        for path, target in pairs:
            predict_input(Path(path), target, run, progress)
            if overall is not None:
                progress.advance(overall)


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
