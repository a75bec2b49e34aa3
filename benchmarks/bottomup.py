"""Bottom-up models with their defaults: clean output, accuracy, and grouping cost as animals grow.

Cases (`--cases`, comma-separated):

- `flies`: a bottom-up model trained on the two-fly sample (`centered_pair_predictions.slp`,
  predicted instances as labels) for `--steps`, or loaded with `--flies-model`;
- `crowd`: one trained on an 8-animal synthetic video (600 frames or `--crowd-train-frames`,
  256×256 px, seed 1), or `--crowd-model`, tested on another (200 frames, seed 2);
- `topdown`: the top-down pair (centroid + centered instance) on the same data, trained for the
  same wall-clock seconds as the bottom-up model of the case (`train.max_minutes`, split 3:8);
- `changes`: the fly model trained and scored with each change of the recipe in `CHANGES` (the
  loss weight of the fields, how limbs are assigned), one row per change, on the same held-out
  frames, steps and seed;
- `ceiling`: grouping alone, on part maps and fields drawn from the held-out crowd video's
  labeled parts (hidden parts left out) instead of a network's outputs, with the grouping
  settings `posenn config` chooses for the crowd, at part-map strides 2 and 4: what the grouping
  can reach with perfect maps; with a crowd model (trained here or `--crowd-model`), the
  model's part maps with drawn fields, drawn maps with its fields, and its own outputs, each
  grouped with its settings: which of its outputs hold the figures back;
- `peaks`: where the crowd model's part-map peaks lie on the held-out frames (on a visible part
  of their own type, on it where hidden, on its symmetric partner, on another part, elsewhere on
  an animal, on the background), how many visible parts have a peak of their type within 1, 2
  and 4 px, and which parts' peaks lie most often on which other parts (`bottomup_peaks.py`);
- `scaling`: the crowd model's time per frame on synthetic videos of 2, 4, 8 and 16 animals,
  split into the network's forward pass, peaks and limb scores on the device, and the
  assignment and grouping on the CPU.

Held-out figures use each model's own inference settings (those `posenn config` chose from the
labels, with the instance-score threshold `posenn train` measured on the validation frames, no
`--max-instances`): instance-count accuracy is the share of held-out frames whose
number of instances equals the number of animals (labeled instances with at least half their
parts); fragments are instances beyond that
number, missing the shortfall. The `grouping` column tells the grouping settings: `defaults` as
`posenn config` measured them, `plain` without instance-score filter, fragment joining or
measured minimum of parts (min_points 2).

Tables go to results/bottomup_flies.json, bottomup_crowd.json, bottomup_changes.json,
bottomup_ceiling.json, bottomup_peaks.json (with bottomup_peak_recall.json and
bottomup_peak_confusions.json) and bottomup_scaling.json.

    python benchmarks/bottomup.py [--cases flies,crowd,topdown,changes,ceiling,peaks,scaling] [--steps 800]
        [--flies-model DIR] [--flies-rotation 180] [--crowd-model DIR] [--crowd-train-frames 600] [--frames 64]
        [--set train.learning_rate=0.002 ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sleap_io as sio
import torch
import yaml

from bottomup_peaks import held_out_outputs, peak_rows
from common import report, train_model, training_loop
from posenn.autoconfig import config_from_labels
from posenn.config import with_overrides
from posenn.evaluation.pose import evaluate_arrays, evaluate_labels
from posenn.inference.frames import to_device_batch
from posenn.inference.predictor import load_model
from posenn.inference.run import TrackOptions, track
from posenn.io.video import decode_batches, open_video
from posenn.heads.bottomup import BottomUpHead
from posenn.models.model import bottomup_head
from posenn.synth import generate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLIES = DATA / "centered_pair_predictions.slp"
# The flies train with posenn config's choices (full resolution, training windows of 160 px around
# a fly, rotations up to 15°). Their labels are an older model's predictions, which sit about
# (+2.0, -1.5) px off the flies in the image's axes: rotations of up to 180° keep a network from
# learning that shift, and cost both model types about 0.15 OKS mAP (0.336 and 0.332 against 0.476
# and 0.568, 800 steps; `--flies-rotation 180` measures it again). The crowd's top-down pair keeps the
# rotations of up to 180° it was measured with.
ANY_ROTATION = ["augment.rotation=180"]
CROWD_ANIMALS, CROWD_SIZE = 8, 256
SCALING_ANIMALS = (2, 4, 8, 16)
CEILING_STRIDES = (2, 4)
# The top-down pair's budget is split as in benchmarks/sample_data_accuracy.py (300 + 800 steps).
CENTROID_SHARE = 3 / 11
# Top-down training stops on its time budget well before this many steps.
MAX_STEPS = 100_000
PLAIN_GROUPING = {"min_points": 2, "min_instance_score": 0.0, "max_hop_length": None}
# Changes of the bottom-up recipe, each measured on the flies: (change, training settings,
# inference settings); empty settings are the defaults.
CHANGES = [
    ("before: fields weighted 1, limbs by line score", ["train.paf_weight=1.0"], {"limb_peak_weight": 0.0}),
    ("limbs by line score + peak values", ["train.paf_weight=1.0"], {}),
    ("fields weighted 0.1", ["train.paf_weight=0.1"], {}),
    ("fields weighted as posenn config chooses", [], {}),
]


def with_inference(folder: Path, work: Path, settings: dict) -> Path:
    """A copy of a model folder (weights linked) whose config's inference section has `settings`."""
    copy = work / f"{folder.name}_{len(list(work.glob(folder.name + '_*')))}"
    copy.mkdir(parents=True)
    for path in folder.iterdir():
        if path.suffix == ".ckpt":
            (copy / path.name).symlink_to(path.resolve())
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["inference"] |= settings
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    return copy


