"""A training run: labels → frame cache → Lightning fit → model folder.

The model folder holds `config.yaml` (the resolved config), `best.ckpt`, `last.ckpt`,
`training_log.csv`, `metrics.json` and the train/val split as `labels_train.slp` /
`labels_val.slp`.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import sleap_io as sio
import torch
from lightning.fabric.plugins.environments import LSFEnvironment, MPIEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.strategies import DDPStrategy
from rich.console import Console
from rich.progress import Progress

from posenn.config import Config, load_config, save_config
from posenn.data.cache import FrameCache, build_cache
from posenn.data.crops import instance_crops
from posenn.data.dataset import FrameDataset, make_loader
from posenn.errors import PosennError
from posenn.io.labels import LabeledSample, check_skeleton, labeled_samples, load_labels
from posenn.io.writers import save_labels
from posenn.models.encoders import TimmBackbone, load_pretrained
from posenn.models.model import anchor_index, crop_size
from posenn.models.unet import UNet
from posenn.training.calibrate import Decoding, ScoreThreshold, calibrate_bottomup
from posenn.training.callbacks import RandomState, TrainingLog
from posenn.training.faults import AtomicCheckpointIO, hold_run_folder, interrupted, out_of_memory
from posenn.training.init_from import initialize_from
from posenn.training.module import PoseModule
from posenn.training.validation import predict_validation, write_metrics

ACCELERATORS = {"auto": "auto", "cpu": "cpu", "cuda": "gpu", "mps": "mps"}


def split_samples(samples: list[LabeledSample], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Random train/val split of sample indices; at least one training sample is kept."""
    order = np.random.default_rng(seed).permutation(len(samples))
    n_val = min(len(samples) - 1, int(round(len(samples) * fraction)))
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def load_training_samples(config: Config) -> tuple[sio.Skeleton, list[LabeledSample], list[int], list[int]]:
    """The skeleton, the samples of the train (and val) labels, and the row indices of each split."""
    data = config.data
    if data.train_labels is None:
        raise PosennError("data.train_labels is not set: give the .slp file to train on.")
    labels = load_labels(data.train_labels)
    check_skeleton(labels, data.skeleton.nodes, data.train_labels)
    samples = labeled_samples(labels, data.instances, data.train_labels)
    if data.val_labels is None:
        train_rows, val_rows = split_samples(samples, data.val_fraction, config.train.seed)
        return labels.skeleton, samples, train_rows, val_rows
    val_labels = load_labels(data.val_labels)
    check_skeleton(val_labels, data.skeleton.nodes, data.val_labels)
    val_samples = labeled_samples(val_labels, data.instances, data.val_labels)
    n_train = len(samples)
    return labels.skeleton, samples + val_samples, list(range(n_train)), list(range(n_train, n_train + len(val_samples)))


def save_split(samples: list[LabeledSample], rows: list[int], skeleton: sio.Skeleton, path: Path) -> None:
    """Record a split as a `.slp` of user instances with their tracks (video paths made absolute)."""
    tracks: dict[str, sio.Track] = {}
    frames = []
    for row in rows:
        sample = samples[row]
        names = sample.tracks or [None] * len(sample.points)
        instances = [
            sio.Instance.from_numpy(points, skeleton=skeleton, track=tracks.setdefault(name, sio.Track(name)) if name else None)
            for points, name in zip(sample.points, names)
        ]
        frames.append(sio.LabeledFrame(video=sample.video, frame_idx=sample.frame_idx, instances=instances))
    videos = list({id(s.video): s.video for s in samples}.values())
    labels = sio.Labels(labeled_frames=frames, videos=videos, skeletons=[skeleton], tracks=list(tracks.values()))
    save_labels(labels, path)


def cache_frames(samples: list[LabeledSample], config: Config, run_dir: Path, console: Console) -> FrameCache:
    """Decode all labeled frames once, with a progress bar."""
    cache_dir = None
    if config.data.cache == "disk":
        cache_dir = config.data.cache_dir or run_dir / "cache"
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Caching frames", total=len(samples))
        return build_cache(
            samples, config.data.channels, config.data.scale, cache_dir, on_frame=lambda: progress.advance(task),
            class_names=config.model.classes or None,
        )


