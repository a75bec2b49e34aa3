"""Identities for the two-fly sample: tracks named "female" and "male" by body length.

Re-tracks `centered_pair_predictions.slp` (27 tracker fragments) into two tracks, names the
longer fly (head to abdomen) "female", checks every frame against the size rule and for swaps by
motion, writes the named labels (user instances, one per fly and frame) and a verification strip
of the frames where the flies are closest and where the size margin is smallest.

    python scripts/fly_identities.py [--labels ../shared/data/centered_pair_predictions.slp]
        [-o fly_identities.slp] [--strip fly_identities.png]

Exits with status 1 when names swap between consecutive frames (after the size repair).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import sleap_io as sio

from posenn.io.atomic import atomic_path
from posenn.io.labels import load_labels
from posenn.render import render
from posenn.tracking.naming import NamingReport, name_tracks_by_length

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCE = DATA / "centered_pair_predictions.slp"
NAMES = ["female", "male"]  # largest first: the female fly is the larger
STRIP_FRAMES = 8


def strip_frames(labels: sio.Labels, report: NamingReport, count: int = STRIP_FRAMES) -> list[int]:
    """Frames worth looking at: where the flies' centroids are closest, then repaired frames."""
    frames = sorted(labels.labeled_frames, key=lambda lf: lf.frame_idx)
    paired = [lf for lf in frames if len(lf.instances) == 2]
    centres = np.array([[np.nanmean(inst.numpy(), axis=0) for inst in lf.instances] for lf in paired])
    distance = np.linalg.norm(centres[:, 0] - centres[:, 1], axis=-1)
    closest = [paired[i].frame_idx for i in np.argsort(distance)]
    picks: list[int] = list(dict.fromkeys(report.disagreements[: count // 2]))
    for index in closest:  # the closest frames, at least 25 frames apart
        if len(picks) == count:
            break
        if all(abs(index - other) >= 25 for other in picks):
            picks.append(int(index))
    return sorted(picks)


def build(source: Path, output: Path, strip: Path | None) -> NamingReport:
    """Name the flies of `source`, write the labels to `output` and the strip to `strip`."""
    labels, report = name_tracks_by_length(load_labels(source), NAMES, front="head", back="abdomen")
    with atomic_path(output) as tmp:
        labels.save(str(tmp), verbose=False)
    if strip is not None:
        frames = strip_frames(labels, report)
        render(output, strip, frames=",".join(map(str, frames)), max_frames_in_strip=len(frames), quiet=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=SOURCE, help="predicted instances of the two flies")
    parser.add_argument("-o", "--output", type=Path, default=Path("fly_identities.slp"))
    parser.add_argument("--strip", type=Path, default=Path("fly_identities.png"), help="verification image (.png/.jpg)")
    args = parser.parse_args()
    report = build(args.labels, args.output, args.strip)
    print("\n".join(report.lines()))
    print(f"wrote {args.output} and {args.strip}")
    if report.motion_swaps:
        print("CHECK FAILED: names swap between frames")
        sys.exit(1)


if __name__ == "__main__":
    main()
