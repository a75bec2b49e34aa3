"""Between animals: distances, contact bouts and approach bouts.

For every pair of animals seen together, the distance between their centroids (and between any
named nodes) in every frame. A contact bout is a run of frames in which the centroids are closer
than `contact` body lengths (the pair's mean body length). An approach bout is a run of frames in
which the centroids get closer (movement's time derivative of the distance is negative) and that
closes at least `approach` body lengths; the animal that did most of the closing — its velocity
toward the other, summed over the bout — is the one that approached.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr

from posenn.analysis.kinematics import Kinematics
from posenn.analysis.poses import CENTROID, Poses
from posenn.errors import PosennError

BOUT_COLUMNS = [
    "kind", "animal_a", "animal_b", "start_frame", "end_frame", "start", "end", "duration",
    "min_distance", "distance_change", "approacher", "approached", "approacher_share",
]


@dataclass
class Interactions:
    """Pairwise distances and bouts.

    Attributes:
        distances: tidy table, one row per frame, pair of animals and pair of nodes: `frame`,
            `time`, `animal_a`, `animal_b`, `node_a`, `node_b`, `distance`.
        bouts: one row per bout (columns `BOUT_COLUMNS`); `start_frame`/`end_frame` inclusive.
        centroid_distance: `(time, pairs)` centroid distances, pairs named "a-b".
        contact_threshold: `(pairs,)` contact distance in the length unit.
    """

    distances: pd.DataFrame
    bouts: pd.DataFrame
    centroid_distance: xr.DataArray
    contact_threshold: xr.DataArray


def parse_node_pairs(pairs: list[str], nodes: list[str]) -> list[tuple[str, str]]:
    """`["head:head", "head:abdomen"]` → node pairs; checks every node is in the skeleton.

    Raises:
        PosennError: for a malformed pair or an unknown node.
    """
    parsed = []
    for text in pairs:
        parts = text.split(":")
        if len(parts) != 2 or not all(parts):
            raise PosennError(f"--pair: expected NODE_A:NODE_B, got '{text}'.")
        unknown = [node for node in parts if node not in nodes]
        if unknown:
            raise PosennError(f"--pair {text}: node(s) {', '.join(unknown)} not in the skeleton; nodes: {', '.join(nodes)}.")
        parsed.append((parts[0], parts[1]))
    return parsed


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) index ranges of the runs of True in a 1-d bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(start), int(end) - 1) for start, end in zip(edges[::2], edges[1::2])]


def node_distance(position: xr.DataArray, a: str, b: str, node_a: str, node_b: str) -> xr.DataArray:
    """Distance `(time,)` from node_a of animal a to node_b of animal b."""
    from movement.utils.vector import compute_norm

    return compute_norm(
        position.sel(individuals=a, keypoints=node_a, drop=True) - position.sel(individuals=b, keypoints=node_b, drop=True)
    )


def approach_shares(poses: Poses, kinematics: Kinematics, a: str, b: str, start: int, end: int) -> tuple[float, float]:
    """How far each animal moved toward the other over frames start..end (same length unit)."""
    from movement.utils.vector import convert_to_unit

    centre = poses.position.sel(keypoints=CENTROID, drop=True)
    velocity = kinematics.velocity.sel(keypoints=CENTROID, drop=True)
    frames = slice(start, end + 1)
    a_to_b = convert_to_unit(centre.sel(individuals=b) - centre.sel(individuals=a)).isel(time=frames)
    closing_a = (velocity.sel(individuals=a).isel(time=frames) * a_to_b).sum("space")
    closing_b = -(velocity.sel(individuals=b).isel(time=frames) * a_to_b).sum("space")
    dt = poses.units.frame_time
    return float(closing_a.sum() * dt), float(closing_b.sum() * dt)


def pair_bouts(
    poses: Poses, kinematics: Kinematics, a: str, b: str, distance: xr.DataArray, contact: float, approach: float, min_frames: int
) -> list[dict]:
    """Contact and approach bouts of one pair of animals."""
    from movement.kinematics import compute_time_derivative

    length = float((kinematics.body_length.sel(individuals=a) + kinematics.body_length.sel(individuals=b)) / 2)
    values = distance.values
    times = distance.time.values
    frame_time = poses.units.frame_time
    bouts = []

    def bout(kind: str, start: int, end: int) -> dict:
        window = values[start : end + 1]
        return {
            "kind": kind, "animal_a": a, "animal_b": b, "start_frame": start, "end_frame": end,
            "start": float(times[start]), "end": float(times[end]), "duration": (end - start + 1) * frame_time,
            "min_distance": float(np.nanmin(window)), "distance_change": float(window[-1] - window[0]),
            "approacher": None, "approached": None, "approacher_share": np.nan,
        }

    for start, end in runs(values < contact * length):
        if end - start + 1 >= min_frames:
            bouts.append(bout("contact", start, end))
    closing = (compute_time_derivative(distance, order=1) < 0).values
    for start, end in runs(closing):
        row = bout("approach", start, end)
        if -row["distance_change"] < approach * length:
            continue
        by_a, by_b = approach_shares(poses, kinematics, a, b, start, end)
        first = by_a >= by_b
        row["approacher"], row["approached"] = (a, b) if first else (b, a)
        total = max(by_a, 0.0) + max(by_b, 0.0)
        row["approacher_share"] = max(by_a, by_b, 0.0) / total if total > 0 else np.nan
        bouts.append(row)
    return bouts


def compute_interactions(
    poses: Poses,
    kinematics: Kinematics,
    node_pairs: list[str] | None = None,
    contact: float = 1.0,
    approach: float = 1.0,
    min_bout_frames: int = 3,
) -> Interactions:
    """Distances and bouts between every two animals.

    Args:
        poses: cleaned poses with the `centroid` keypoint.
        kinematics: gives the body lengths and velocities.
        node_pairs: extra node-to-node distances as "NODE_A:NODE_B" (node A of the first animal
            to node B of the second, and the reverse when the nodes differ).
        contact: contact when centroids are closer than this many body lengths.
        approach: an approach closes at least this many body lengths.
        min_bout_frames: shorter contact runs are not bouts.

    Returns:
        The interactions (empty tables for a single animal).

    Raises:
        PosennError: for a malformed or unknown node pair, or non-positive thresholds.
    """
    if contact <= 0 or approach <= 0 or min_bout_frames < 1:
        raise PosennError(
            f"--contact and --approach must be positive and --min-bout-frames >= 1; got {contact}, {approach}, {min_bout_frames}."
        )
    pairs = [(CENTROID, CENTROID)]
    for node_a, node_b in parse_node_pairs(node_pairs or [], poses.nodes):
        pairs += [(node_a, node_b)] + ([(node_b, node_a)] if node_a != node_b else [])
    position = poses.position
    tables, bouts, centroid, thresholds = [], [], {}, {}
    for a, b in combinations(poses.animals, 2):
        centre = node_distance(position, a, b, CENTROID, CENTROID)
        if centre.notnull().sum() == 0:
            continue  # never seen together
        name = f"{a}-{b}"
        centroid[name] = centre
        thresholds[name] = contact * float((kinematics.body_length.sel(individuals=a) + kinematics.body_length.sel(individuals=b)) / 2)
        bouts += pair_bouts(poses, kinematics, a, b, centre, contact, approach, min_bout_frames)
        for node_a, node_b in pairs:
            distance = centre if (node_a, node_b) == (CENTROID, CENTROID) else node_distance(position, a, b, node_a, node_b)
            seen = distance.notnull().values
            tables.append(pd.DataFrame({
                "frame": poses.frames[seen], "time": distance.time.values[seen], "animal_a": a, "animal_b": b,
                "node_a": node_a, "node_b": node_b, "distance": distance.values[seen],
            }))
    columns = ["frame", "time", "animal_a", "animal_b", "node_a", "node_b", "distance"]
    distances = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    bout_table = pd.DataFrame(bouts, columns=BOUT_COLUMNS).sort_values(["kind", "start_frame"], ignore_index=True)
    pair_index = pd.Index(list(centroid), name="pairs")
    centroid_distance = (
        xr.concat(list(centroid.values()), dim=pair_index) if centroid else xr.DataArray(np.empty((0, 0)), dims=("pairs", "time"))
    )
    threshold = xr.DataArray(list(thresholds.values()), coords={"pairs": list(thresholds)}, dims="pairs")
    return Interactions(distances, bout_table, centroid_distance, threshold)