def training_device(config: Config) -> str:
    """The device kind Lightning will train on: `train.device`, with "auto" resolved."""
    if config.train.device != "auto":
        return config.train.device
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def devices_per_node(config: Config) -> int:
    """Processes per machine: `train.devices`, with "auto" resolved (every GPU, or one device)."""
    devices = config.train.devices
    if devices != "auto":
        return devices
    return max(1, torch.cuda.device_count()) if training_device(config) == "cuda" else 1


def world_size(config: Config) -> int:
    """Training processes in all: devices per machine × machines."""
    return devices_per_node(config) * config.train.num_nodes


def launched_externally() -> bool:
    """Whether a cluster launcher started this process as one of several (torchrun, SLURM's srun,
    LSF's jsrun, MPI): Lightning then reads the ranks from the environment and starts nothing."""
    environments = (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)
    return any(environment.detect() for environment in environments)


def launch_rank() -> int:
    """This process's global rank as given by the launcher that started it, 0 otherwise.

    Known before Lightning sets up the process group: torchrun sets RANK, srun SLURM_PROCID, and
    Lightning's own script launcher LOCAL_RANK (it launches on one machine only).
    """
    for name in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "LOCAL_RANK"):
        if name in os.environ:
            return int(os.environ[name])
    return 0


def started_by_posenn_command() -> bool:
    """Whether this process runs the `posenn` command, which Lightning can start again as is."""
    return Path(sys.argv[0]).stem == "posenn"


def ddp_strategy(config: Config) -> DDPStrategy | str:
    """The Lightning strategy for `train.devices` × `train.num_nodes` processes.

    - One process: "auto" (no DDP).
    - Processes started by torchrun, SLURM (srun), LSF or MPI: DDP that starts nothing.
    - GPUs, from the `posenn` command: DDP with Lightning's script launcher, which runs the same
      command once more per extra device (Lightning's recommended launcher).
    - Otherwise (the CPU, or `train()` called from Python: pytest, notebooks, `python -c`, where
      re-running the command line would not run `train()` again): DDP with spawned processes.

    The CPU uses the gloo backend, GPUs NCCL (Lightning's default for them).

    Raises:
        PosennError: for several devices on MPS, or several machines without a cluster launcher.
    """
    processes = world_size(config)
    if processes == 1:
        return "auto"
    device = training_device(config)
    if device == "mps":
        raise PosennError("train.devices > 1 is not possible on MPS (one GPU per Mac): set train.devices=1.")
    backend = "gloo" if device == "cpu" else None
    if launched_externally():
        check_slurm_tasks(processes)
        return DDPStrategy(process_group_backend=backend, start_method="popen")
    if config.train.num_nodes > 1:
        raise PosennError(
            f"train.num_nodes={config.train.num_nodes} needs every process started by a cluster launcher, one per "
            "device on each machine: SLURM (srun) or torchrun. See 'Training on several GPUs or machines' in the README."
        )
    if device != "cpu" and started_by_posenn_command():
        return DDPStrategy(process_group_backend=backend, start_method="popen")
    check_main_guard()
    return DDPStrategy(process_group_backend=backend, start_method="spawn")


def check_slurm_tasks(processes: int) -> None:
    """Under SLURM (and not torchrun), the job's tasks must be the training processes: with
    fewer, the processes that do start wait for the others forever.

    Raises:
        PosennError: when SLURM runs another number of tasks than `processes`.
    """
    if TorchElasticEnvironment.detect() or not SLURMEnvironment.detect():
        return
    tasks = int(os.environ.get("SLURM_NTASKS", "1"))
    if tasks != processes:
        raise PosennError(
            f"SLURM runs {tasks} task(s) but train.devices × train.num_nodes = {processes} processes: ask for "
            "--ntasks-per-node=train.devices and --nodes=train.num_nodes, and start posenn with srun."
        )


def check_main_guard() -> None:
    """Refuse to spawn processes from a script without an `if __name__ == "__main__":` block.

    Each spawned process imports the main script again: without the guard it would start a
    training of its own, and the launch hangs instead of failing.

    Raises:
        PosennError: naming the script.
    """
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if path is None:  # python -c, an interactive session or a notebook: nothing is imported again
        return
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            return
    raise PosennError(
        f"{path}: training with several processes (train.devices > 1) imports this script again in each of them; "
        "put the code that calls train() under `if __name__ == \"__main__\":`."
    )


