"""posenn against sleap-nn: the same top-down pair trained, run and scored the same way.

One split of the two-fly sample (the last `--held-out` frames held out, as one block, so no
held-out frame has a training neighbour) is written as train.slp / val.slp. Each framework
trains a centroid and a centered-instance model with matched settings (taken from
`posenn config`: UNet filters and rate, max stride, output stride, sigma, input scale, crop
size, anchor; plus batch size, epochs × steps per epoch, learning rate, augmentation) through its
own command line, then predicts and tracks the last `--frames` frames of the video, which hold the
held-out block. posenn's evaluation scores both on the held-out frames.

posenn predicts in `--precision` (bf16 by default: bfloat16 autocast, where the CPU has bfloat16
instructions; sleap-nn 0.3.5 has no such option and runs float32). posenn runs four ways: the
matched pair trained in float32, in PyTorch and in ONNX Runtime; a fast pair whose centroid
model sees the frames at half the matched scale (the centroid model is most of the pair's work;
the centered-instance model, which places the parts, is the matched one); and the matched pair
trained in bfloat16 mixed precision (`train.precision=bf16-mixed`).

Every command runs as a child process, timed, with its peak resident memory read from the
kernel (wait4). sleap-nn runs from its own virtualenv, made by `--install` with the torch
already on this machine. Results go to benchmarks/results/sleapnn_comparison.json.

    python benchmarks/sleapnn_comparison.py --install             # once: sleap-nn into --venv
    python benchmarks/sleapnn_comparison.py --steps 1000 --frames 1100
    python benchmarks/sleapnn_comparison.py --steps 500 --frames 1100 --size 1024 --skip-bf16-training  # the sample in a 1024×1024 frame
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import sleap_io as sio
import yaml
from common import RESULTS_DIR, report, training_loop
from long_video import padded_sample

import posenn
from posenn.autoconfig import config_from_labels
from posenn.config import Config, save_config, with_overrides
from posenn.evaluation.pose import evaluate_labels
from posenn.io.labels import load_labels
from posenn.training.module import PoseModule

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLIES_LABELS = DATA / "centered_pair_predictions.slp"
FLIES_VIDEO = DATA / "centered_pair_low_quality.mp4"
DEFAULT_VENV = Path.home() / ".cache" / "posenn-bench" / "sleap-nn-venv"
MODEL_TYPES = ("centroid", "centered_instance")
STEPS_PER_EPOCH = 50
BATCH_SIZE = 4
INFERENCE_BATCH = 8
PEAK_THRESHOLD = 0.2
ANIMALS = 2
# posenn settings that sleap-nn has no key for; they keep posenn's defaults.
NO_SLEAP_NN_EQUIVALENT = [
    "model.backbone.batch_norm (posenn: batch norm after every conv; sleap-nn's UNet has none)",
    "train.peak_weight (posenn weights the loss near peaks; sleap-nn: plain MSE)",
    "augment.brightness (posenn adds ±b; sleap-nn multiplies by 1±b)",
    "inference.duplicate_oks (posenn drops duplicates by OKS; sleap-nn predict does not by default)",
]
NOTES = [
    "train steps/s: steps over each framework's training loop (posenn: trainer set-up to last epoch, from "
    "training_log.csv; sleap-nn: its 'Starting/Finished training loop' log lines), validation included; posenn "
    "validates a float32 run in bfloat16 on CPUs with native bfloat16 (train.val_precision: auto)",
    "train command wall: the whole command; sleap-nn's also predicts and scores its train and val splits "
    "after training, which it always does when it saves checkpoints",
    "inference: the whole command (start-up, model loading, prediction, tracking, saving)",
    "posenn fast: the matched centered-instance model with a centroid model trained at half the matched input "
    "scale; its training columns are the fast centroid's and the matched centered model's",
]


@dataclass
class Run:
    """One timed child process."""

    seconds: float
    peak_rss_mb: float


@dataclass
class Training:
    """One model's training: the whole command, and the training loop within it."""

    command: Run
    loop_seconds: float


