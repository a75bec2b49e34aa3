"""The `posenn` command line.

Errors in the user's input (`PosennError`) print one message and exit with code 2;
`posenn --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from posenn.errors import PosennError

app = typer.Typer(help="posenn: pose estimation and tracking for SLEAP labels.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
stderr = Console(stderr=True)
state = {"debug": False}


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False) -> None:
    state["debug"] = debug


def run(action: Callable[[], object]) -> None:
    """Run a command body; user errors become one red line and exit code 2."""
    try:
        action()
    except PosennError as exc:
        if state["debug"]:
            raise
        stderr.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True, emoji=False)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        stderr.print("Interrupted.")
        raise typer.Exit(code=130) from None


@app.command("config")
def config_command(
    labels: Annotated[Path, typer.Argument(help="SLEAP labels (.slp) to derive the config from.")],
    model_type: Annotated[str, typer.Option("--type", help="Model type: single_instance, centroid, centered_instance, bottomup, multiclass_bottomup or multiclass_topdown.")] = "single_instance",
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the YAML config.")] = Path("config.yaml"),
    instances: Annotated[str, typer.Option(help="Which instances are labels: user, predicted or all.")] = "all",
    backbone: Annotated[str, typer.Option(help="unet, or a timm encoder (resnet18, convnext_atto, efficientnet_b0, hrnet_w18_small, ...).")] = "unet",
) -> None:
    """Write a starting config from the labels (skeleton, scale, sigma, max stride)."""

    def action() -> None:
        from posenn.autoconfig import config_from_labels
        from posenn.config import save_config, validate_config

        validate_config({"model": {"type": model_type}, "data": {"instances": instances}}, source="posenn config")
        config = config_from_labels(labels, model_type, instances, backbone)
        save_config(config, output)
        Console().print(
            f"Wrote {output}: {len(config.data.skeleton.nodes)} nodes, scale {config.data.scale}, "
            f"sigma {config.model.sigma}, max stride {config.model.backbone.max_stride}"
            + (f", crop {config.model.crop_size} px" if config.model.crop_size else "")
            + (f", fields at stride {config.model.paf_stride}" if config.model.paf_stride else "")
            + (f", identities {', '.join(config.model.classes)}" if config.model.classes else "")
            + (f", anchor {config.model.anchor_part}." if config.model.anchor_part else ".")
        )

    run(action)


@app.command("train")
def train_command(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. train.epochs=3.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue an interrupted run folder.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train a model from a config (or resume a run)."""

    def action() -> None:
        from posenn.config import load_config
        from posenn.training.run import resume_config, train

        if resume is not None:
            extra = ([str(config)] if config is not None else []) + list(overrides or [])
            run_dir = train(resume_config(resume, extra), resume=True, quiet=quiet)
        elif config is None:
            raise PosennError("Give a config file (posenn train CONFIG.yaml) or --resume RUN_DIR.")
        else:
            run_dir = train(load_config(config, overrides or []), quiet=quiet)
        Console(quiet=quiet).print(f"Model folder: {run_dir}")

    run(action)