def visible_animals(frame: sio.LabeledFrame) -> int:
    """Labeled instances with at least half their parts labeled: animals, not stray points of
    the older model's predictions (the fly sample has a few 2-part ones) or the last parts of an
    animal leaving the frame."""
    return sum(int(np.sum(~np.isnan(instance.numpy()[:, 0])) * 2 >= len(instance.numpy())) for instance in frame.instances)


def held_out(folders: list[Path], truth_path: Path, work: Path, name: str) -> dict:
    """Instance counts and OKS figures of `posenn track` with the models' own settings."""
    predictions = track(truth_path, folders, work / f"{name}.slp", TrackOptions(quiet=True))
    truth = sio.load_slp(str(truth_path))
    counts = {lf.frame_idx: len(lf.instances) for lf in predictions}
    wanted = np.array([visible_animals(lf) for lf in truth])
    found = np.array([counts.get(lf.frame_idx, 0) for lf in truth])
    metrics = evaluate_labels(truth, predictions, gt_instances="all")
    return {"held_out_frames": len(truth)} | count_row(found, wanted) | {
        "oks_map": round(metrics["oks_map"], 3),
        "oks_ap50": round(metrics["oks_ap50"], 3),
        "offset_px": f"{metrics['offset_x_p50']:+.1f}, {metrics['offset_y_p50']:+.1f}",
    }


def count_row(found: np.ndarray, wanted: np.ndarray) -> dict:
    """Instance-count accuracy, fragments and missing instances per frame."""
    return {
        "instance_count_accuracy": f"{np.mean(found == wanted):.1%}",
        "fragments_per_frame": round(float(np.mean(np.maximum(found - wanted, 0))), 3),
        "missing_per_frame": round(float(np.mean(np.maximum(wanted - found, 0))), 3),
    }


