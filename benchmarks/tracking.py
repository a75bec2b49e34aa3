"""Identity keeping of `posenn track --tracking-only` on synthetic crossing animals, and speed.

Input detections are exact synthetic poses + 1.5 px noise, shuffled, 3% dropped at random and a
20-frame gap for one animal (`posenn.synth.noisy_detections`), untracked. Scored by the tracking
metrics of `posenn eval`. Also re-tracks the sample predictions of two flies (27 fragments).
Results go to benchmarks/results/tracking.json.

    python benchmarks/tracking.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import sleap_io as sio
from common import report

from posenn.evaluation.tracking import evaluate_tracking
from posenn.synth import generate, noisy_detections
from posenn.tracking import TrackerOptions, track_labels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def synthetic_row(work: Path, animals: int, seed: int, max_tracks: int | None) -> dict:
    truth = sio.load_slp(str(generate(work / f"a{animals}s{seed}", animals=animals, frames=600, size=256, seed=seed)))
    detections = noisy_detections(truth, seed=seed)
    start = time.perf_counter()
    tracked = track_labels(detections, TrackerOptions(max_tracks=max_tracks))
    seconds = time.perf_counter() - start
    metrics = evaluate_tracking(truth, tracked)
    return {
        "input": f"synthetic, {animals} animals, seed {seed}",
        "max_tracks": max_tracks or "-",
        "tracks": metrics["n_pred_tracks"],
        "id_switches": metrics["id_switches"],
        "idf1": round(metrics["idf1"], 3),
        "mota": round(metrics["mota"], 3),
        "frames_per_second": round(len(truth.labeled_frames) / seconds),
    }


def flies_row(max_tracks: int | None) -> dict:
    labels = sio.load_slp(str(DATA / "centered_pair_predictions.slp"))
    start = time.perf_counter()
    tracked = track_labels(labels, TrackerOptions(max_tracks=max_tracks))
    seconds = time.perf_counter() - start
    return {
        "input": f"two flies, {len(labels.tracks)} fragments",
        "max_tracks": max_tracks or "-",
        "tracks": len(tracked.tracks),
        "id_switches": "",
        "idf1": "",
        "mota": "",
        "frames_per_second": round(len(labels.labeled_frames) / seconds),
    }


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for animals in (2, 3):
            for seed in (1, 2, 3):
                for max_tracks in (animals, None):
                    rows.append(synthetic_row(Path(work), animals, seed, max_tracks))
    if DATA.is_dir():
        rows += [flies_row(2), flies_row(None)]
    report("Tracking: identities kept across frames (--tracking-only)", rows, "tracking")


if __name__ == "__main__":
    main()
