"""Identities pooled over time: an identity model's class probabilities summed along tracklets.

A per-frame identity model names each animal from one crop; a crop where the animals touch or the
animal is seen edge-on can fool it. The tracker knows which detections surely belong together
(a tracklet: an online track cut wherever a link was weak or ambiguous, see `postprocess`), so
the evidence of all of a tracklet's frames decides its name:

1. the online pass links the detections and flags breaks; tracklets are the pieces between breaks,
   cut again where the class evidence turns for good (a swap the tracker did not flag, as when
   two animals in contact trade places: `cut_at_swaps`);
2. each tracklet's evidence for identity `k` is the sum of `log p_k` over its detections, and its
   pooled log-probabilities are the log-softmax of that evidence (the log-posterior of independent
   frames under a uniform prior): near 0 for the favoured identity of a long, consistent tracklet,
   the crop's own for a lone one;
3. per frame, identities go to detections by Hungarian assignment maximising the sum of their
   tracklets' pooled log-probabilities (each identity at most once per frame; where a frame has
   more detections than identities, those of the longest tracklets take part and the others,
   such as a stray detection beside long-tracked animals, get none), so the tracker and
   the identity model agree: a tracklet keeps one name unless a rival tracklet in some frame is
   surer of it. The assignment runs on logs, not on the probabilities: when a biased class model
   favours the same identity for both animals of a frame, both tracklets' pooled probabilities of
   the other identity underflow to ~0 and every assignment scores the same, while the logs
   (e.g. -49 against -90 over a 100-frame block) still tell which tracklet is the likelier
   (on the two-fly sample, 0.917 of the flies named right on probabilities, 0.972 on logs;
   benchmarks/identity.py --sets flies --fly-models detached,pooled).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from posenn.heads.identity import assign_identities
from posenn.tracking.options import FrameInstances, TrackerOptions
from posenn.tracking.pipeline import online_pass
from posenn.tracking.postprocess import split_tracklets

MIN_PROBABILITY = 1e-4  # floor of a class probability before its log: one confident mistake costs at most log(1e4)
SWAP_EVIDENCE = 20.0  # nats: a tracklet is cut where naming its two pieces apart is this much likelier than naming it whole
MIN_PIECE = 3  # detections: the shortest piece a tracklet is cut into


def cut_at_swaps(tracklets: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """Tracklets cut where the class evidence turns: a swap the tracker did not flag.

    In each tracklet (detections in frame order), the cut that most raises the log-likelihood of
    naming the pieces apart over naming the tracklet whole (`max_k` of summed `log p_k` per
    piece) is made when the gain exceeds `SWAP_EVIDENCE`, and the pieces are searched again
    (binary segmentation). Noise in a weak class model gains a few nats at most over hundreds of
    frames; a swap gains in proportion to the frames on its wrong side.

    Args:
        tracklets: `(detections,)` tracklet ids, -1 = untracked.
        log_p: `(detections, classes)` log class probabilities.

    Returns:
        `(detections,)` tracklet ids, renumbered, -1 = untracked.
    """
    out = tracklets.copy()
    next_id = tracklets.max(initial=-1) + 1
    tracked = np.flatnonzero(tracklets >= 0)
    order = tracked[np.argsort(tracklets[tracked], kind="stable")]  # detections by tracklet, in frame order
    for members in np.split(order, np.flatnonzero(np.diff(tracklets[order])) + 1):
        pending = [(0, len(members))]
        while pending:
            start, stop = pending.pop()
            cut = best_cut(log_p[members[start:stop]])
            if cut is None:
                continue
            out[members[start + cut:stop]] = next_id
            next_id += 1
            pending += [(start, start + cut), (start + cut, stop)]
    return out


def best_cut(log_p: np.ndarray) -> int | None:
    """The cut of one piece's `(n, classes)` log-probabilities that gains most over naming it
    whole, when the gain exceeds `SWAP_EVIDENCE` and both sides hold `MIN_PIECE` detections."""
    n = len(log_p)
    if n < 2 * MIN_PIECE:
        return None
    running = np.cumsum(log_p, axis=0)  # (n, classes)
    cuts = np.arange(MIN_PIECE, n - MIN_PIECE + 1)
    before = running[cuts - 1].max(axis=1)
    after = (running[-1] - running[cuts - 1]).max(axis=1)
    gain = before + after - running[-1].max()
    best = int(np.argmax(gain))
    return int(cuts[best]) if gain[best] > SWAP_EVIDENCE else None


def class_log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Logs of `(detections, classes)` class probabilities, floored at `MIN_PROBABILITY`."""
    return np.log(np.clip(probabilities, MIN_PROBABILITY, 1.0))


