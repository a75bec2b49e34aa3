"""Identity models against frame-to-frame tracking, on synthetic animals and on the two-fly sample.

Sets (`--sets`, comma-separated):

- `synthetic`: each identity model is trained on one synthetic video (`posenn synth --identity`)
  and predicts another with a new seed (same animals, new motion and background); identities are
  scored with the tracking metrics of `posenn eval`, frame by frame and pooled along the
  tracker's tracklets (`posenn track`'s default with a tracker), and the same poses re-linked by
  the online tracker are the baseline. The test video is recorded at a low frame rate (`--fps`, 5 by
  default), where animals move far between frames and cross each other in a frame or two:
  frame-to-frame linking swaps identities there, and identity models should not. `--subtle` makes
  the animals differ only in size (within 14%), `--contact-time S` keeps them together, touching
  and overlapping, for S seconds whenever they meet (results/identity_subtle_contactS.json).
- `flies`: the two-fly sample named "female"/"male" by `scripts/fly_identities.py`'s recipe
  (`posenn.tracking.naming`), split into blocks of `--block` frames: `--fly-frames` frames spread
  over the even blocks train, every frame of the odd blocks tests. A centroid model
  (`--fly-centroid-steps`) and, on the same crops and `--fly-steps`, multi-class top-down models
  with class vectors on shared features (the backbone trained by the class loss too, as before)
  and on detached features (the default), and a plain centered-instance model are trained. The
  detached model is scored frame by frame and with its class probabilities pooled along the
  tracker's tracklets (`posenn track --pool-identities`); the plain model's poses are tracked (two
  tracks) and named by the size rule; a multi-class bottom-up model trains on the same frames and
  steps, scored frame by frame (`bottomup`) and pooled along tracklets (`bottomup_pooled`).
  `--fly-models` picks the rows (the centroid model trains only for top-down rows),
  `--fly-overrides` changes the identity models' settings (results/identity_flies.json holds
  every row; a subset goes to identity_flies_ROWS.json). Columns:
  `named_right` (share of ground-truth flies whose matched prediction, the nearest within 20 px,
  carries the right name: `posenn.evaluation.identity`), `unmatched` (ground-truth flies with no
  prediction within 20 px), OKS mAP, error p50 / p90 in px, identity switches (tracking metrics).

    python benchmarks/identity.py [--sets synthetic,flies] [--steps 3000] [--animals 2] [--size 160]
        [--fps 5] [--subtle] [--contact-time 0] [--fly-steps 800] [--fly-centroid-steps 600] [--fly-frames 150] [--block 100]
        [--fly-models shared,detached,pooled,plain,bottomup,bottomup_pooled] [--fly-overrides KEY=VALUE ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import sleap_io as sio

from common import report, train_model
from posenn.evaluation.identity import named_right
from posenn.evaluation.pose import evaluate_labels
from posenn.evaluation.tracking import evaluate_tracking
from posenn.inference.run import TrackOptions, track
from posenn.io.labels import load_labels
from posenn.synth import generate
from posenn.tracking import TrackerOptions, track_labels
from posenn.tracking.naming import name_tracks_by_length

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLIES = DATA / "centered_pair_predictions.slp"
FLY_NAMES = ["female", "male"]  # largest first, as scripts/fly_identities.py names them


def identity_row(name: str, folders: list[Path], seconds: float, test_labels: Path, work: Path) -> dict:
    """Pose and identity figures of one identity model (frame by frame, and pooled along the
    tracker's tracklets), and of the tracker on its poses."""
    start = time.perf_counter()
    predictions = track(test_labels.with_suffix(".mp4"), folders, work / f"{name}.slp", TrackOptions(quiet=True))
    fps = len(predictions.labeled_frames) / (time.perf_counter() - start)
    pooled = track(test_labels.with_suffix(".mp4"), folders, work / f"{name}_pooled.slp", TrackOptions(quiet=True, tracker=TrackerOptions()))
    truth = sio.load_slp(str(test_labels))
    pose = evaluate_labels(truth, predictions)
    identities = evaluate_tracking(truth, predictions)
    pooled_identities = evaluate_tracking(truth, pooled)
    tracked = evaluate_tracking(truth, track_labels(predictions, TrackerOptions()))
    return {
        "model": name,
        "training_seconds": round(seconds, 1),
        "oks_map": round(pose["oks_map"], 3),
        "identity_idf1": round(identities["idf1"], 3),
        "identity_switches": identities["id_switches"],
        "pooled_idf1": round(pooled_identities["idf1"], 3),
        "pooled_switches": pooled_identities["id_switches"],
        "tracker_idf1": round(tracked["idf1"], 3),
        "tracker_switches": tracked["id_switches"],
        "frames_per_second": round(fps, 1),
    }


def fly_sets(work: Path, train_frames: int, block: int) -> tuple[Path, Path]:
    """Named fly labels split by blocks of frames: `train_frames` spread over the even blocks
    (train.slp) and every frame of the odd blocks (test.slp)."""
    named, _ = name_tracks_by_length(load_labels(FLIES), FLY_NAMES, front="head", back="abdomen")
    frames = sorted(named.labeled_frames, key=lambda lf: lf.frame_idx)
    even = [lf for lf in frames if (lf.frame_idx // block) % 2 == 0]
    picks = np.unique(np.linspace(0, len(even) - 1, train_frames).round().astype(int))
    paths = []
    for name, chosen in (("train", [even[i] for i in picks]), ("test", [lf for lf in frames if (lf.frame_idx // block) % 2])):
        labels = sio.Labels(labeled_frames=chosen, videos=named.videos, skeletons=named.skeletons, tracks=named.tracks)
        paths.append(work / f"flies_{name}.slp")
        labels.save(str(paths[-1]), verbose=False)
    return paths[0], paths[1]


def fly_row(name: str, truth: sio.Labels, predictions: sio.Labels, named: sio.Labels, seconds: float) -> dict:
    """Pose figures of `predictions` and identity figures of `named` (the same poses, named)."""
    pose = evaluate_labels(truth, predictions)
    right, unmatched = named_right(truth, named)
    n_truth = sum(len(lf.instances) for lf in truth.labeled_frames)
    return {
        "model": name,
        "training_seconds": round(seconds, 1),
        "named_right": round(right, 3),
        "unmatched": f"{unmatched} of {n_truth}",
        "oks_map": round(pose["oks_map"], 3),
        "error_p50_p90": f"{pose['dist_p50']:.2f} / {pose['dist_p90']:.2f}",
        "identity_switches": evaluate_tracking(truth, named)["id_switches"],
    }


FLY_MODELS = ("shared", "detached", "pooled", "plain", "bottomup", "bottomup_pooled")


def fly_rows(work: Path, args: argparse.Namespace) -> list[dict]:
    """The rows of `args.fly_models` on the fly blocks: multi-class top-down with class features
    shared with the maps (as before) or detached, frame by frame; detached, pooled along
    tracklets; the plain centered-instance model (tracked, named by size); multi-class bottom-up,
    frame by frame and pooled along tracklets."""
    models = args.fly_models.split(",")
    unknown = sorted(set(models) - set(FLY_MODELS))
    if unknown:
        raise SystemExit(f"--fly-models: unknown {', '.join(unknown)}; choose from {', '.join(FLY_MODELS)}.")
    train_labels, test_labels = fly_sets(work, args.fly_frames, args.block)
    truth = sio.load_slp(str(test_labels))
    steps, rows = args.fly_steps, []
    if {"shared", "detached", "pooled", "plain"} & set(models):
        centroid, centroid_seconds = train_model(train_labels, "centroid", work / "fly_centroid", args.fly_centroid_steps, "user", [])
    for features in [f for f in ("shared", "detached") if f in models or (f == "detached" and "pooled" in models)]:
        overrides = [f"model.class_features={features}", *args.fly_overrides]
        topdown, seconds = train_model(train_labels, "multiclass_topdown", work / f"fly_{features}", steps, "user", overrides)
        if features in models:
            predictions = track(test_labels, [centroid, topdown], work / f"fly_{features}.slp", TrackOptions(quiet=True))
            rows.append(fly_row(f"multiclass_topdown, {features} features", truth, predictions, predictions, centroid_seconds + seconds))
    if "pooled" in models:
        options = TrackOptions(quiet=True, tracker=TrackerOptions(), pool_identities=True)
        pooled = track(test_labels, [centroid, topdown], work / "fly_pooled.slp", options)
        rows.append(fly_row("... detached, pooled along tracklets", truth, pooled, pooled, centroid_seconds + seconds))
    if "plain" in models:
        plain, seconds = train_model(train_labels, "centered_instance", work / "fly_plain", steps, "user", [])
        predictions = track(test_labels, [centroid, plain], work / "fly_plain.slp", TrackOptions(quiet=True))
        named, _ = name_tracks_by_length(predictions, FLY_NAMES, front="head", back="abdomen")
        rows.append(fly_row("centered_instance + tracker + size", truth, predictions, named, centroid_seconds + seconds))
    if {"bottomup", "bottomup_pooled"} & set(models):
        bottomup, seconds = train_model(train_labels, "multiclass_bottomup", work / "fly_bottomup", steps, "user", args.fly_overrides)
        if "bottomup" in models:
            predictions = track(test_labels, [bottomup], work / "fly_bottomup.slp", TrackOptions(quiet=True))
            rows.append(fly_row("multiclass_bottomup", truth, predictions, predictions, seconds))
        if "bottomup_pooled" in models:
            options = TrackOptions(quiet=True, tracker=TrackerOptions(), pool_identities=True)
            pooled = track(test_labels, [bottomup], work / "fly_bottomup_pooled.slp", options)
            rows.append(fly_row("... bottom-up, pooled along tracklets", truth, pooled, pooled, seconds))
    return rows


def synthetic_rows(work: Path, args: argparse.Namespace) -> list[dict]:
    """Both identity models on a synthetic test video with a new seed."""
    harder = {"subtle": args.subtle, "contact_time": args.contact_time}
    train_labels = generate(work / "train", args.animals, frames=600, size=args.size, seed=1, identity=True, **harder)
    test_labels = generate(work / "test", args.animals, frames=300, size=args.size, seed=2, identity=True, fps=args.fps, **harder)
    rotation = ["augment.rotation=180"]
    centroid, centroid_seconds = train_model(train_labels, "centroid", work / "centroid", 300, "user", ["data.scale=0.5"])
    topdown, seconds = train_model(train_labels, "multiclass_topdown", work / "topdown", args.steps, "user", rotation)
    rows = [identity_row("multiclass_topdown", [centroid, topdown], centroid_seconds + seconds, test_labels, work)]
    bottomup, seconds = train_model(train_labels, "multiclass_bottomup", work / "bottomup", args.steps, "user", rotation)
    rows.append(identity_row("multiclass_bottomup", [bottomup], seconds, test_labels, work))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="synthetic,flies", help="comma-separated: synthetic, flies")
    parser.add_argument("--steps", type=int, default=3000, help="synthetic: training steps of each identity model")
    parser.add_argument("--animals", type=int, default=2)
    parser.add_argument("--size", type=int, default=160, help="synthetic: frame side in pixels")
    parser.add_argument("--fps", type=float, default=5.0, help="synthetic: frame rate of the test video")
    parser.add_argument("--subtle", action="store_true", help="synthetic: identities that differ only in size (within 14%%)")
    parser.add_argument("--contact-time", type=float, default=0.0, help="synthetic: seconds animals stay together once they meet")
    parser.add_argument("--fly-steps", type=int, default=800, help="flies: training steps of each pose model")
    parser.add_argument("--fly-centroid-steps", type=int, default=600, help="flies: training steps of the centroid model")
    parser.add_argument("--fly-frames", type=int, default=150, help="flies: training frames, spread over the even blocks")
    parser.add_argument("--block", type=int, default=100, help="flies: frames per block")
    parser.add_argument("--fly-models", default=",".join(FLY_MODELS), help=f"flies: comma-separated rows, of {', '.join(FLY_MODELS)}")
    parser.add_argument("--fly-overrides", nargs="*", default=[], help="flies: key=value settings of the identity models")
    parser.add_argument("--work", help="keep the data sets, models and predictions in this folder (default: a temporary one)")
    args = parser.parse_args()
    sets = args.sets.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "synthetic" in sets:
            harder = ("subtle sizes, " if args.subtle else "") + (f"{args.contact_time:g} s contacts, " if args.contact_time else "")
            title = f"Identity models, {args.animals} synthetic animals, {harder}new seed, {args.fps:g} frames/s (CPU)"
            name = "identity" + ("_subtle" if args.subtle else "") + (f"_contact{args.contact_time:g}" if args.contact_time else "")
            report(title, synthetic_rows(work, args), name)
        if "flies" in sets:
            if not FLIES.is_file():
                raise SystemExit(f"{FLIES} not found: the flies set needs the sample data (see shared/data/README.md).")
            title = (f"Two flies named by size, blocks of {args.block} frames: {args.fly_frames} train frames, "
                     f"{args.fly_steps} steps per pose model, centroid {args.fly_centroid_steps} (CPU)")
            models = args.fly_models.split(",")
            name = "identity_flies" if sorted(models) == sorted(FLY_MODELS) else "identity_flies_" + "_".join(models)
            report(title, fly_rows(work, args), name)


if __name__ == "__main__":
    main()
