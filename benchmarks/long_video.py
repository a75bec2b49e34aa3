"""A long 1024×1024 video through `posenn track`, on the CPU or a GPU: where the time goes.

The two-fly sample (384×384, 1100 frames) is centred in a 1024×1024 frame and looped to
`--frames` frames (stream copy, so the video decodes like one long recording); its labels move
with it. A top-down pair is trained on them for `--steps` steps (or given with `--models`). Then, in
frames per second unless said otherwise:

- start-up: the whole `posenn track` command on one frame (imports, device set-up, model
  loading, first frame, writing), in seconds: an upper bound on "command to first frame";
- decode ceiling: one OpenCV decoder reading the video in order (a bare `read` loop, and with the
  conversion to the model's channels);
- forward ceiling: the two networks alone, replaying on inputs in memory the calls the predict
  loop makes (the centroid network per batch, the instance network on every crop);
- pipeline ceiling: `posenn track`'s whole path (decoding, resizing, crops, peaks, duplicates,
  saving chunks, tracking, writing) with the networks replaced by stand-ins that cost nothing but
  return maps of the right shape with two animals in them;
- end to end: the `posenn track` command with tracking (`--max-tracks 2`), whole command and its
  predict loop, the loop as a share of the lower ceiling, and peak memory;
- accuracy: OKS mAP of the end-to-end precision against float32 on the 1100 labelled frames;
- memory: peak memory of the stand-in pipeline over `--memory-frames` frames of a looped
  384×384 video, in child processes, to show that memory does not grow with the video.

    python benchmarks/long_video.py                      # 15,400 frames (about 10 minutes on 2 CPU cores)
    python benchmarks/long_video.py --device cuda        # the same on a GPU (precision auto: float16)
    python benchmarks/long_video.py --quick              # 2,200 frames, short memory runs

On a GPU machine without the sample data or ffmpeg, see benchmarks/gpu_run.sh.

Results go to benchmarks/results/long_video_<device>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import sleap_io as sio
import torch
from common import report, train_model
from rich.console import Console
from rich.progress import Progress

from posenn.evaluation.pose import evaluate_labels
from posenn.heads.confmaps import gaussian_maps
from posenn.inference.frames import to_device_batch
from posenn.inference.pipelines import TopDownPipeline
from posenn.inference.run import Prepared, TrackOptions, prepare, predict_input, thread_budget
from posenn.io.labels import load_labels
from posenn.io.slp_writer import written_provenance
from posenn.io.video import decode_batches, open_video
from posenn.tracking import TrackerOptions

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLIES_LABELS = DATA / "centered_pair_predictions.slp"
FLIES_VIDEO = DATA / "centered_pair_low_quality.mp4"
SIZE = 1024
ANIMALS = 2
BATCH_SIZE = 16
START_RUNS = 5  # one-frame commands timed for the start-up rows (after one that warms the file cache)


def ffmpeg() -> str:
    """The ffmpeg executable that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def looped(source: Path, target: Path, copies: int) -> Path:
    """`source` repeated `copies` times, by stream copy (no re-encoding)."""
    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{source.resolve()}'\n" for _ in range(copies)))
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(target)], check=True)
    return target


def padded_sample(work: Path) -> tuple[Path, Path]:
    """The fly sample centred in a 1024×1024 frame (H.264, as a camera would write it; the flies
    keep their size) and its labels, moved with it."""
    video = work / "flies1024.mp4"
    labels = load_labels(FLIES_LABELS)
    height, width = labels.videos[0].shape[1:3]
    left, top = (SIZE - width) // 2, (SIZE - height) // 2
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(FLIES_VIDEO), "-vf", f"pad={SIZE}:{SIZE}:{left}:{top}:gray",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", str(video)], check=True)
    target = sio.Video.from_filename(str(video.resolve()))
    frames = []
    for lf in labels.labeled_frames:
        instances = [sio.PredictedInstance.from_numpy(inst.numpy() + [left, top], skeleton=labels.skeleton,
                                                      point_scores=np.ones(len(labels.skeleton.nodes)), score=1.0)
                     for inst in lf.predicted_instances]
        frames.append(sio.LabeledFrame(video=target, frame_idx=lf.frame_idx, instances=instances))
    path = work / "flies1024.slp"
    sio.save_slp(sio.Labels(labeled_frames=frames, videos=[target], skeletons=[labels.skeleton]), str(path), embed=False)
    return video, path


