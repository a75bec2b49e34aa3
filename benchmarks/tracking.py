"""Identity keeping of `posenn track --tracking-only`, per seed and difficulty, and its cost.

Input detections are untracked poses made from exact ones (`posenn.synth.noisy_detections`):

- easy: 1.5 px noise per coordinate, 3% of detections dropped, one 20-frame gap of one animal;
- hard (`HARD_CASE`): 4 px noise, 10% dropped and 30 stretches of 20 frames in which one animal,
  drawn at random, is not detected.

Sources: `posenn synth` videos of 2 and 3 animals (1100 frames, 256 px) and the two-fly sample
(`centered_pair_predictions.slp`, 1100 frames) with identities by proximity
(`identities_by_proximity`: no link in doubt). Each is tracked with `--max-tracks N` and without,
and scored by `posenn eval`'s tracking metrics (OKS ≥ 0.5 matches with sigma 0.1, since 4 px of
noise on these small animals is beyond COCO's sigmas). The tracker's cost is the time of the
online and global passes per frame (`track_stream`, without reading or writing labels).
Results go to benchmarks/results/tracking.json.

    python benchmarks/tracking.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import sleap_io as sio
from common import report

from posenn.evaluation.tracking import evaluate_tracking
from posenn.synth import make_labels, noisy_detections, synthesize
from posenn.synth.detections import HARD_CASE, identities_by_proximity
from posenn.tracking import TrackerOptions, track_labels
from posenn.tracking.labels import frames_of
from posenn.tracking.pipeline import track_stream

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DIFFICULTY = {"easy": {}, "hard": HARD_CASE}


def tracker_ms_per_frame(detections: sio.Labels, options: TrackerOptions) -> float:
    """Milliseconds per frame of the online and global passes (best of three)."""
    frames = frames_of(sorted(detections.labeled_frames, key=lambda lf: lf.frame_idx), len(detections.skeleton.nodes))
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        track_stream(iter(frames), options)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(frames)


def row(source: str, truth: sio.Labels, animals: int, seed: int, difficulty: str, max_tracks: int | None) -> dict:
    """One line of the table: metrics of one tracked input."""
    detections = noisy_detections(truth, seed=seed, **DIFFICULTY[difficulty])
    options = TrackerOptions(max_tracks=max_tracks)
    metrics = evaluate_tracking(truth, track_labels(detections, options), node_sigmas=0.1)
    return {
        "input": source,
        "animals": animals,
        "difficulty": difficulty,
        "seed": seed,
        "max_tracks": max_tracks or "-",
        "tracks": metrics["n_pred_tracks"],
        "id_switches": metrics["id_switches"],
        "idf1": round(metrics["idf1"], 3),
        "mota": round(metrics["mota"], 3),
        "fragmentations": metrics["fragmentations"],
        "tracker_ms_per_frame": round(tracker_ms_per_frame(detections, options), 3),
    }


def sources(seeds: int):
    """(name, truth, animals) of every source: synthetic videos per seed, then the fly sample."""
    for animals in (2, 3):
        for seed in range(1, seeds + 1):
            yield f"synthetic, {animals} animals", make_labels(synthesize(animals, 1100, 256, seed), 30.0), animals, seed
    path = DATA / "centered_pair_predictions.slp"
    if path.is_file():
        truth, _ = identities_by_proximity(sio.load_slp(str(path)), 2)
        for seed in range(1, seeds + 1):
            yield "two flies (sample)", truth, 2, seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for source, truth, animals, seed in sources(args.seeds):
        for difficulty in DIFFICULTY:
            for max_tracks in (animals, None):
                rows.append(row(source, truth, animals, seed, difficulty, max_tracks))
    totals = []
    for difficulty in DIFFICULTY:
        for capped in (True, False):
            chosen = [r for r in rows if r["difficulty"] == difficulty and (r["max_tracks"] != "-") == capped]
            totals.append(
                {
                    "input": "all, total", "animals": "", "difficulty": difficulty, "seed": "", "max_tracks": "N" if capped else "-",
                    "tracks": f"{sum(r['tracks'] == r['animals'] for r in chosen)}/{len(chosen)} = N",
                    "id_switches": sum(r["id_switches"] for r in chosen),
                    "idf1": round(float(np.mean([r["idf1"] for r in chosen])), 3),
                    "mota": round(float(np.mean([r["mota"] for r in chosen])), 3),
                    "fragmentations": sum(r["fragmentations"] for r in chosen),
                    "tracker_ms_per_frame": round(float(np.median([r["tracker_ms_per_frame"] for r in chosen])), 3),
                }
            )
    report("Tracking: identities kept across frames (--tracking-only)", rows + totals, "tracking")


if __name__ == "__main__":
    main()