def run_measured(command: list[str], log: Path, cwd: Path) -> Run:
    """Run `command`, output to `log`; its wall time and peak RSS (the child's and its waited
    descendants'). Exits with the log's tail when it fails."""
    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise SystemExit(f"Command failed ({' '.join(command)}), log {log}:\n{tail}")
    return Run(seconds, usage.ru_maxrss / 1024)


def public_version(package: str) -> str:
    """The installed version of `package` without a local tag (2.14.1+cu130 → 2.14.1)."""
    return importlib.metadata.version(package).split("+")[0]


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the venv's pip, output captured."""
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], capture_output=True, text=True)


def latest_sleap_nn() -> str:
    """The newest sleap-nn on the package index (`pip index versions`)."""
    found = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "sleap-nn"], capture_output=True, text=True)
    match = re.search(r"sleap-nn \(([^)]+)\)", found.stdout)
    if not match:
        raise SystemExit(f"Cannot find sleap-nn on the package index:\n{found.stdout}{found.stderr}")
    return match.group(1)


def torch_requirements(version: str, folder: Path) -> list[str]:
    """sleap-nn's own requirements on torch and torchvision, from its wheel's metadata."""
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), f"sleap-nn=={version}"],
                          capture_output=True, text=True)
    wheels = list(folder.glob("sleap_nn-*.whl"))
    if done.returncode or not wheels:
        raise SystemExit(f"Cannot download sleap-nn {version}:\n{done.stderr}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        metadata = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
        lines = wheel.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines
            if re.match(r"Requires-Dist: torch(vision)?\b", line) and "extra ==" not in line]


def install_sleap_nn(venv: Path) -> None:
    """Make `venv` with this machine's torch and torchvision pinned, then sleap-nn into it."""
    version = latest_sleap_nn()
    with tempfile.TemporaryDirectory() as folder:
        requirements = torch_requirements(version, Path(folder))
    pins = [f"torch=={public_version('torch')}"]
    if importlib.util.find_spec("torchvision") is not None:  # else pip picks the torchvision made for that torch
        pins.append(f"torchvision=={public_version('torchvision')}")
    print(f"sleap-nn {version} requires {requirements or 'no torch'}; installing it with {pins} into {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = venv / "torch-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    for packages in (["torch", "torchvision"], [f"sleap-nn=={version}"]):
        done = pip(venv, "install", "-c", str(constraints), *packages)
        if done.returncode:
            raise SystemExit(
                f"pip install {' '.join(packages)} with {pins} failed: sleap-nn {version} (torch requirements "
                f"{requirements}) cannot use this machine's torch without another download.\n{done.stderr[-3000:]}"
            )
    print(f"Installed sleap-nn {version} in {venv}")


def sleap_nn_version(venv: Path) -> str:
    """sleap-nn's version in `venv`; exits with instructions when it is not installed."""
    python = venv / "bin" / "python"
    if python.exists():
        done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('sleap-nn'))"],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    raise SystemExit(f"sleap-nn is not installed in {venv}: run this script once with --install (reaches PyPI).")


def write_split(work: Path, held_out: int, labels_path: Path, video_path: Path) -> tuple[Path, Path, list[int]]:
    """train.slp and val.slp of the flies (predictions stored as user instances, the last
    `held_out` frames held out) and the held-out frame indices."""
    labels = load_labels(labels_path)
    video = sio.load_video(str(video_path.resolve()))
    frames = sorted((lf for lf in labels if lf.instances), key=lambda lf: lf.frame_idx)
    converted = [
        sio.LabeledFrame(video=video, frame_idx=lf.frame_idx,
                         instances=[sio.Instance.from_numpy(i.numpy(), skeleton=labels.skeleton) for i in lf.instances])
        for lf in frames
    ]
    paths = (work / "train.slp", work / "val.slp")
    for path, part in zip(paths, (converted[:-held_out], converted[-held_out:])):
        sio.Labels(labeled_frames=part, videos=[video], skeletons=[labels.skeleton]).save(str(path))
    return paths[0], paths[1], [lf.frame_idx for lf in converted[-held_out:]]


