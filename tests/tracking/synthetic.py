"""Detections made from synthetic ground truth, and how to score a tracker on them."""

import numpy as np

from posenn.synth import synthesize
from posenn.tracking import FrameInstances


def noisy_detections(
    animals: int, seed: int, frames: int = 300, noise: float = 1.5, drop_rate: float = 0.03, spurious: int = 6
) -> tuple[list[FrameInstances], list[np.ndarray]]:
    """Detections of a synthetic video, as a pose model would give them.

    Ground-truth poses + Gaussian noise, instance order shuffled per frame, random single-frame
    drop-outs, a stretch of 20 frames where animal 0 is not detected, and `spurious` low-score
    detections of a random pose at a random place.

    Returns:
        Tracker input, and per frame the `(n,)` true animal of each detection (-1 = spurious).
    """
    rng = np.random.default_rng(seed)
    # (frames, animals, nodes, 2)
    truth = synthesize(animals=animals, frames=frames, size=256, seed=seed).points
    detected = rng.random((frames, animals)) > drop_rate
    detected[100:120, 0] = False
    spurious_frames = set(rng.choice(frames, spurious, replace=False).tolist())
    out, owners = [], []
    for f in range(frames):
        who = np.flatnonzero(detected[f])
        points = truth[f, who] + rng.normal(0, noise, truth[f, who].shape)
        scores = rng.uniform(0.7, 1.0, len(who))
        if f in spurious_frames:
            fake = truth[f, 0] - np.nanmean(truth[f, 0], axis=0) + rng.uniform(40, 216, 2)
            points, scores = np.concatenate([points, fake[None]]), np.append(scores, 0.2)
            who = np.append(who, -1)
        order = rng.permutation(len(who))
        out.append(FrameInstances(frame_idx=f, points=points[order], scores=scores[order]))
        owners.append(who[order])
    return out, owners


def identity_switches(owners: list[np.ndarray], ids: list[np.ndarray], animals: int) -> int:
    """For each true animal, how often its track id changes between frames where it is tracked."""
    switches = 0
    for animal in range(animals):
        seen = [int(i[o == animal][0]) for o, i in zip(owners, ids) if (o == animal).any()]
        seen = [track for track in seen if track >= 0]
        switches += sum(a != b for a, b in zip(seen, seen[1:]))
    return switches


def tracked_fraction(owners: list[np.ndarray], ids: list[np.ndarray]) -> float:
    """Fraction of true (not spurious) detections that got a track."""
    true = np.concatenate([i[o >= 0] for o, i in zip(owners, ids)])
    return float((true >= 0).mean())


def track_count(ids: list[np.ndarray]) -> int:
    """Number of distinct track ids used."""
    return len({t for i in ids for t in i.tolist() if t >= 0})
