"""Identity models against frame-to-frame tracking, on synthetic animals with learnable looks.

Trains each identity model on one synthetic video (`posenn synth --identity`), predicts another
with a new seed (same animals, new motion and background), and scores the identities with the
tracking metrics of `posenn eval`; the same poses re-linked by the online tracker are the
baseline. The test video is recorded at a low frame rate (`--fps`, 5 by default), where animals
move far between frames and cross each other in a frame or two: frame-to-frame linking swaps
identities there, and identity models should not.

    python benchmarks/identity.py [--steps 3000] [--animals 2] [--size 160] [--fps 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sleap_io as sio

from common import report, train_model
from posenn.evaluation.pose import evaluate_labels
from posenn.evaluation.tracking import evaluate_tracking
from posenn.inference.run import TrackOptions, track
from posenn.synth import generate
from posenn.tracking import TrackerOptions, track_labels


def identity_row(name: str, folders: list[Path], seconds: float, test_labels: Path, work: Path) -> dict:
    """Pose and identity figures of one identity model, and of the tracker on its poses."""
    start = time.perf_counter()
    predictions = track(test_labels.with_suffix(".mp4"), folders, work / f"{name}.slp", TrackOptions(quiet=True))
    fps = len(predictions.labeled_frames) / (time.perf_counter() - start)
    truth = sio.load_slp(str(test_labels))
    pose = evaluate_labels(truth, predictions)
    identities = evaluate_tracking(truth, predictions)
    tracked = evaluate_tracking(truth, track_labels(predictions, TrackerOptions()))
    return {
        "model": name,
        "training_seconds": round(seconds, 1),
        "oks_map": round(pose["oks_map"], 3),
        "identity_idf1": round(identities["idf1"], 3),
        "identity_switches": identities["id_switches"],
        "tracker_idf1": round(tracked["idf1"], 3),
        "tracker_switches": tracked["id_switches"],
        "frames_per_second": round(fps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each identity model")
    parser.add_argument("--animals", type=int, default=2)
    parser.add_argument("--size", type=int, default=160, help="frame side in pixels")
    parser.add_argument("--fps", type=float, default=5.0, help="frame rate of the test video")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_labels = generate(work / "train", args.animals, frames=600, size=args.size, seed=1, identity=True)
        test_labels = generate(work / "test", args.animals, frames=300, size=args.size, seed=2, identity=True, fps=args.fps)
        rotation = ["augment.rotation=180"]
        centroid, centroid_seconds = train_model(train_labels, "centroid", work / "centroid", 300, "user", ["data.scale=0.5"])
        topdown, seconds = train_model(train_labels, "multiclass_topdown", work / "topdown", args.steps, "user", rotation)
        rows.append(identity_row("multiclass_topdown", [centroid, topdown], centroid_seconds + seconds, test_labels, work))
        bottomup, seconds = train_model(train_labels, "multiclass_bottomup", work / "bottomup", args.steps, "user", rotation)
        rows.append(identity_row("multiclass_bottomup", [bottomup], seconds, test_labels, work))
    report(f"Identity models, {args.animals} synthetic animals, new seed, {args.fps:g} frames/s (CPU)", rows, "identity")


if __name__ == "__main__":
    main()