@app.command("track")
def track_command(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUTS...", help="Videos or .slp files (their labeled frames), folders of videos, glob patterns, or .txt files listing inputs.")],
    model: Annotated[Optional[list[Path]], typer.Option("-m", "--model", help="Trained model folder (twice for top-down: centroid, centered instance), or zoo:NAME (posenn zoo list).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output .slp for one input, or a folder for several (default: INPUT.predictions.slp beside each).")] = None,
    frames: Annotated[Optional[str], typer.Option(help="Frame ranges, e.g. 0-99,200-300.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Frames per batch.")] = None,
    peak_threshold: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Minimum confidence of a part.")] = None,
    max_instances: Annotated[Optional[int], typer.Option(min=1, help="At most this many animals per frame (top-down, bottom-up).")] = None,
    duplicate_oks: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Drop an instance whose OKS with a better one exceeds this (top-down, bottom-up).")] = None,
    min_line_score: Annotated[Optional[float], typer.Option(min=-1.0, max=1.0, help="Bottom-up: weakest limb connection kept.")] = None,
    min_points: Annotated[Optional[int], typer.Option(min=1, help="Bottom-up: instances with fewer parts are dropped.")] = None,
    min_instance_score: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Bottom-up: instances scoring less (limb scores over the skeleton's edges) are dropped.")] = None,
    max_hop_length: Annotated[Optional[float], typer.Option(min=0.0, help="Bottom-up: a fragment joins a nearby instance lacking its parts within this many pixels per skeleton edge; 0 for no joining.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda (or cuda:N) or mps.")] = "auto",
    devices: Annotated[Optional[str], typer.Option(help="Spread the inputs over these devices, one process each: cuda:0,cuda:1 or all.")] = None,
    runtime: Annotated[str, typer.Option(help="torch, or onnx (ONNX Runtime on the CPU, often faster there).")] = "torch",
    precision: Annotated[str, typer.Option(help="auto (16 on CUDA GPUs, else 32); 32; bf16 (CPUs with bfloat16 support, GPUs) or 16 (GPUs).")] = "auto",
    decoders: Annotated[Optional[int], typer.Option(min=1, help="Video decoder threads (default: 2 on the CPU, up to 4 beside a GPU).")] = None,
    chunk_frames: Annotated[int, typer.Option(min=1, help="Predictions are saved every this many frames; a rerun continues from the last saved chunk.")] = 1024,
    shard: Annotated[Optional[str], typer.Option(help="K/N: predict only every N-th input from the K-th (K from 0), e.g. $SLURM_ARRAY_TASK_ID/4.")] = None,
    tracker: Annotated[str, typer.Option(help="Link instances across frames by oks, iou or centroid similarity; none to skip.")] = "oks",
    max_tracks: Annotated[Optional[int], typer.Option(min=1, help="Known number of animals: never more tracks.")] = None,
    track_window: Annotated[int, typer.Option(min=1, help="Frames a lost track stays a candidate.")] = 5,
    matching: Annotated[str, typer.Option(help="hungarian or greedy assignment.")] = "hungarian",
    motion: Annotated[str, typer.Option(help="none or constant_velocity prediction of each track.")] = "none",
    min_track_length: Annotated[int, typer.Option(min=1, help="Shorter tracklets are untracked.")] = 3,
    pool_identities: Annotated[bool, typer.Option("--pool-identities/--no-pool-identities", help="Identity models with a tracker: name each tracklet by its frames' class probabilities together (--no-pool-identities: each frame by its own).")] = True,
    tracking_only: Annotated[bool, typer.Option("--tracking-only", help="Re-track the predictions of a .slp; no model.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Predict poses on videos (and link them into tracks); write a SLEAP predictions file for each.

    An interrupted run continues where it stopped when the same command is run again; outputs
    that are already complete are skipped.
    """

    def action() -> None:
        from posenn.inference.inputs import expand_inputs
        from posenn.inference.inputs import shard as take_shard
        from posenn.tracking.options import TrackerOptions

        if device not in ("auto", "cpu", "cuda", "mps") and not device.startswith("cuda:"):
            raise PosennError(f"--device '{device}': expected auto, cpu, cuda, cuda:N or mps.")
        if runtime not in ("torch", "onnx"):
            raise PosennError(f"--runtime '{runtime}': expected torch or onnx.")
        tracker_options = None
        if tracker != "none":
            tracker_options = TrackerOptions(
                similarity=tracker, matching=matching, window=track_window, max_tracks=max_tracks,
                motion=motion, min_track_length=min_track_length,
            )
        paths = take_shard(expand_inputs(inputs), shard)
        if tracking_only:
            from posenn.inference.run import retrack

            if tracker_options is None:
                raise PosennError("--tracking-only needs a tracker (--tracker oks, iou or centroid).")
            if len(paths) != 1:
                raise PosennError(f"--tracking-only takes one .slp, got {len(paths)} inputs.")
            retrack(paths[0], output or paths[0].with_name(paths[0].name + ".tracked.slp"), tracker_options, quiet)
            return
        if not model:
            raise PosennError("Give a model folder with -m (or --tracking-only to re-track a .slp).")
        if not paths:
            Console(quiet=quiet).print(f"Shard {shard}: no inputs to predict.")
            return
        from posenn.inference.run import TrackOptions, track_inputs

        device_list = None
        if devices is not None:
            import torch

            from posenn.inference.devices import parse_devices

            device_list = parse_devices(devices, torch.cuda.device_count())

        options = TrackOptions(
            batch_size=batch_size, peak_threshold=peak_threshold, max_instances=max_instances, duplicate_oks=duplicate_oks,
            min_line_score=min_line_score, min_points=min_points, min_instance_score=min_instance_score,
            max_hop_length=max_hop_length, device=device, runtime=runtime, precision=precision, frames=frames,
            quiet=quiet, tracker=tracker_options, decoders=decoders, chunk_frames=chunk_frames, pool_identities=pool_identities,
        )
        track_inputs(paths, model, output, options, device_list)

    run(action)


@app.command("stream")
def stream_command(
    source: Annotated[str, typer.Argument(help="Camera index (0) or device (/dev/video0), an OpenCV capture string, a video file (played at its frame rate as if live), or a folder or glob of images.")],
    model: Annotated[list[Path], typer.Option("-m", "--model", help="Trained model folder (twice for top-down: centroid, centered instance), or zoo:NAME (posenn zoo list).")],
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Write the JSON lines to this file instead of standard output.")] = None,
    udp: Annotated[Optional[str], typer.Option(help="Also send each result as a UDP datagram to HOST:PORT.")] = None,
    zmq: Annotated[Optional[str], typer.Option(help="Also publish each result on ZeroMQ (needs pyzmq), e.g. tcp://*:5555.")] = None,
    show: Annotated[bool, typer.Option("--show", help="Show a live window with the skeletons (q stops).")] = False,
    record: Annotated[Optional[Path], typer.Option(help="Record the frames with their skeletons to this .mp4.")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Frame rate of image sources (default 30), or a video's rate instead of its own.")] = None,
    speed: Annotated[float, typer.Option(help="Play a video file this many times faster than its frame rate.")] = 1.0,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many results.")] = None,
    duration: Annotated[Optional[float], typer.Option(help="Stop after this many seconds.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda (or cuda:N) or mps.")] = "auto",
    runtime: Annotated[str, typer.Option(help="torch, or onnx (ONNX Runtime on the CPU, often faster there).")] = "torch",
    precision: Annotated[str, typer.Option(help="auto (16 on CUDA GPUs, else 32); 32; bf16 or 16.")] = "auto",
    max_instances: Annotated[Optional[int], typer.Option(min=1, help="At most this many animals per frame; also the tracker's number of tracks.")] = None,
    tracker: Annotated[str, typer.Option(help="Online tracker similarity: oks, iou or centroid; none to skip.")] = "oks",
    report_json: Annotated[Optional[Path], typer.Option("--report", help="Also write the latency report as JSON.")] = None,
) -> None:
    """Poses and identities live, frame by frame; newest frame first (frames that arrive while
    the model is busy are dropped and counted). Prints a latency report at the end or on Ctrl-C."""

    def action() -> None:
        import json

        from posenn.inference.realtime import Predictor
        from posenn.inference.stream import StreamOptions, stream
        from posenn.io.atomic import write_text_atomic
        from posenn.tracking.options import TrackerOptions

        options = TrackerOptions(similarity=tracker, max_tracks=max_instances) if tracker != "none" else None
        predictor = Predictor(model, device=device, runtime=runtime, precision=precision, tracker=options,
                              tracking=options is not None, max_instances=max_instances)
        report = stream(source, predictor, StreamOptions(jsonl=jsonl, stdout=jsonl is None, udp=udp, zmq=zmq, record=record,
                                                         show=show, fps=fps, speed=speed, max_frames=max_frames, duration=duration))
        stderr.print(report.text(), highlight=False)
        if report_json is not None:
            write_text_atomic(report_json, json.dumps(report.summary(), indent=2))

    run(action)


def parse_node_sigmas(default: float, per_node: list[str], node_names: list[str]) -> dict[str, float]:
    """`--sigma 0.05 --node-sigma head=0.02` → node → sigma for every node."""
    sigmas = dict.fromkeys(node_names, default)
    for text in per_node:
        name, _, value = text.partition("=")
        try:
            sigmas[name] = float(value)
        except ValueError:
            raise PosennError(f"--node-sigma '{text}': expected NODE=VALUE, e.g. head=0.05.") from None
    return sigmas


@app.command("export")
def export_command(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL_DIR", help="Trained model folder, or zoo:NAME[/PART].")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output .onnx (default: MODEL_DIR/model.onnx; NAME-PART.onnx here for a zoo model).")] = None,
    height: Annotated[Optional[int], typer.Option(min=1, help="Input height in pixels at the model's scale (default: the crop size).")] = None,
    width: Annotated[Optional[int], typer.Option(min=1, help="Input width (default: the height).")] = None,
) -> None:
    """Export a trained model to ONNX (input `images`: (batch, channels, height, width) floats in [0, 1])."""

    def action() -> None:
        import torch

        from posenn.inference.onnx import export_model, output_names
        from posenn.inference.predictor import load_model, pose_model
        from posenn.zoo.refs import is_zoo_ref

        model = load_model(model_dir, torch.device("cpu"))
        size = height or model.config.model.crop_size
        if size is None:
            raise PosennError(
                f"{model_dir}: a {model.config.model.type} model sees whole frames; give --height and --width "
                "(the frame size times data.scale, multiples of the max stride)."
            )
        target = output or Path(model_dir) / "model.onnx"
        if output is None and is_zoo_ref(model_dir):
            target = Path(f"{model.path.parent.name}-{model.path.name}.onnx")
        network = pose_model(model.model)
        difference = export_model(network, model.config.data.channels, size, width or size, target)
        Console().print(
            f"Wrote {target}: input images (batch, {model.config.data.channels}, {size}, {width or size}), "
            f"outputs {', '.join(output_names(network))}; largest difference from PyTorch {difference:.1e}."
        )

    run(action)


zoo_app = typer.Typer(help="Pretrained models by name: list them, read their cards, download them.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("list")
def zoo_list_command() -> None:
    """The zoo's models: animal and setup, skeleton, type, input, held-out accuracy, size, data licence."""

    def action() -> None:
        from posenn.zoo.cards import zoo_table
        from posenn.zoo.registry import zoo_models

        Console(width=200).print(zoo_table([model for model, _ in zoo_models().values()]))

    run(action)


@zoo_app.command("info")
def zoo_info_command(name: Annotated[str, typer.Argument(help="A zoo model's name (or zoo:NAME).")]) -> None:
    """A zoo model's card: data, split, training command, held-out figures, files."""

    def action() -> None:
        from rich.markdown import Markdown

        from posenn.zoo.cards import model_card
        from posenn.zoo.refs import PREFIX
        from posenn.zoo.registry import find_model

        model, location = find_model(name.removeprefix(PREFIX))
        Console().print(Markdown(model_card(model, location)))

    run(action)


@zoo_app.command("fetch")
def zoo_fetch_command(
    names: Annotated[list[str], typer.Argument(help="Zoo model names (or zoo:NAME).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Download zoo models into the cache (POSENN_ZOO_DIR or ~/.cache/posenn/zoo), checking every file's sha256."""

    def action() -> None:
        from posenn.zoo.fetch import fetch
        from posenn.zoo.refs import PREFIX

        for name in (name.removeprefix(PREFIX) for name in names):
            Console(quiet=quiet).print(f"{PREFIX}{name}: {fetch(name, quiet)}")

    run(action)


@app.command("import")
def import_command(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL_DIR", help="A sleap-nn or SLEAP 1.x model folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The posenn model folder to write (new or empty).")],
) -> None:
    """Write a posenn model folder from a sleap-nn or SLEAP 1.x one (same network and weights)."""

    def action() -> None:
        from posenn.interop.folders import import_model

        record = import_model(model_dir, output)
        Console().print(f"Wrote {output}: the {record['engine']} model from {record['source']}.")

    run(action)


@app.command("eval")
def eval_command(
    ground_truth: Annotated[Path, typer.Argument(help="Labels with the true poses (.slp).")],
    predictions: Annotated[Path, typer.Argument(help="Predictions to score (.slp).")],
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write every figure to this JSON file.")] = None,
    gt_instances: Annotated[str, typer.Option(help="Which ground-truth instances count: user, predicted or all.")] = "user",
    sigma: Annotated[float, typer.Option(min=1e-6, help="OKS sigma of every node.")] = 0.025,
    node_sigma: Annotated[Optional[list[str]], typer.Option(help="Per-node OKS sigma, NODE=VALUE (repeatable).")] = None,
) -> None:
    """Score predictions against ground truth: OKS mAP/mAR, PCK, pixel errors per node."""

    def action() -> None:
        from posenn.evaluation.pose import evaluate_labels
        from posenn.evaluation.report import print_pose_report, print_tracking_report, write_json
        from posenn.evaluation.tracking import evaluate_tracking, has_tracks
        from posenn.io.labels import load_labels

        if gt_instances not in ("user", "predicted", "all"):
            raise PosennError(f"--gt-instances '{gt_instances}': expected user, predicted or all.")
        truth = load_labels(ground_truth)
        sigmas = parse_node_sigmas(sigma, node_sigma or [], list(truth.skeleton.node_names))
        prediction_labels = load_labels(predictions)
        metrics = evaluate_labels(
            truth, prediction_labels, sigmas,
            gt_instances=gt_instances, gt_path=str(ground_truth), pred_path=str(predictions),
        )
        print_pose_report(metrics)
        if has_tracks(truth):
            metrics["tracking"] = evaluate_tracking(
                truth, prediction_labels, sigmas, gt_instances=gt_instances, gt_path=str(ground_truth), pred_path=str(predictions)
            )
            print_tracking_report(metrics["tracking"])
        if json_path is not None:
            write_json(metrics, json_path)

    run(action)


@app.command("synth")
def synth_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder for synth.mp4 and synth.slp.")],
    animals: Annotated[int, typer.Option(min=1, help="Number of animals.")] = 2,
    frames: Annotated[int, typer.Option(min=1, help="Number of frames.")] = 300,
    size: Annotated[int, typer.Option(min=64, help="Frame width and height in pixels (even).")] = 256,
    seed: Annotated[int, typer.Option(help="Random seed of motion, background and noise.")] = 0,
    identity: Annotated[bool, typer.Option("--identity", help="Give each animal its own, learnable look.")] = False,
    fps: Annotated[float, typer.Option(min=0.1, help="Frame rate; fewer frames per second means larger moves between frames.")] = 30.0,
    subtle: Annotated[bool, typer.Option("--subtle", help="Identities that differ only in size (within 14%); implies --identity.")] = False,
    contact_time: Annotated[float, typer.Option(min=0.0, help="Seconds animals stay together, touching and overlapping, once they meet.")] = 0.0,
) -> None:
    """Write a synthetic labeled video of walking animals with exact ground truth."""

    def action() -> None:
        from posenn.synth import generate

        path = generate(out_dir, animals=animals, frames=frames, size=size, seed=seed, identity=identity or subtle, fps=fps,
                        subtle=subtle, contact_time=contact_time)
        Console().print(f"Wrote {path} and its video: {frames} frames, {animals} animals, {size}×{size} px, {fps:g} frames/s.")

    run(action)


@app.command("render")
def render_command(
    labels: Annotated[Path, typer.Argument(help="Predictions or labels (.slp) to draw.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .mp4 (video) or .png (strip of frames).")],
    frames: Annotated[Optional[str], typer.Option(help="Frame ranges, e.g. 0-99.")] = None,
    scale: Annotated[float, typer.Option(min=0.05, max=8.0, help="Resize factor of the output.")] = 1.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Draw skeletons over the video frames."""

    def action() -> None:
        from posenn.render import render

        path = render(labels, output, frames=frames, scale=scale, quiet=quiet)
        Console(quiet=quiet).print(f"Wrote {path}")

    run(action)


@app.command("analyze")
def analyze_command(
    predictions: Annotated[Path, typer.Argument(help="Tracked predictions (.slp, or SLEAP analysis .h5), one track per animal.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the tables, summary.json and figures.")],
    px_per_mm: Annotated[Optional[float], typer.Option(help="Pixels per millimetre: lengths in mm instead of pixels.")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Frame rate: time in seconds (overrides the video's rate).")] = None,
    seconds: Annotated[bool, typer.Option("--seconds", help="Time in seconds at the video's frame rate.")] = False,
    min_score: Annotated[float, typer.Option(help="Points with a lower confidence become gaps.")] = 0.1,
    max_gap: Annotated[int, typer.Option(min=0, help="Fill gaps up to this many frames by linear interpolation.")] = 5,
    smooth: Annotated[int, typer.Option(min=0, help="Savitzky-Golay window in frames (odd), 0 for none.")] = 5,
    min_presence: Annotated[float, typer.Option(help="Leave out tracks present in less than this fraction of frames.")] = 0.05,
    centroid: Annotated[Optional[str], typer.Option(help="Node that is each animal's centre (default: mean of its nodes).")] = None,
    axis: Annotated[Optional[str], typer.Option(help="TAIL:HEAD nodes of the body axis (default: found by name).")] = None,
    body_length: Annotated[Optional[float], typer.Option(help="Body length in the length unit (default: median tail-to-head distance).")] = None,
    still_speed: Annotated[float, typer.Option(min=0.0, help="Still below this speed, body lengths per second.")] = 0.2,
    pair: Annotated[Optional[list[str]], typer.Option("--pair", help="Also measure NODE_A:NODE_B distances between animals (repeatable).")] = None,
    contact: Annotated[float, typer.Option(help="Contact when centroids are closer than this many body lengths.")] = 1.0,
    approach: Annotated[float, typer.Option(help="An approach closes at least this many body lengths.")] = 1.0,
    min_bout_frames: Annotated[int, typer.Option(min=1, help="Shortest contact bout, frames.")] = 3,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write the PNG figures.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Kinematics, distances, contact and approach bouts, tables and figures (with movement)."""

    def action() -> None:
        from posenn.analysis import AnalysisOptions, analyze
        from posenn.analysis.poses import Cleaning

        if axis is not None and len(axis.split(":")) != 2:
            raise PosennError(f"--axis: expected TAIL:HEAD node names, got '{axis}'.")
        options = AnalysisOptions(
            cleaning=Cleaning(min_score=min_score, max_gap=max_gap, smooth=smooth, min_presence=min_presence),
            px_per_mm=px_per_mm, fps=fps, seconds=seconds, centroid=centroid,
            axis=tuple(axis.split(":")) if axis else None, body_length=body_length, still_speed=still_speed,
            pairs=list(pair or []), contact=contact, approach=approach, min_bout_frames=min_bout_frames, figures=figures,
        )
        result = analyze(predictions, output, options, quiet=quiet)
        Console(quiet=quiet).print(
            f"Wrote {len(result.files)} files to {result.out_dir}: {result.animals} animals, {result.frames} frames, "
            f"{result.bouts['contact']} contact and {result.bouts['approach']} approach bouts."
        )

    run(action)


@app.command("convert")
def convert_command(
    source: Annotated[Path, typer.Argument(help="Predictions (.slp, SLEAP analysis .h5) or labels (DeepLabCut CSV or project, COCO .json, Lightning Pose CSV).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output: .nwb, .h5 (SLEAP analysis), .csv (DeepLabCut-style), .slp or .pkg.slp (images embedded).")],
    from_format: Annotated[str, typer.Option("--from", help="Input format: auto, slp, analysis, dlc, coco or lp (Lightning Pose).")] = "auto",
    timestamps: Annotated[Optional[Path], typer.Option(help="NWB: CSV with the time in seconds of every video frame (e.g. on a neural recording's clock).")] = None,
    fps: Annotated[Optional[float], typer.Option(min=0.001, help="NWB: frame rate, when the video's is not recorded.")] = None,
) -> None:
    """Convert poses between formats (through sleap-io)."""

    def action() -> None:
        from posenn.io.convert import convert

        path, what = convert(source, output, from_format=from_format, timestamps=timestamps, fps=fps)
        Console().print(f"Wrote {path}: {what}.")

    run(action)


if __name__ == "__main__":
    sys.exit(app())