def grouped_row(head: BottomUpHead, peak_threshold: float, points: list[np.ndarray], wanted: np.ndarray,
                outputs: Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Counts and OKS figures of `head`'s grouping of `outputs(first frame, points)`, 8 frames at
    a time, against `points`: per frame, `(instances, nodes, 2)` labeled parts."""
    found, predicted, scores = [], [], []
    for start in range(0, len(points), 8):
        batch = torch.from_numpy(np.stack(points[start:start + 8]))
        instances, _, instance_scores = head.decode(outputs(start, batch), peak_threshold)
        for frame_points, frame_scores in zip(instances.numpy(), instance_scores.numpy()):
            kept = frame_scores > 0
            found.append(int(kept.sum()))
            predicted.append(frame_points[kept])
            scores.append(frame_scores[kept])
    metrics = evaluate_arrays(points, predicted, scores, [str(node) for node in range(points[0].shape[1])])
    return count_row(np.array(found), wanted) | {"oks_map": round(metrics["oks_map"], 3), "oks_ap50": round(metrics["oks_ap50"], 3)}


def ceiling_rows(train: Path, test: Path, folder: Path | None) -> list[dict]:
    """Grouping on maps and fields drawn from `test`'s labeled parts, at each part-map stride of
    `CEILING_STRIDES` with the grouping settings `posenn config` chooses from `train`; then, for
    the model in `folder` (if any) with its own settings, each mix of its outputs and drawn ones."""
    truth = sio.load_slp(str(test))
    points = [np.stack([instance.numpy() for instance in lf.instances]).astype(np.float32) for lf in truth]
    wanted = np.array([visible_animals(lf) for lf in truth])
    image_shape = truth.videos[0].shape[1:3]
    rows = []
    for stride in CEILING_STRIDES:
        config = with_overrides(config_from_labels(train, "bottomup", "user"), [f"model.output_stride={stride}"])
        head = bottomup_head(config)
        row = {"part_maps": "drawn", "fields": "drawn", "part_map_stride": stride, "field_stride": head.paf_stride,
               "held_out_frames": len(points)}
        drawn = mixed_outputs(head, [], image_shape, network_maps=False, network_fields=False)
        rows.append(row | grouped_row(head, config.inference.peak_threshold, points, wanted, drawn))
    if folder is None:
        return rows
    model = load_model(folder, torch.device("cpu"))
    config = model.config
    network = held_out_outputs(model, test.with_suffix(".mp4"), [lf.frame_idx for lf in truth])
    for maps_from, fields_from in (("network", "drawn"), ("drawn", "network"), ("network", "network")):
        row = {"part_maps": maps_from, "fields": fields_from, "part_map_stride": model.head.output_stride,
               "field_stride": model.head.paf_stride, "held_out_frames": len(points)}
        outputs = mixed_outputs(model.head, network, image_shape, maps_from == "network", fields_from == "network")
        rows.append(row | grouped_row(model.head, config.inference.peak_threshold, points, wanted, outputs))
    return rows


def mixed_outputs(head: BottomUpHead, network: list[tuple[torch.Tensor, torch.Tensor]], image_shape: tuple[int, int],
                  network_maps: bool, network_fields: bool) -> Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Outputs for `grouped_row`: the part maps and the fields each from `network` (its outputs
    per batch of 8 frames) or drawn by `head` from the labeled parts."""
    def outputs(start: int, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        drawn = None if network_maps and network_fields else head.encode(batch, image_shape)
        maps = network[start // 8][0] if network_maps else drawn[0]
        fields = network[start // 8][1] if network_fields else drawn[1]
        return maps, fields
    return outputs


def stage_times(folder: Path, video: Path, n_frames: int, batch_size: int = 8) -> dict:
    """Milliseconds per frame of each inference stage of a bottom-up model, on frames decoded
    beforehand."""
    device = torch.device("cpu")
    model = load_model(folder, device)
    scale, channels = model.config.data.scale, model.config.data.channels
    decoded = decode_batches(open_video(video), [range(n_frames)], channels, batch_size)
    batches = [to_device_batch(batch.indices, batch.frames, device).images(scale, channels) for _, batch in decoded]
    threshold = model.config.inference.peak_threshold
    stages = {"forward": 0.0, "peaks_and_limb_scores": 0.0, "assignment_and_grouping": 0.0}
    with torch.inference_mode():
        for images in batches:
            start = time.perf_counter()
            outputs = model.model(images)
            middle = time.perf_counter()
            candidates = model.head.limb_candidates(outputs, threshold)
            scored = time.perf_counter()
            model.head.assemble(candidates)
            stages["forward"] += middle - start
            stages["peaks_and_limb_scores"] += scored - middle
            stages["assignment_and_grouping"] += time.perf_counter() - scored
    per_frame = {f"{name}_ms": round(1000 * seconds / n_frames, 2) for name, seconds in stages.items()}
    per_frame["grouping_vs_forward"] = f"{stages['assignment_and_grouping'] / stages['forward']:.1%}"
    per_frame["decode_vs_forward"] = f"{(stages['peaks_and_limb_scores'] + stages['assignment_and_grouping']) / stages['forward']:.1%}"
    return per_frame


def bottomup_rows(case: str, folder: Path, seconds: float | None, steps: int, truth: Path, video: Path, work: Path, frames: int) -> list[dict]:
    """The bottom-up model with its defaults and with plain grouping."""
    rows = []
    timing = stage_times(folder, video, frames)
    for grouping, settings in (("defaults", {}), ("plain", PLAIN_GROUPING)):
        model = with_inference(folder, work, settings)
        row = {"case": case, "model": "bottom-up", "grouping": grouping, "training_steps": steps if seconds else "given",
               "training_seconds": round(seconds, 1) if seconds else ""}
        row |= held_out([model], truth, work, f"{case}_{grouping}")
        row["grouping_ms"] = timing["assignment_and_grouping_ms"] if grouping == "defaults" else ""
        rows.append(row)
    return rows


def topdown_row(case: str, labels: Path, instances: str, seconds: float, truth: Path, work: Path, centered: list[str]) -> dict:
    """The top-down pair trained for `seconds` in all (`train.max_minutes`, split 3:8), the
    centered-instance model with the settings `centered`."""
    steps = 0
    folders, spent = [], 0.0
    for model_type, share in (("centroid", CENTROID_SHARE), ("centered_instance", 1 - CENTROID_SHARE)):
        budget = [f"train.max_minutes={share * seconds / 60:.3f}"] + (centered if model_type == "centered_instance" else [])
        folder, model_seconds = train_model(labels, model_type, work / f"{case}_{model_type}", MAX_STEPS, instances, budget)
        folders.append(folder)
        spent += model_seconds
        steps += training_loop(folder)[0]
    row = {"case": case, "model": "top-down", "grouping": "", "training_steps": steps, "training_seconds": round(spent, 1)}
    row |= held_out(folders, truth, work, f"{case}_topdown")
    row["grouping_ms"] = ""
    return row


def change_rows(steps: int, work: Path, default: tuple[Path, float] | None, flies_settings: list[str]) -> list[dict]:
    """The fly model with each change of `CHANGES`; models with the same training settings are
    trained once (the model with the default settings is `default` when given)."""
    trained: dict[tuple[str, ...], tuple[Path, float]] = {(): default} if default else {}
    rows = []
    for change, training, inference in CHANGES:
        if tuple(training) not in trained:
            torch.manual_seed(0)
            trained[tuple(training)] = train_model(FLIES, "bottomup", work / f"change_{len(trained)}", steps, "predicted",
                                                   flies_settings + training)
        folder, seconds = trained[tuple(training)]
        config = yaml.safe_load((folder / "config.yaml").read_text())
        row = {"change": change, "paf_weight": config["train"]["paf_weight"],
               "limb_peak_weight": inference.get("limb_peak_weight", config["inference"]["limb_peak_weight"]),
               "training_steps": steps, "training_seconds": round(seconds, 1)}
        row |= held_out([with_inference(folder, work, inference)], folder / "labels_val.slp", work, f"change_{len(rows)}")
        rows.append(row)
    return rows


def crowd_videos(work: Path, train_frames: int) -> tuple[Path, Path]:
    """Training and held-out labels of the 8-animal synthetic crowd (the first 600 training
    frames are the same whatever `train_frames`)."""
    train = generate(work / "crowd_train", animals=CROWD_ANIMALS, frames=train_frames, size=CROWD_SIZE, seed=1)
    test = generate(work / "crowd_test", animals=CROWD_ANIMALS, frames=200, size=CROWD_SIZE, seed=2)
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="flies,crowd,scaling", help="comma-separated: flies, crowd, topdown, changes, ceiling, peaks, scaling")
    parser.add_argument("--steps", type=int, default=800, help="training steps of each bottom-up model not given")
    parser.add_argument("--flies-model", type=Path, help="a trained bottom-up model folder on the fly data")
    parser.add_argument("--crowd-model", type=Path, help="a trained bottom-up model folder on the crowd video")
    parser.add_argument("--frames", type=int, default=64, help="video frames for the timing")
    parser.add_argument("--flies-rotation", type=float,
                        help="largest rotation (degrees) of the fly models' augmentation, both types; posenn config's when not given")
    parser.add_argument("--crowd-train-frames", type=int, default=600, help="frames of the crowd's training video")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a config setting of the bottom-up models trained here (repeatable), to measure one change")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    flies_settings = [] if args.flies_rotation is None else [f"augment.rotation={args.flies_rotation}"]
    torch.manual_seed(0)
    flies, crowd, changes, ceiling, scaling, peaks = [], [], [], [], [], ()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        flies_default = None
        if "flies" in cases:
            folder, seconds = args.flies_model, None
            if folder is None:
                folder, seconds = train_model(FLIES, "bottomup", work / "flies", args.steps, "predicted", flies_settings + args.settings)
            flies += bottomup_rows("two flies", folder, seconds, args.steps, folder / "labels_val.slp",
                                  DATA / "centered_pair_low_quality.mp4", work, args.frames)
            flies_default = (folder, seconds) if seconds and not args.settings else None
            if "topdown" in cases and seconds:
                flies.append(topdown_row("two flies", FLIES, "predicted", seconds, folder / "labels_val.slp", work, flies_settings))
        if "changes" in cases:
            changes = change_rows(args.steps, work, flies_default, flies_settings)
        if cases & {"crowd", "ceiling", "peaks", "scaling"}:
            train, test = crowd_videos(work, args.crowd_train_frames)
            folder, seconds = args.crowd_model, None
            if folder is None and cases & {"crowd", "peaks", "scaling"}:
                folder, seconds = train_model(train, "bottomup", work / "crowd", args.steps, "user", args.settings)
            if "ceiling" in cases:
                ceiling = ceiling_rows(train, test, folder)
            if "peaks" in cases:
                peaks = peak_rows(sio.load_slp(str(test)), test.with_suffix(".mp4"), load_model(folder, torch.device("cpu")))
            if "crowd" in cases:
                crowd += bottomup_rows(f"{CROWD_ANIMALS} synthetic animals", folder, seconds, args.steps, test,
                                      test.with_suffix(".mp4"), work, args.frames)
                if "topdown" in cases and seconds:
                    crowd.append(topdown_row(f"{CROWD_ANIMALS} synthetic animals", train, "user", seconds, test, work, ANY_ROTATION))
            if "scaling" in cases:
                for animals in SCALING_ANIMALS:
                    labels = generate(work / f"scaling_{animals}", animals=animals, frames=args.frames, size=CROWD_SIZE, seed=3)
                    scaling.append({"animals": animals} | stage_times(folder, labels.with_suffix(".mp4"), args.frames))
    for rows, name in ((flies, "flies"), (crowd, "crowd")):
        if rows:
            report(f"Bottom-up with default settings, held-out frames, {name} (CPU)", rows, f"bottomup_{name}")
    if changes:
        report(f"Bottom-up recipe changes, two flies, {args.steps} steps, held-out frames (CPU)", changes, "bottomup_changes")
    if ceiling:
        report(f"Bottom-up grouping on maps drawn from the labels, {CROWD_ANIMALS} synthetic animals, held-out frames",
               ceiling, "bottomup_ceiling")
    for rows, title, name in zip(peaks, ("Where the crowd model's part-map peaks lie, held-out frames",
                                         "Visible parts with a peak of their type nearby (one to one)",
                                         "Most frequent peaks on another part"),
                                 ("bottomup_peaks", "bottomup_peak_recall", "bottomup_peak_confusions")):
        report(title, rows, name)
    if scaling:
        report(f"Bottom-up time per frame as animals grow ({CROWD_SIZE}×{CROWD_SIZE} px, CPU)", scaling, "bottomup_scaling")


if __name__ == "__main__":
    main()