def train_pair(labels: Path, work: Path, steps: int) -> list[Path]:
    """A top-down pair trained on the 1024×1024 labels, the centroid model at scale 0.25."""
    settings = ["data.val_fraction=0.05", f"inference.batch_size={BATCH_SIZE}"]
    centroid, _ = train_model(labels, "centroid", work / "centroid", steps, "predicted", settings + ["data.scale=0.25"])
    instance, _ = train_model(labels, "centered_instance", work / "centered", steps, "predicted", settings)
    return [centroid, instance]


def peak_mib(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM) in MiB. (`wait4`'s ru_maxrss would not do: on
    Linux a child's count starts from its parent's memory at the fork.)"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """Run `command` (its `-o` output removed first: a complete output would be skipped); its
    wall seconds, peak resident memory in MiB (read while it runs) and output. Exits on failure."""
    if "-o" in command:
        Path(command[command.index("-o") + 1]).unlink(missing_ok=True)
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        peak = 0.0
        while process.poll() is None:
            try:
                peak = max(peak, peak_mib(process.pid))
            except (OSError, ValueError):  # the process ended between poll and read
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"Command failed: {' '.join(command)}\n{output[-3000:]}")
    return seconds, peak, output


def decode_rates(video: Path, n_frames: int, channels: int) -> tuple[float, float]:
    """Frames/s of a bare OpenCV read loop, and of posenn's reader (with channel conversion)."""
    capture = cv2.VideoCapture(str(video))
    start = time.perf_counter()
    for _ in range(n_frames):
        capture.read()
    bare = n_frames / (time.perf_counter() - start)
    capture.release()
    start = time.perf_counter()
    for _ in decode_batches(open_video(video), [range(n_frames)], channels, BATCH_SIZE):
        pass
    return bare, n_frames / (time.perf_counter() - start)


class Recorder(torch.nn.Module):
    """Passes calls to a network and records each input's shape."""

    def __init__(self, model: Callable, shapes: list[torch.Size]):
        super().__init__()
        self.model, self.shapes = model, shapes

    def forward(self, images: torch.Tensor):
        self.shapes.append(images.shape)
        return self.model(images)


