"""The zoo's models: their cards reproduced, the mouse on an unlabeled session, and fine-tuning.

Table 1: each shipped model scored again on its held-out frames (`scripts/build_zoo.py --check`),
card against now.

Table 2, zero-shot: `zoo:mouse-openfield` (trained on session m4s1) tracks every frame of the
unlabeled session m3v1 (`openfield_mouse/videos/m3v1mp4.mp4`, 2,330 frames): frames where it
finds all four parts, three or more, and the mouse's size (snout–tail base) as a sanity check;
a strip of 8 frames goes to docs/figures/zoo_mouse_m3v1.png.

Table 3, fine-tuning with 10 labels: the mouse's 10 first training frames, `--steps` steps from
scratch against `train.init_from: zoo:flies-topdown/centered_instance` (another animal and
skeleton: its UNet is kept, its part maps are not), `--seeds` seeds each, scored on the
mouse's 24 held-out frames; the zoo's mouse model (92 frames) for reference.

    python benchmarks/zoo.py [--steps 600] [--seeds 3] [--skip-finetune]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sleap_io as sio
from common import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from build_zoo import COMMON, DATA, RECIPES, check, recipe, score, split  # noqa: E402

from posenn.autoconfig import config_from_labels  # noqa: E402
from posenn.config import with_overrides  # noqa: E402
from posenn.inference.run import TrackOptions, track  # noqa: E402
from posenn.render import render  # noqa: E402
from posenn.training.run import train  # noqa: E402

SESSION = DATA / "openfield_mouse" / "videos" / "m3v1mp4.mp4"
STRIP = ROOT / "docs" / "figures" / "zoo_mouse_m3v1.png"


def zero_shot(work: Path) -> dict:
    """The mouse model on every frame of a session it never saw."""
    output = work / "m3v1.predictions.slp"
    start = time.perf_counter()
    labels = track(SESSION, [Path("zoo:mouse-openfield")], output, TrackOptions(quiet=True, tracker=None))
    seconds = time.perf_counter() - start
    video_frames = labels.videos[0].shape[0]
    found, lengths = np.zeros(video_frames, int), []
    for frame in labels.labeled_frames:
        points = frame.instances[0].numpy()[:, :2] if frame.instances else np.full((4, 2), np.nan)
        found[frame.frame_idx] = int(np.isfinite(points[:, 0]).sum())
        snout, tail = points[0], points[-1]
        if np.isfinite(snout).all() and np.isfinite(tail).all():
            lengths.append(float(np.linalg.norm(snout - tail)))
    render(output, STRIP, max_frames_in_strip=8, scale=0.5, quiet=True)
    return {
        "video": SESSION.name,
        "frames": video_frames,
        "all_4_parts": f"{np.mean(found == 4):.1%}",
        "3_or_more_parts": f"{np.mean(found >= 3):.1%}",
        "snout_tail_px_p5_p50_p95": " / ".join(f"{v:.0f}" for v in np.percentile(lengths, [5, 50, 95])),
        "whole_command_frames_per_s": round(video_frames / seconds, 1),
    }


def finetune(work: Path, steps: int, seeds: int) -> list[dict]:
    """10 mouse labels: from scratch against init_from the zoo's fly model."""
    mouse = recipe("mouse-openfield")
    train_file, held_out = split(mouse, work)
    labels = sio.load_slp(str(train_file))
    ten = work / "mouse_10.slp"
    sio.save_slp(sio.Labels(labeled_frames=labels.labeled_frames[:10], videos=labels.videos, skeletons=labels.skeletons), str(ten))
    rows = []
    for start_from in ("scratch", "zoo:flies-topdown/centered_instance"):
        results = []
        for seed in range(seeds):
            run_dir = work / f"{start_from.replace(':', '_').replace('/', '_')}_{seed}"
            budget = [f"train.run_dir={run_dir}", f"train.epochs={steps // 50}", *COMMON, f"train.seed={seed}",
                      "data.val_fraction=0.1", *mouse.parts[0].overrides]
            if start_from != "scratch":
                budget.append(f"train.init_from={start_from}")
            train(with_overrides(config_from_labels(ten, "single_instance", "user"), budget), quiet=True)
            results.append(score(mouse, [run_dir], held_out, work))
        maps, p50 = [r["oks_map"] for r in results], [r["dist_p50"] for r in results]
        rows.append({"start": start_from, "labelled_frames": 10, "steps": steps, "seeds": seeds,
                     "oks_map_mean_sd": f"{np.mean(maps):.3f} ± {np.std(maps):.3f}",
                     "error_p50_px_mean": round(float(np.nanmean(p50)), 2)})
    reference = score(mouse, ["zoo:mouse-openfield"], held_out, work)
    rows.append({"start": "zoo:mouse-openfield (reference)", "labelled_frames": 92, "steps": mouse.parts[0].steps, "seeds": 1,
                 "oks_map_mean_sd": f"{reference['oks_map']:.3f}", "error_p50_px_mean": reference["dist_p50"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"the public data is not at {DATA}")
    with tempfile.TemporaryDirectory() as work:
        report("Zoo models scored again on their held-out frames", check([r.name for r in RECIPES], Path(work)), "zoo_cards")
        report("zoo:mouse-openfield on an unlabeled session (zero-shot)", [zero_shot(Path(work))], "zoo_zero_shot")
        if not args.skip_finetune:
            report("Fine-tuning with 10 mouse labels", finetune(Path(work), args.steps, args.seeds), "zoo_finetune")


if __name__ == "__main__":
    main()