def posenn_config(model_type: str, train: Path, val: Path, run_dir: Path, epochs: int, learning_rate: float) -> Config:
    """posenn's starting config for the flies with the shared budget."""
    return with_overrides(config_from_labels(train, model_type, "user"), [
        f"data.val_labels={val}", f"train.run_dir={run_dir}", f"train.epochs={epochs}",
        f"train.steps_per_epoch={STEPS_PER_EPOCH}", f"train.batch_size={BATCH_SIZE}",
        f"train.learning_rate={learning_rate}", "train.early_stopping_patience=null", "train.device=cpu",
    ])


def sleap_nn_config(base: dict, config: Config, train: Path, val: Path, run_dir: Path) -> dict:
    """sleap-nn's generated config with posenn's settings written into the matching keys."""
    data, model, augment = base["data_config"], config.model, config.augment
    data.update(train_labels_path=[str(train)], val_labels_path=[str(val)], user_instances_only=True,
                data_pipeline_fw="torch_dataset_cache_img_memory", use_augmentations_train=True)
    data["preprocessing"].update(scale=config.data.scale, max_height=None, max_width=None, crop_size=model.crop_size)
    data["augmentation_config"] = {
        "geometric": {
            "rotation_min": -augment.rotation, "rotation_max": augment.rotation, "rotation_p": 1.0,
            "scale_min": augment.scale[0], "scale_max": augment.scale[1], "scale_p": 1.0,
            "translate_width": augment.translate, "translate_height": augment.translate, "translate_p": 1.0,
            "flip_p": 0.5 if augment.flip == "horizontal" else 0.0,
        },
        "intensity": {
            "brightness_min": 1 - augment.brightness, "brightness_max": 1 + augment.brightness, "brightness_p": 1.0,
            "contrast_min": 1 - augment.contrast, "contrast_max": 1 + augment.contrast, "contrast_p": 1.0,
            "gaussian_noise_mean": 0.0, "gaussian_noise_std": augment.noise, "gaussian_noise_p": 1.0,
        },
    }
    backbone = model.backbone
    base["model_config"]["backbone_config"]["unet"].update(
        in_channels=config.data.channels, filters=backbone.filters, filters_rate=backbone.filters_rate,
        max_stride=backbone.max_stride, output_stride=model.output_stride, convs_per_block=backbone.convs_per_block,
        up_interpolate=backbone.upsampling == "bilinear", middle_block=True, stem_stride=None,
    )
    base["model_config"]["head_configs"][model.type]["confmaps"].update(
        anchor_part=model.anchor_part, sigma=model.sigma, output_stride=model.output_stride
    )
    trainer, budget = base["trainer_config"], config.train
    trainer["train_data_loader"]["batch_size"] = budget.batch_size
    trainer["val_data_loader"]["batch_size"] = budget.batch_size
    trainer["optimizer"]["lr"] = budget.learning_rate
    trainer["early_stopping"]["stop_training_on_plateau"] = False
    trainer.update(
        max_epochs=budget.epochs, train_steps_per_epoch=budget.steps_per_epoch, min_train_steps_per_epoch=budget.steps_per_epoch,
        trainer_accelerator="cpu", trainer_devices=1, enable_progress_bar=False, visualize_preds_during_training=False,
        use_wandb=False, save_ckpt=True, ckpt_dir=str(run_dir.parent), run_name=run_dir.name, seed=budget.seed,
    )
    return base


def sleap_nn_loop_seconds(log: Path) -> float:
    """Seconds between sleap-nn's "Starting training loop" and "Finished training loop" lines."""
    stamps = {}
    for line in log.read_text().splitlines():
        for event in ("Starting training loop", "Finished training loop"):
            if event in line:
                stamps[event] = datetime.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    return (stamps["Finished training loop"] - stamps["Starting training loop"]).total_seconds()


