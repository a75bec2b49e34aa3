"""Backbones on the same wall-clock training budget, and what fine-tuning buys with few labels.

Table 1, per backbone and data set, each trained for `--minutes` on the 2-core CPU:
- flies (`centered_pair_predictions.slp`, centered-instance crops, 24 nodes): trained on frames
  0–799, scored on the block 900–1099 it never saw;
- mouse (the DeepLabCut openfield project, 116 human-labelled frames, 4 nodes, single instance):
  every 5th frame held out (24 frames), trained on the other 92.
Columns: held-out OKS mAP and median error (posenn's validation, `metrics.json`), training
steps/s, and inference frames/s of the network alone (batch 8, float32).

Table 2, the labels-versus-accuracy curve on the mouse: 10, 25, 50 and all 92 training frames,
from scratch versus `train.init_from` a fly model (by default `zoo:flies-topdown/centered_instance`:
another animal, another skeleton; its UNet is kept, its part maps are not) versus a pretrained
ImageNet encoder ("not available offline" when timm cannot find the weights; never faked). Each
point trains for `--curve-steps` steps, or `--minutes`; its checkpoint is chosen on its own
training frames, and `posenn track` scores it on the held-out frames, which choose nothing (in
table 1 the held-out frames are the validation set, so they also choose the best checkpoint).

    python benchmarks/backbones.py [--minutes 1.5] [--backbones unet resnet18 ...] [--work DIR]
    python benchmarks/backbones.py --curve-only --curve-steps 1500
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import sleap_io as sio
import torch
from common import report, seconds_per_call

from posenn.autoconfig import config_from_labels
from posenn.config import with_overrides
from posenn.errors import PosennError
from posenn.evaluation.pose import evaluate_labels
from posenn.inference.predictor import read_model_folder
from posenn.inference.run import TrackOptions, track
from posenn.io.labels import load_labels
from posenn.training.run import train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLIES = DATA / "centered_pair_predictions.slp"
MOUSE = DATA / "openfield_mouse" / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv"
BACKBONES = ["unet", "resnet18", "convnext_atto", "efficientnet_b0"]
CURVE = [10, 25, 50, None]


def subset(labels: sio.Labels, keep, path: Path) -> Path:
    """Save the labeled frames for which `keep(index, frame)` holds."""
    frames = [frame for i, frame in enumerate(labels.labeled_frames) if keep(i, frame)]
    sio.save_slp(sio.Labels(labeled_frames=frames, videos=labels.videos, skeletons=labels.skeletons), str(path))
    return path


def splits(work: Path) -> dict[str, tuple[Path, Path, str]]:
    """Train and held-out files, and the model type, of each data set."""
    flies = load_labels(FLIES)
    mouse = load_labels(MOUSE)
    return {
        "flies": (subset(flies, lambda i, f: f.frame_idx < 800, work / "flies_train.slp"),
                  subset(flies, lambda i, f: f.frame_idx >= 900, work / "flies_test.slp"), "centered_instance"),
        "mouse": (subset(mouse, lambda i, f: i % 5 != 0, work / "mouse_train.slp"),
                  subset(mouse, lambda i, f: i % 5 == 0, work / "mouse_test.slp"), "single_instance"),
    }


def run(train_file: Path, test_file: Path, model_type: str, backbone: str, run_dir: Path, limit: str, *extra: str) -> dict:
    """Train until `limit` (`train.max_minutes=M` or `train.max_steps=N`) and score on the held-out
    file; the row's figures."""
    instances = "predicted" if "flies" in train_file.name else "user"
    config = config_from_labels(train_file, model_type, instances, backbone)
    budget = [f"train.run_dir={run_dir}", f"data.val_labels={test_file}", "data.val_fraction=0", limit,
              "train.epochs=1000", "train.steps_per_epoch=25", "train.early_stopping_patience=null", "train.batch_size=4"]
    if model_type == "centered_instance":
        budget.append("augment.rotation=180")
    else:  # the mouse: whole 640×480 frames at half size, for steps enough in the budget
        budget.append("data.scale=0.5")
    train(with_overrides(config, budget + list(extra)), quiet=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with (run_dir / "training_log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps, seconds = int(rows[-1]["step"]), float(rows[-1]["elapsed_s"])
    config, network = read_model_folder(run_dir)
    side = config.model.crop_size or 256
    images = torch.rand(8, config.data.channels, side, side)
    with torch.inference_mode():
        per_batch = seconds_per_call(lambda: network(images), 2.0)
    return {
        "oks_map": round(metrics["oks_map"], 3),
        "dist_p50_px": round(metrics["dist_p50"], 2) if metrics["dist_p50"] is not None else "-",
        "steps": steps,
        "steps_per_s": round(steps / seconds, 2),
        "infer_frames_per_s": round(8 / per_batch, 1),
    }


def curve_point(train_file: Path, test_file: Path, backbone: str, run_dir: Path, limit: str, *extra: str) -> dict:
    """A mouse model trained until `limit`, its checkpoint chosen on its own training frames, then
    scored on the held-out frames by `posenn track` (the held-out frames choose nothing)."""
    config = config_from_labels(train_file, "single_instance", "user", backbone)
    budget = [f"train.run_dir={run_dir}", f"data.val_labels={train_file}", "data.val_fraction=0", limit, "data.scale=0.5",
              "train.epochs=1000", "train.steps_per_epoch=25", "train.early_stopping_patience=null", "train.batch_size=4"]
    train(with_overrides(config, budget + list(extra)), quiet=True)
    predictions = track(test_file, [run_dir], run_dir / "held_out.predictions.slp", TrackOptions(quiet=True))
    metrics = evaluate_labels(sio.load_slp(str(test_file)), predictions, gt_instances="all")
    return {"oks_map": round(metrics["oks_map"], 3), "dist_p50_px": round(metrics["dist_p50"], 2)}


def backbone_rows(work: Path, data: dict, backbones: list[str], minutes: float) -> list[dict]:
    rows = []
    for name, (train_file, test_file, model_type) in data.items():
        for backbone in backbones:
            figures = run(train_file, test_file, model_type, backbone, work / f"{name}_{backbone}", f"train.max_minutes={minutes}")
            rows.append({"data": name, "backbone": backbone, **figures})
            print(rows[-1], flush=True)
    return rows


def pretrained_available() -> bool:
    """Whether timm can load resnet18's ImageNet weights here (cache or internet)."""
    from posenn.models.encoders import TimmBackbone, load_pretrained

    try:
        load_pretrained(TimmBackbone("resnet18", 1, max_stride=16, output_stride=4), True)
    except PosennError:
        return False
    return True


def curve_rows(work: Path, data: dict, limit: str, fly_model: Path | str) -> list[dict]:
    train_file, test_file, _ = data["mouse"]
    labels = sio.load_slp(str(train_file))
    order = np.random.default_rng(0).permutation(len(labels.labeled_frames))
    pretrained = pretrained_available()
    rows = []
    for count in CURVE:
        n = count or len(order)
        chosen = set(order[:n].tolist())
        frames = subset(labels, lambda i, f: i in chosen, work / f"mouse_train_{n}.slp")
        row = {"training_frames": n}
        for start, extra in (("scratch", []), ("init_from_flies", [f"train.init_from={fly_model}"])):
            figures = curve_point(frames, test_file, "unet", work / f"curve_{n}_{start}", limit, *extra)
            row[f"{start}_oks_map"], row[f"{start}_dist_p50"] = figures["oks_map"], figures["dist_p50_px"]
        if pretrained:
            figures = curve_point(frames, test_file, "resnet18", work / f"curve_{n}_pretrained", limit, "model.backbone.pretrained=true")
            row["pretrained_resnet18_oks_map"] = figures["oks_map"]
        else:
            row["pretrained_resnet18_oks_map"] = "not available offline"
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="training budget of every row")
    parser.add_argument("--backbones", nargs="+", default=BACKBONES)
    parser.add_argument("--work", type=Path, default=None, help="keep the models here (default: a temporary folder)")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--curve-only", action="store_true")
    parser.add_argument("--curve-steps", type=int, default=None, help="train each curve point for this many steps (default: --minutes)")
    parser.add_argument("--curve-from", default="zoo:flies-topdown/centered_instance",
                        help="the fly model the curve fine-tunes from (default: the zoo's; 'unet': this run's flies row)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        data = splits(work)
        start = time.perf_counter()
        if not args.curve_only:
            rows = backbone_rows(work, data, args.backbones, args.minutes)
            report(f"Backbones, {args.minutes} min of training each, held-out frames", rows, "backbones")
        if not args.skip_curve:
            fly_model = work / "flies_unet" if args.curve_from == "unet" else args.curve_from
            if args.curve_from == "unet" and (args.curve_only or "unet" not in args.backbones):
                raise SystemExit("--curve-from unet fine-tunes from this run's flies unet row: include unet in --backbones")
            limit, budget = (f"train.max_steps={args.curve_steps}", f"{args.curve_steps} steps") if args.curve_steps else (
                f"train.max_minutes={args.minutes}", f"{args.minutes} min")
            report(f"Mouse: held-out OKS mAP against training frames, {budget} each, fine-tuned from {fly_model}",
                   curve_rows(work, data, limit, fly_model), "backbones_curve")
        print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
