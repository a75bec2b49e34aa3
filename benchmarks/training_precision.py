"""Does bfloat16 training learn as much per step as float32? The fly centered-instance model,
trained from several seeds in each precision on the same budget.

One training run on a few hundred frames is a noisy measurement: the seed alone moved held-out
OKS mAP from 0.16 to 0.30 in float32 at 1000 steps. So each precision trains from `--seeds`
seeds, and the table gives every run and the mean ± standard deviation per precision: training
loop steps/s (validation included, from training_log.csv), validation OKS mAP and median error
(metrics.json of the best checkpoint). Results go to benchmarks/results/training_precision.json.

    python benchmarks/training_precision.py                  # 3 seeds × 1000 steps, about 10 min
    python benchmarks/training_precision.py --seeds 5 --steps 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from common import report, train_model, training_loop

FLIES_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "centered_pair_predictions.slp"
PRECISIONS = ("32", "bf16-mixed")


def train_run(work: Path, precision: str, seed: int, steps: int) -> dict:
    """One training run; its speed and held-out figures."""
    run_dir, _ = train_model(FLIES_LABELS, "centered_instance", work / f"{precision}_{seed}", steps, "predicted",
                             [f"train.precision={precision}", f"train.seed={seed}"])
    metrics = json.loads(run_dir.joinpath("metrics.json").read_text())
    loop_steps, loop_seconds = training_loop(run_dir)
    return {"precision": precision, "seed": seed, "steps_per_s": loop_steps / loop_seconds,
            "oks_map": metrics["oks_map"], "median_error_px": metrics["dist_p50"]}


def summary(runs: list[dict], precision: str) -> dict:
    """Mean ± standard deviation of one precision's runs."""
    mine = [run for run in runs if run["precision"] == precision]

    def spread(key: str, digits: int) -> str:
        values = [run[key] for run in mine]
        deviation = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.{digits}f} ± {deviation:.{digits}f}"

    return {"precision": precision, "seed": f"mean of {len(mine)}", "steps_per_s": spread("steps_per_s", 2),
            "oks_map": spread("oks_map", 3), "median_error_px": spread("median_error_px", 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="Training runs per precision (default 3).")
    parser.add_argument("--steps", type=int, default=1000, help="Training steps per run, a multiple of 50 (default 1000).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = [train_run(Path(folder), precision, seed, args.steps) for precision in PRECISIONS for seed in range(args.seeds)]
    rows = [{**run, "steps_per_s": round(run["steps_per_s"], 2), "oks_map": round(run["oks_map"], 3),
             "median_error_px": round(run["median_error_px"], 2)} for run in runs]
    rows += [summary(runs, precision) for precision in PRECISIONS]
    report(f"Fly centered-instance model, {args.steps} steps per run, by training precision", rows, "training_precision")


if __name__ == "__main__":
    main()