def train_posenn(configs: dict[str, Config], work: Path) -> list[Training]:
    """`posenn train` for each config (keys name the config and log files)."""
    runs = []
    for name, config in configs.items():
        path = work / f"posenn_{name}.yaml"
        save_config(config, path)
        command = run_measured([str(Path(sys.executable).parent / "posenn"), "train", str(path), "-q"],
                               work / f"posenn_train_{name}.log", work)
        runs.append(Training(command, training_loop(config.train.run_dir)[1]))
    return runs


def train_sleap_nn(venv: Path, configs: dict[str, Config], train: Path, val: Path, work: Path) -> tuple[list[Training], list[Path]]:
    """`sleap-nn config --auto` for a base, then `sleap-nn train` with the matched settings."""
    sleap_nn = str(venv / "bin" / "sleap-nn")
    run_measured([sleap_nn, "config", str(train), "--auto", "--pipeline", "topdown", "-o", str(work / "sleapnn.yaml")],
                 work / "sleapnn_config.log", work)
    runs, model_dirs = [], []
    for model_type, config in configs.items():
        base = yaml.safe_load((work / f"sleapnn_{model_type}.yaml").read_text())
        model_dir = work / "sleapnn_models" / model_type
        path = work / f"sleapnn_{model_type}_matched.yaml"
        path.write_text(yaml.safe_dump(sleap_nn_config(base, config, train, val, model_dir), sort_keys=False))
        log = work / f"sleapnn_train_{model_type}.log"
        runs.append(Training(run_measured([sleap_nn, "train", "--config", str(path)], log, work), sleap_nn_loop_seconds(log)))
        model_dirs.append(model_dir)
    return runs, model_dirs


def predict_commands(venv: Path, posenn_pairs: dict[str, list[Path]], sleap_nn_dirs: list[Path], frames: str,
                     precision: str, work: Path, video: Path) -> dict[str, list[str]]:
    """The prediction-and-tracking commands, same frames, batch, threshold and animal count:
    posenn with PyTorch (matched and fast pairs, in `precision`), posenn with ONNX Runtime,
    sleap-nn. Each writes NAME.slp in `work`."""
    posenn_cli = str(Path(sys.executable).parent / "posenn")

    def posenn_command(name: str, pair: str, runtime: str) -> list[str]:
        return [posenn_cli, "track", str(video), *sum((["-m", str(d)] for d in posenn_pairs[pair]), []),
                "-o", str(work / f"{name}.slp"), "--frames", frames, "--batch-size", str(INFERENCE_BATCH),
                "--peak-threshold", str(PEAK_THRESHOLD), "--max-instances", str(ANIMALS), "--device", "cpu",
                "--tracker", "oks", "--runtime", runtime, "--precision", precision if runtime == "torch" else "32", "-q"]

    return {
        "posenn": posenn_command("posenn", "matched", "torch"),
        "posenn-onnx": posenn_command("posenn-onnx", "matched", "onnx"),
        "posenn-fast": posenn_command("posenn-fast", "fast", "torch"),
        **({"posenn-bf16": posenn_command("posenn-bf16", "bf16", "torch")} if "bf16" in posenn_pairs else {}),
        "sleap-nn": [str(venv / "bin" / "sleap-nn"), "predict", "-i", str(video),
                     *sum((["-m", str(d)] for d in sleap_nn_dirs), []), "-o", str(work / "sleap-nn.slp"),
                     "--frames", frames, "-b", str(INFERENCE_BATCH), "--peak_threshold", str(PEAK_THRESHOLD),
                     "-n", str(ANIMALS), "-d", "cpu", "--tracking"],
    }


def score(val: Path, predictions: Path) -> dict:
    """posenn's pose evaluation of `predictions` on the held-out frames."""
    return evaluate_labels(load_labels(val), load_labels(predictions), gt_instances="user")