class StandIn(torch.nn.Module):
    """A network that costs nothing: for each input shape, the same maps (made once) with one
    Gaussian per animal (centroid) or per part (instance), expanded over the batch."""

    def __init__(self, model: Callable, blobs: Callable[[tuple[int, int], int], torch.Tensor]):
        super().__init__()
        self.model, self.blobs, self.cache = model, blobs, {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        key = tuple(images.shape[1:])
        if key not in self.cache:
            shape = self.model(images[:1]).shape
            self.cache[key] = self.blobs(tuple(images.shape[-2:]), shape[1]).to(images.device)
        maps = self.cache[key]
        return maps.expand(len(images), *maps.shape[1:]).clone()  # a network writes new maps


def stand_in_pipeline(run: Prepared) -> Prepared:
    """`run` with its networks replaced by stand-ins (two animals a third of the frame apart)."""
    pipeline = run.pipeline
    assert isinstance(pipeline, TopDownPipeline)
    c_stride, i_stride = pipeline.centroid.config.model.output_stride, pipeline.instance.config.model.output_stride
    sigma = 3.0

    def animals(size: tuple[int, int], channels: int) -> torch.Tensor:
        h, w = size
        centres = torch.tensor([[[[w / 3, h / 3]], [[2 * w / 3, 2 * h / 3]]]])  # (1, animals, 1, 2)
        return gaussian_maps(centres, h, w, c_stride, sigma)

    def parts(size: tuple[int, int], channels: int) -> torch.Tensor:
        h, w = size
        angles = torch.linspace(0, 2 * torch.pi, channels + 1)[:-1]
        points = torch.stack([w / 2 + w / 4 * torch.cos(angles), h / 2 + h / 4 * torch.sin(angles)], dim=-1)[None, None]
        return gaussian_maps(points, h, w, i_stride, sigma)

    centroid = dataclasses.replace(pipeline.centroid, model=StandIn(pipeline.centroid.model, animals))
    instance = dataclasses.replace(pipeline.instance, model=StandIn(pipeline.instance.model, parts))
    stand_in = TopDownPipeline(centroid, instance, pipeline.peak_threshold, pipeline.centroid_head.max_instances, pipeline.duplicate_oks)
    return dataclasses.replace(run, pipeline=stand_in)


def track_options(device: str, precision: str, **changes) -> TrackOptions:
    """The options every run here uses."""
    tracker = TrackerOptions(max_tracks=ANIMALS)
    return TrackOptions(batch_size=BATCH_SIZE, max_instances=ANIMALS, device=device, precision=precision, quiet=True,
                        tracker=tracker, **changes)


def timed_predict(run: Prepared, video: Path, output: Path) -> tuple[float, float]:
    """Whole-path and predict-loop frames/s of one in-process `predict_input`."""
    output.unlink(missing_ok=True)  # a complete output would be skipped
    start = time.perf_counter()
    with Progress(console=Console(quiet=True)) as progress:
        n_frames = predict_input(video, output, run, progress)
    whole = time.perf_counter() - start
    return n_frames / whole, n_frames / written_provenance(output)["elapsed_s"]


def forward_ceiling(run: Prepared, video: Path, n_frames: int) -> float:
    """Frames/s of the two networks alone, replaying the calls of the predict loop over the
    first `n_frames` frames on inputs already on the device."""
    pipeline = run.pipeline
    shapes: dict[str, list[torch.Size]] = {"centroid": [], "instance": []}
    recorded = TopDownPipeline(
        dataclasses.replace(pipeline.centroid, model=Recorder(pipeline.centroid.model, shapes["centroid"])),
        dataclasses.replace(pipeline.instance, model=Recorder(pipeline.instance.model, shapes["instance"])),
        pipeline.peak_threshold, pipeline.centroid_head.max_instances, pipeline.duplicate_oks,
    )
    for _, decoded in decode_batches(open_video(video), [range(n_frames)], pipeline.channels, BATCH_SIZE):
        recorded.predict_batch(to_device_batch(decoded.indices, decoded.frames, run.device))
    calls = [(pipeline.centroid.model, shape) for shape in shapes["centroid"]] + [(pipeline.instance.model, shape) for shape in shapes["instance"]]
    inputs = {shape: torch.rand(shape, device=run.device).contiguous(memory_format=torch.channels_last) for _, shape in calls}

    def replay() -> None:
        with torch.inference_mode():
            for network, shape in calls:
                network(inputs[shape])
        if run.device.type == "cuda":
            torch.cuda.synchronize()

    replay()
    start = time.perf_counter()
    replay()
    return n_frames / (time.perf_counter() - start)


def oks_map(labels: Path, predictions: Path) -> float:
    """OKS mAP of predictions against the labels (the sample's predicted instances taken as truth)."""
    metrics = evaluate_labels(load_labels(labels), load_labels(predictions), gt_instances="predicted", pred_instances="predicted")
    return round(metrics["oks_map"], 3)


def memory_child(video: Path, models: list[Path], n_frames: int, output: Path) -> None:
    """Child process: the stand-in pipeline over the first `n_frames` frames; prints peak MiB."""
    options = track_options("auto", "auto", frames=f"0-{n_frames - 1}")
    run = stand_in_pipeline(prepare(models, options))
    output.unlink(missing_ok=True)  # a complete output would be skipped
    with Progress(console=Console(quiet=True)) as progress:
        predict_input(video, output, run, progress)
    print(json.dumps({"peak_mib": peak_mib()}))


def memory_rows(work: Path, models: list[Path], counts: list[int]) -> list[dict]:
    """Peak memory of the stand-in pipeline over each frame count, each in a fresh process."""
    copies = -(-max(counts) // 1100)
    video = looped(FLIES_VIDEO, work / "flies384_long.mp4", copies)
    rows, first = [], None
    for n_frames in counts:
        command = [sys.executable, __file__, "--memory-child", str(video), str(n_frames), str(work / f"memory_{n_frames}.slp"), *map(str, models)]
        seconds, _, output = run_measured(command)
        peak = json.loads(output.strip().splitlines()[-1])["peak_mib"]
        first = first or peak
        rows.append(row("peak memory, stand-in networks", f"{n_frames:,} frames of 384×384", round(peak), "MiB",
                        f"{peak / first:.2f}× the first; {n_frames / seconds:.0f} frames/s whole process"))
    return rows


def row(measure: str, variant: str, value: float, unit: str, note: str = "") -> dict:
    """A table row, printed as soon as it is measured."""
    print(f"{measure} | {variant} | {value} {unit} | {note}", flush=True)
    return {"measure": measure, "variant": variant, "value": value, "unit": unit, "note": note}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=15400, help="Length of the looped 1024×1024 video (default 15,400).")
    parser.add_argument("--steps", type=int, default=300, help="Training steps per model (default 300).")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps.")
    parser.add_argument("--precision", default="auto", help="Precision of the end-to-end run (default auto).")
    parser.add_argument("--models", type=Path, nargs=2, help="A trained centroid and centered-instance folder (skips training).")
    parser.add_argument("--memory-frames", type=int, nargs="+", default=[10000, 100000], help="Frame counts of the memory runs (0: none).")
    parser.add_argument("--prepare-only", action="store_true", help="Make the video and labels in --work, then stop (to carry them to a GPU machine).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of the decode and pipeline ceilings, taken in turn (default 3).")
    parser.add_argument("--ceilings-only", action="store_true", help="Start-up, forward, decode and pipeline ceilings only.")
    parser.add_argument("--quick", action="store_true", help="2,200 frames, 100 steps, memory runs of 2,000 and 20,000 frames.")
    parser.add_argument("--work", type=Path, help="Keep videos, models and outputs here (default: a temporary folder).")
    parser.add_argument("--memory-child", nargs="+", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.memory_child:
        video, n_frames, output, *models = args.memory_child
        memory_child(Path(video), [Path(m) for m in models], int(n_frames), Path(output))
        return
    if args.quick:
        args.frames, args.steps, args.memory_frames = 2200, 100, [2000, 20000]
    work = args.work or Path(tempfile.mkdtemp(prefix="posenn-long-"))
    work.mkdir(parents=True, exist_ok=True)
    console = Console()
    video, labels = work / "flies1024_long.mp4", work / "flies1024.slp"
    if not (video.is_file() and labels.is_file() and open_video(video).shape[0] >= args.frames):  # made earlier: kept
        short_video, labels = padded_sample(work)
        video = looped(short_video, video, -(-args.frames // 1100))
    if args.prepare_only:
        console.print(f"Wrote {video} and {labels}.")
        return
    n_frames = open_video(video).shape[0]
    models = list(args.models) if args.models else train_pair(labels, work, args.steps)
    options = track_options(args.device, args.precision)
    run = prepare(models, options)
    device, precision = run.device, run.precision
    console.print(f"{n_frames} frames of {SIZE}×{SIZE}; device {device}, precision {precision}")
    posenn = [sys.executable, "-m", "posenn.cli", "track", str(video), "-m", str(models[0]), "-m", str(models[1]),
              "--max-instances", str(ANIMALS), "--max-tracks", str(ANIMALS), "--batch-size", str(BATCH_SIZE),
              "--device", args.device, "--precision", args.precision, "--quiet"]

    rows = []
    starts: dict[str, list[float]] = {"first": [], "whole": []}
    for attempt in range(START_RUNS + 1):  # the first run warms the file cache and is not counted
        launched = time.time()
        whole_command, _, _ = run_measured([*posenn, "--frames", "0-0", "-o", str(work / "one_frame.slp")])
        if attempt:
            starts["first"].append(written_provenance(work / "one_frame.slp")["first_frame_time"] - launched)
            starts["whole"].append(whole_command)
    first_frame, whole_command = (statistics.median(values) for values in starts.values())
    spread = {name: f"median of {START_RUNS}, {min(values):.2f}–{max(values):.2f}" for name, values in starts.items()}
    rows.append(row("start-up", "command to first frame predicted", round(first_frame, 2), "s",
                    f"imports, device set-up, model loading, first batch; {spread['first']}"))
    rows.append(row("start-up", "whole command on 1 frame", round(whole_command, 2), "s", f"and tracking, writing, exit; {spread['whole']}"))
    with thread_budget(options.runtime):
        forward = forward_ceiling(run, video, min(n_frames, 1100))
    rows.append(row("forward ceiling", f"{precision}", round(forward, 1), "frames/s", "both networks, inputs in memory"))
    rates: dict[str, list[float]] = {"bare": [], "reader": [], "loop": [], "whole": []}
    for _ in range(args.rounds):  # in turn, so that the machine's drift touches all of them alike
        bare, reader = decode_rates(video, min(n_frames, 3000), run.pipeline.channels)
        whole, loop = timed_predict(stand_in_pipeline(run), video, work / "stand_in.slp")
        for name, value in zip(rates, (bare, reader, loop, whole)):
            rates[name].append(value)
    bare, reader, loop, whole = (statistics.median(values) for values in rates.values())
    spread = {name: f"median of {args.rounds}, {min(values):.0f}–{max(values):.0f}" for name, values in rates.items()}
    rows.append(row("decode ceiling", "OpenCV read loop", round(bare, 1), "frames/s", f"one decoder, in order; {spread['bare']}"))
    rows.append(row("decode ceiling", "posenn reader", round(reader, 1), "frames/s",
                    f"with conversion to {run.pipeline.channels} channel(s); {spread['reader']}"))
    rows.append(row("pipeline ceiling", "stand-in networks, predict loop", round(loop, 1), "frames/s",
                    f"{loop / reader:.0%} of the posenn reader, {loop / bare:.0%} of the bare read loop; {spread['loop']}"))
    rows.append(row("pipeline ceiling", "stand-in networks, whole path", round(whole, 1), "frames/s", f"with tracking and writing; {spread['whole']}"))
    ceiling = min(reader, forward)
    if args.ceilings_only:
        report(f"posenn track's ceilings on a {n_frames}-frame {SIZE}×{SIZE} video ({device})", rows, f"long_video_ceilings_{device.type}")
        return

    seconds, peak, _ = run_measured([*posenn, "-o", str(work / "end_to_end.slp")])
    loop_rate = n_frames / written_provenance(work / "end_to_end.slp")["elapsed_s"]
    rows.append(row("end to end", f"posenn track, {precision}, whole command", round(n_frames / seconds, 1), "frames/s",
                    f"{seconds:.1f} s with start-up, tracking and writing; peak memory {peak:.0f} MiB"))
    rows.append(row("end to end", f"posenn track, {precision}, predict loop", round(loop_rate, 1), "frames/s",
                    f"{loop_rate / ceiling:.0%} of the lower ceiling ({ceiling:.1f})"))

    compare = "32" if precision != "32" else ("bf16" if device.type != "cpu" or torch.backends.mkldnn.is_available() else None)
    for variant in dict.fromkeys([precision, compare]):
        if variant is None:
            continue
        output = work / f"accuracy_{variant}.slp"
        command = [*posenn, "-o", str(output)]
        command[command.index("--precision") + 1] = variant
        command[command.index(str(video))] = str(work / "flies1024.mp4")  # the labelled frames, as the labels name them
        run_measured(command)
        rows.append(row("accuracy", f"OKS mAP, precision {variant}", oks_map(labels, output), "", "1100 labelled frames"))
    if args.memory_frames != [0]:
        rows += memory_rows(work, models, args.memory_frames)
    report(f"posenn track on a {n_frames}-frame {SIZE}×{SIZE} video ({device})", rows, f"long_video_{device.type}")


if __name__ == "__main__":
    main()