def make_trainer(config: Config, run_dir: Path, has_val: bool, quiet: bool) -> L.Trainer:
    """A Lightning Trainer with checkpoints, early stopping, the CSV log and progress."""
    monitor = "val_loss" if has_val else "train_loss_epoch"
    callbacks: list[L.Callback] = [
        ModelCheckpoint(dirpath=run_dir, filename="best", monitor=monitor, mode="min", save_last=True, enable_version_counter=False),
        TrainingLog(run_dir / "training_log.csv"),
        RandomState(),
    ]
    if config.train.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode="min", patience=config.train.early_stopping_patience))
    if not quiet:
        callbacks.append(RichProgressBar())
    callbacks.append(QuietLightning())
    return L.Trainer(
        accelerator=ACCELERATORS[config.train.device],
        devices=config.train.devices,
        num_nodes=config.train.num_nodes,
        strategy=ddp_strategy(config),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=True,  # each process gets its share of the training and validation sets
        precision=config.train.precision,
        max_epochs=config.train.epochs,
        max_steps=config.train.max_steps or -1,
        max_time={"minutes": config.train.max_minutes} if config.train.max_minutes else None,
        callbacks=callbacks,
        logger=False,
        default_root_dir=run_dir,
        enable_progress_bar=not quiet,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        limit_val_batches=1.0 if has_val else 0,
    )


def describe_model(module: PoseModule, console: Console) -> None:
    """Print the parameter count, strides and receptive field when training starts."""
    n_params = sum(p.numel() for p in module.parameters())
    backbone = module.model.backbone
    field = backbone.receptive_field()
    name = "UNet" if isinstance(backbone, UNet) else f"{backbone.name} encoder (timm) + decoder"
    console.print(
        f"Model: {name}, {n_params / 1e6:.2f} M parameters, "
        + (f"receptive field {field} px (input scale {module.config.data.scale}), " if field else "")
        + f"max stride {backbone.max_stride}, output stride {backbone.output_stride}."
    )


def initial_weights(module: PoseModule, config: Config, console: Console) -> None:
    """Start from `train.init_from` or from the encoder's pretrained weights, as configured."""
    if config.train.init_from is not None:
        console.print(initialize_from(module.model, config, config.train.init_from).summary())
        return
    pretrained = config.model.backbone.pretrained
    if pretrained is not False and isinstance(module.model.backbone, TimmBackbone):
        loaded = load_pretrained(module.model.backbone, pretrained)
        source = "timm's ImageNet weights" if pretrained is True else str(pretrained)
        console.print(f"Encoder: {len(loaded)} tensors from {source}.")


def train(config: Config, resume: bool = False, quiet: bool = False) -> Path:
    """Train a model as configured; return the model folder.

    With several processes (DDP, see `ddp_strategy`), only rank 0 writes the model folder and
    `metrics.json`; the other processes return once training ends.

    Args:
        config: the validated config.
        resume: continue from `last.ckpt` in `train.run_dir` (optimizer and schedule included).
        quiet: no progress output.
    """
    rank = launch_rank()
    console = Console(quiet=quiet or rank != 0)
    run_dir = Path(config.train.run_dir)
    last = run_dir / "last.ckpt"
    if resume and not last.is_file():
        raise PosennError(f"Cannot resume: {last} does not exist.")
    if not resume and last.exists():
        raise PosennError(f"{run_dir} already holds a trained model; choose another train.run_dir or use --resume.")
    L.seed_everything(config.train.seed, verbose=False)
    _quiet_lightning()

    with hold_run_folder(run_dir) if rank == 0 else contextlib.nullcontext():
        return _train_in_folder(config, run_dir, rank, resume, quiet, console)