def result_row(framework: str, version: str, training: list[Training], steps: int, inference: Run, n_frames: int, metrics: dict) -> dict:
    """One framework's figures."""
    return {
        "framework": f"{framework} {version}",
        "centroid_train_steps_per_s": round(steps / training[0].loop_seconds, 2),
        "centered_train_steps_per_s": round(steps / training[1].loop_seconds, 2),
        "train_command_wall_s": round(sum(run.command.seconds for run in training), 1),
        "train_peak_rss_mb": round(max(run.command.peak_rss_mb for run in training)),
        "inference_frames_per_s": round(n_frames / inference.seconds, 1),
        "inference_wall_s": round(inference.seconds, 1),
        "inference_peak_rss_mb": round(inference.peak_rss_mb),
        "oks_map": round(metrics["oks_map"], 3),
        "median_error_px": round(metrics["dist_p50"], 2),
        "flies_found": f"{metrics['n_matched'] / metrics['n_gt_instances']:.0%}",
    }


def ratio_row(ours: dict, theirs: dict) -> dict:
    """posenn / sleap-nn for every numeric column."""
    ratios = {"framework": f"{ours['framework']} / sleap-nn"}
    for key, value in list(ours.items())[1:]:
        other = theirs[key]
        numeric = isinstance(value, (int, float)) and isinstance(other, (int, float)) and other
        ratios[key] = round(value / other, 2) if numeric else ""
    return ratios


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="Install sleap-nn into --venv first (reaches PyPI).")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"sleap-nn's virtualenv (default {DEFAULT_VENV}).")
    parser.add_argument("--steps", type=int, default=300, help="Training steps per model, a multiple of 50 (default 300).")
    parser.add_argument("--frames", type=int, default=550, help="Predict the last N frames of the video (default 550).")
    parser.add_argument("--held-out", type=int, default=110, help="Hold out the last N labeled frames (default 110).")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Both frameworks' learning rate (default 1e-3).")
    parser.add_argument("--precision", choices=("32", "bf16"), default="bf16",
                        help="posenn's PyTorch inference precision (default bf16).")
    parser.add_argument("--size", type=int, choices=(384, 1024), default=384,
                        help="384: the sample as it is; 1024: centred in a 1024×1024 frame (as long_video.py), where decoding weighs more.")
    parser.add_argument("--skip-bf16-training", action="store_true",
                        help="Leave out the pair trained in bf16-mixed (its two trainings are the longest at 1024).")
    parser.add_argument("--work", type=Path, help="Keep splits, configs, models, logs here (default: a temporary folder).")
    return parser.parse_args()


