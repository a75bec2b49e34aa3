"""Held-out accuracy on synthetic animals after a fixed CPU training budget.

Trains a single-instance model (1 animal) and a top-down pair (2 animals) on one synthetic
video, predicts another (new seed, so new motion and background), scores it with the same code
as `posenn eval`, and prints one table. Results go to benchmarks/results/synthetic_accuracy.json.

    python benchmarks/synthetic_accuracy.py [--steps-scale 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sleap_io as sio
from common import report, train_model

from posenn.evaluation.pose import evaluate_labels
from posenn.inference.run import TrackOptions, track
from posenn.synth import generate


def run_case(work: Path, name: str, animals: int, size: int, models: list[tuple[str, int, dict]]) -> dict:
    """Generate data, train `models` ((type, steps, overrides)), predict and score held-out video."""
    train_labels = generate(work / name / "train", animals=animals, frames=600, size=size, seed=1)
    test_labels = generate(work / name / "test", animals=animals, frames=200, size=size, seed=2)
    folders, train_seconds, steps = [], 0.0, 0
    for model_type, model_steps, overrides in models:
        folder, seconds = train_model(train_labels, model_type, work / name / model_type, model_steps, "user", overrides)
        folders.append(folder)
        train_seconds += seconds
        steps += model_steps
    start = time.perf_counter()
    predictions = track(test_labels.with_suffix(".mp4"), folders, work / name / "pred.slp", TrackOptions(quiet=True))
    predict_seconds = time.perf_counter() - start
    metrics = evaluate_labels(sio.load_slp(str(test_labels)), predictions)
    return {
        "case": name,
        "animals": animals,
        "frame_size": size,
        "training_steps": steps,
        "training_seconds": round(train_seconds, 1),
        "inference_frames_per_second": round(200 / predict_seconds, 1),
        "oks_map": round(metrics["oks_map"], 4),
        "oks_mar": round(metrics["oks_mar"], 4),
        "dist_p50": round(metrics["dist_p50"], 3),
        "dist_p90": round(metrics["dist_p90"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-scale", type=float, default=1.0, help="Multiply every training budget.")
    args = parser.parse_args()

    def steps(n: int) -> int:
        return max(50, int(n * args.steps_scale))

    cases = [
        ("single_instance", 1, 192, [("single_instance", steps(2000), ["augment.rotation=180"])]),
        ("top-down", 2, 256, [
            ("centroid", steps(300), ["data.scale=0.5"]),
            ("centered_instance", steps(2000), ["augment.rotation=180"]),
        ]),
    ]
    with tempfile.TemporaryDirectory() as work:
        rows = [run_case(Path(work), *case) for case in cases]

    report("Held-out accuracy on synthetic animals (CPU training)", rows, "synthetic_accuracy")


if __name__ == "__main__":
    main()