def _train_in_folder(config: Config, run_dir: Path, rank: int, resume: bool, quiet: bool, console: Console) -> Path:
    """The body of `train`, run while this process holds the run folder."""
    skeleton, samples, train_rows, val_rows = load_training_samples(config)
    trainer = make_trainer(config, run_dir, has_val=bool(val_rows), quiet=quiet)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        save_split(samples, train_rows, skeleton, run_dir / "labels_train.slp")
        save_split(samples, val_rows, skeleton, run_dir / "labels_val.slp")
    processes = f" in {trainer.world_size} processes (DDP)" if trainer.world_size > 1 else ""
    console.print(f"Training on {len(train_rows)} frames, validating on {len(val_rows)}{processes}.")

    cache = cache_frames(samples, config, run_dir, console)
    if config.model.type in ("centered_instance", "multiclass_topdown"):
        cache, frame_rows = instance_crops(cache, anchor_index(config), crop_size(config))
        train_rows = np.flatnonzero(np.isin(frame_rows, train_rows)).tolist()
        val_rows = np.flatnonzero(np.isin(frame_rows, val_rows)).tolist()
        console.print(f"Cropped {len(train_rows)} training and {len(val_rows)} validation animals.")
    train_set = FrameDataset(cache, np.array(train_rows))
    steps = config.train.steps_per_epoch
    train_loader = make_loader(
        train_set, config.train.batch_size, shuffle=True, num_workers=config.train.num_workers,
        seed=config.train.seed, num_samples=steps * config.train.batch_size if steps else None,
        processes=trainer.world_size,
    )
    val_loader = None
    if val_rows:
        val_set = FrameDataset(cache, np.array(val_rows), indexed=True)
        val_loader = make_loader(val_set, config.train.batch_size, shuffle=False, processes=trainer.world_size)

    module = PoseModule(config.model_dump(mode="json"))
    describe_model(module, console)
    if not resume:
        initial_weights(module, config, console)
    fit(trainer, module, train_loader, val_loader, resume, config)

    if val_rows and trainer.is_global_zero:
        best = PoseModule.load_from_checkpoint(run_dir / "best.ckpt", map_location="cpu")
        if config.train.calibrate_instance_score:
            decoding, threshold, frames = calibrate_bottomup(best, val_loader)
        else:
            decoding, threshold, frames = None, None, predict_validation(best, val_loader)
        calibration = use_calibration(decoding, threshold, config, console) if threshold else None
        write_metrics(best, frames, run_dir / "metrics.json", calibration)
    return run_dir


def use_calibration(decoding: Decoding, threshold: ScoreThreshold, config: Config, console: Console) -> dict:
    """Write a bottom-up model's calibrated peak threshold, limb peak weight and instance-score
    threshold to its folder's config; return the figures for `metrics.json`."""
    inference = config.inference
    before = {"peak_threshold_before": inference.peak_threshold, "limb_peak_weight_before": inference.limb_peak_weight,
              "min_instance_score_from_labels": inference.min_instance_score}
    inference.peak_threshold, inference.limb_peak_weight = decoding.peak_threshold, decoding.limb_peak_weight
    inference.min_instance_score = threshold.min_instance_score
    save_config(config, Path(config.train.run_dir) / "config.yaml")
    console.print(
        f"Peak threshold {before['peak_threshold_before']} → {decoding.peak_threshold}, limb peak weight "
        f"{before['limb_peak_weight_before']} → {decoding.limb_peak_weight}: validation OKS mAP "
        f"{decoding.oks_map_before:.3f} → {decoding.oks_map:.3f}. Minimum instance score "
        f"{before['min_instance_score_from_labels']} → {threshold.min_instance_score}: the right number of instances in "
        f"{threshold.count_accuracy_before:.0%} → {threshold.count_accuracy:.0%} of {threshold.frames} validation frames."
    )
    return before | decoding._asdict() | threshold._asdict()


def fit(trainer: L.Trainer, module: PoseModule, train_loader, val_loader, resume: bool, config: Config) -> None:
    """`trainer.fit`, with memory running out and Ctrl-C turned into messages that say what to do.

    Raises:
        PosennError: when the device runs out of memory (suggesting a batch size).
        KeyboardInterrupt: on Ctrl-C, after printing what the run left and how to resume it.
    """
    run_dir = Path(config.train.run_dir)
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(run_dir / "last.ckpt") if resume else None)
    except torch.OutOfMemoryError as exc:
        raise out_of_memory(exc, config.train.batch_size, training_device(config)) from None
    except SystemExit:
        if not trainer.interrupted:
            raise
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores further Ctrl-C
        Console(stderr=True).print(interrupted(run_dir), highlight=False, soft_wrap=True)
        raise KeyboardInterrupt from None


def resume_config(run_dir: Path, overrides: list[str]) -> Config:
    """The config of an interrupted run, with optional overrides (e.g. more epochs)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise PosennError(f"Cannot resume: {path} does not exist (is {run_dir} a posenn model folder?).")
    config = load_config(path, overrides)
    config.train.run_dir = Path(run_dir)
    return config


class QuietLightning(L.Callback):
    """Applies `_quiet_lightning` in every training process (spawned ones start afresh)."""

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        _quiet_lightning()


def _quiet_lightning() -> None:
    """Hide Lightning's start-up chatter that says nothing to a user."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    torch.set_float32_matmul_precision("high")