def compare(args: argparse.Namespace, work: Path) -> None:
    """Split, train both, predict both, score both, report."""
    version = sleap_nn_version(args.venv)
    if args.frames < args.held_out:
        raise SystemExit(f"--frames ({args.frames}) must cover the --held-out block ({args.held_out} frames).")
    video, labels = (FLIES_VIDEO, FLIES_LABELS) if args.size == 384 else padded_sample(work)
    train, val, held_out = write_split(work, args.held_out, labels, video)
    n_video = sio.load_video(str(video)).shape[0]
    frames = f"{n_video - args.frames}-{n_video - 1}"
    epochs = max(1, args.steps // STEPS_PER_EPOCH)
    steps = epochs * STEPS_PER_EPOCH
    configs = {t: posenn_config(t, train, val, work / "posenn_models" / t, epochs, args.learning_rate) for t in MODEL_TYPES}
    bf16_configs = {} if args.skip_bf16_training else {
        f"{t}_bf16": with_overrides(c, ["train.precision=bf16-mixed", f"train.run_dir={c.train.run_dir}_bf16"]) for t, c in configs.items()}
    fast_centroid = with_overrides(configs["centroid"], [
        f"data.scale={round(configs['centroid'].data.scale / 2, 3)}", f"train.run_dir={work / 'posenn_models' / 'centroid_fast'}"])

    posenn_training = train_posenn(configs, work)
    bf16_training = train_posenn(bf16_configs, work)
    fast_training = train_posenn({"centroid_fast": fast_centroid}, work) + posenn_training[1:]
    sleap_nn_training, sleap_nn_dirs = train_sleap_nn(args.venv, configs, train, val, work)
    matched_dirs = [config.train.run_dir for config in configs.values()]
    pairs = {"matched": matched_dirs, "fast": [fast_centroid.train.run_dir, matched_dirs[1]]}
    if bf16_configs:
        pairs["bf16"] = [config.train.run_dir for config in bf16_configs.values()]
    commands = predict_commands(args.venv, pairs, sleap_nn_dirs, frames, args.precision, work, video)
    inference = {name: run_measured(command, work / f"{name}_predict.log", work) for name, command in commands.items()}

    def row(label: str, name: str, training: list[Training]) -> dict:
        release = version if name == "sleap-nn" else posenn.__version__
        return result_row(label, release, training, steps, inference[name], args.frames, score(val, work / f"{name}.slp"))

    rows = [row(f"posenn --precision {args.precision}", "posenn", posenn_training),
            row("posenn --runtime onnx", "posenn-onnx", posenn_training),
            row(f"posenn fast --precision {args.precision}", "posenn-fast", fast_training)]
    if bf16_configs:
        rows.append(row(f"posenn trained bf16-mixed, --precision {args.precision}", "posenn-bf16", bf16_training))
    theirs = row("sleap-nn", "sleap-nn", sleap_nn_training)
    name = "sleapnn_comparison" if args.size == 384 else f"sleapnn_comparison_{args.size}"
    report(f"posenn vs sleap-nn, top-down flies at {args.size}×{args.size}: {steps} steps per model, {args.frames} frames predicted, "
           f"{len(held_out)} held-out frames scored",
           [*rows, theirs, *(ratio_row(ours, theirs) for ours in rows)], name)
    posenn_only = {"posenn_inference_precision": args.precision,
                   "fast_centroid_scale": fast_centroid.data.scale}
    add_settings(RESULTS_DIR / f"{name}.json", configs, steps, frames, held_out, commands, work, posenn_only)


def parameter_counts(configs: dict[str, Config], work: Path) -> dict[str, dict[str, int]]:
    """Parameters of each model in each framework: a check that the architectures match."""
    counts = {}
    for model_type, config in configs.items():
        posenn_model = PoseModule(config.model_dump(mode="json")).model
        logged = re.search(r"Total model parameters: ([\d,]+)", (work / f"sleapnn_train_{model_type}.log").read_text())
        counts[model_type] = {"posenn": sum(p.numel() for p in posenn_model.parameters()),
                              "sleap-nn": int(logged.group(1).replace(",", "")) if logged else None}
    return counts


def add_settings(path: Path, configs: dict[str, Config], steps: int, frames: str, held_out: list[int], commands: dict,
                 work: Path, posenn_only: dict) -> None:
    """Record in the results file what was matched, what could not be, the commands, and
    `posenn_only` settings (precisions, the fast centroid's scale)."""
    payload = json.loads(path.read_text())
    payload["settings"] = {
        **posenn_only,
        "steps_per_model": steps,
        "predicted_frames": frames,
        "held_out_frames": f"{held_out[0]}-{held_out[-1]}",
        "matched": {t: {"scale": c.data.scale, "filters": c.model.backbone.filters, "filters_rate": c.model.backbone.filters_rate,
                        "max_stride": c.model.backbone.max_stride, "output_stride": c.model.output_stride,
                        "sigma": c.model.sigma, "crop_size": c.model.crop_size, "anchor": c.model.anchor_part,
                        "batch_size": c.train.batch_size, "learning_rate": c.train.learning_rate}
                    for t, c in configs.items()},
        "parameters": parameter_counts(configs, work),
        "no_sleap_nn_equivalent": NO_SLEAP_NN_EQUIVALENT,
        "notes": NOTES,
        "predict_commands": {name: " ".join(Path(part).name if i == 0 else part for i, part in enumerate(command))
                             for name, command in commands.items()},
    }
    path.write_text(json.dumps(payload, indent=2))


def main() -> None:
    args = parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"sample data not found at {DATA}")
    if args.install:
        install_sleap_nn(args.venv)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        compare(args, args.work.resolve())
        return
    with tempfile.TemporaryDirectory() as work:
        compare(args, Path(work))


if __name__ == "__main__":
    main()