def pooled_log_probabilities(tracklets: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """`(detections, classes)` log class probabilities of each detection's tracklet: the
    log-softmax of its summed log-probabilities (a detection's own when untracked, -1).

    Args:
        tracklets: `(detections,)` tracklet ids, -1 = untracked.
        log_p: `(detections, classes)` log class probabilities (`class_log_probabilities`).
    """
    tracked = tracklets >= 0
    evidence = log_p
    if tracked.any():
        sums = np.zeros((tracklets.max() + 1, log_p.shape[1]))
        np.add.at(sums, tracklets[tracked], log_p[tracked])
        evidence = np.where(tracked[:, None], sums[np.maximum(tracklets, 0)], log_p)
    return evidence - np.logaddexp.reduce(evidence, axis=1, keepdims=True)


def pooled_identities(
    frames: Iterable[FrameInstances], probabilities: np.ndarray, options: TrackerOptions | None = None
) -> np.ndarray:
    """Identities of every detection from class probabilities pooled along tracklets (see module).

    Args:
        frames: detections per frame, in increasing `frame_idx` (consumed once).
        probabilities: `(detections, classes)` class probabilities of the detections, in the
            order the frames give them.
        options: tracker options of the online pass.

    Returns:
        `(detections,)` identity index of each detection, -1 where a frame has more detections
        than identities.
    """
    detections = online_pass(frames, options or TrackerOptions())
    if len(detections.ids) != len(probabilities):
        raise ValueError(f"{len(detections.ids)} detections but {len(probabilities)} rows of class probabilities")
    log_p = class_log_probabilities(probabilities)
    tracklets = cut_at_swaps(split_tracklets(detections.ids, detections.breaks), log_p)
    pooled = pooled_log_probabilities(tracklets, log_p)
    lengths = tracklet_lengths(tracklets)
    identities = np.full(len(probabilities), -1, np.int64)
    starts = np.flatnonzero(np.r_[True, detections.frame_idx[1:] != detections.frame_idx[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], len(probabilities)]):
        identities[start:stop] = frame_identities(pooled[start:stop], lengths[start:stop])
    return identities


def tracklet_lengths(tracklets: np.ndarray) -> np.ndarray:
    """`(detections,)` the number of detections in each detection's tracklet (`(detections,)` ids,
    -1 = untracked, which count 1)."""
    tracked = tracklets >= 0
    counts = np.bincount(tracklets[tracked], minlength=tracklets.max(initial=0) + 1)
    return np.where(tracked, counts[np.maximum(tracklets, 0)], 1)


def frame_identities(log_probabilities: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Identities of one frame's detections: Hungarian on `(detections, classes)` pooled
    log-probabilities among the detections of the `classes` longest tracklets (`(detections,)`
    lengths, first detections first on ties); the others get -1.

    A detection left out costs nothing in the sum of logs, so without the choice by length a
    lone stray, near-uniform, would take the name that a long tracklet holds with less certainty.
    """
    chosen = np.argsort(-lengths, kind="stable")[: log_probabilities.shape[1]]
    identities = np.full(len(lengths), -1, np.int64)
    identities[chosen] = assign_identities(log_probabilities[chosen], min_probability=-np.inf)  # logs: keep every pair
    return identities
