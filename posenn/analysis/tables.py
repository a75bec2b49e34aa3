"""Tidy tables and the summary JSON of an analysis, each written atomically.

Tables are CSV, and also parquet when pyarrow is installed. One row per observation:
`kinematics` per frame, animal and node; `nodes` per animal and node; `animals` per animal;
`distances` per frame, pair of animals and pair of nodes; `bouts` per bout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from posenn.analysis.interactions import Interactions
from posenn.analysis.kinematics import Kinematics
from posenn.analysis.poses import CENTROID, Poses
from posenn.io.atomic import atomic_path, write_text_atomic


def kinematics_table(poses: Poses, kinematics: Kinematics) -> pd.DataFrame:
    """One row per frame, animal and node where the node was seen: frame, time, animal, node,
    x, y, speed, acceleration, heading, moving."""
    position = poses.position
    frame = xr.DataArray(poses.frames, coords={"time": position.time})
    table = xr.Dataset({
        "frame": frame,
        "x": position.sel(space="x", drop=True),
        "y": position.sel(space="y", drop=True),
        "speed": kinematics.speed,
        "acceleration": kinematics.acceleration,
        "heading": kinematics.heading,
        "moving": kinematics.moving,
    }).transpose("time", "individuals", "keypoints").to_dataframe().reset_index()
    table = table.rename(columns={"individuals": "animal", "keypoints": "node"})
    table = table[table["x"].notna() & table["y"].notna()]
    columns = ["frame", "time", "animal", "node", "x", "y", "speed", "acceleration", "heading", "moving"]
    return table[columns].reset_index(drop=True)


def node_table(poses: Poses, kinematics: Kinematics) -> pd.DataFrame:
    """One row per animal and node: frames seen, path length, mean/median/max speed, time
    moving and still (time units)."""
    dt = poses.units.frame_time
    summary = xr.Dataset({
        "frames_seen": poses.position.notnull().all("space").sum("time"),
        "path_length": kinematics.path_length,
        "mean_speed": kinematics.speed.mean("time"),
        "median_speed": kinematics.speed.median("time"),
        "max_speed": kinematics.speed.max("time"),
        "mean_acceleration": kinematics.acceleration.mean("time"),
        "time_moving": kinematics.moving.sum("time") * dt,
        "time_still": (kinematics.valid & ~kinematics.moving).sum("time") * dt,
    }).transpose("individuals", "keypoints").to_dataframe().reset_index()
    return summary.rename(columns={"individuals": "animal", "keypoints": "node"})


def animal_table(poses: Poses, kinematics: Kinematics, nodes: pd.DataFrame) -> pd.DataFrame:
    """One row per animal: body length, still-speed threshold, and its centroid's summary."""
    centre = nodes[nodes["node"] == CENTROID].drop(columns="node").set_index("animal")
    centre.insert(0, "body_length", kinematics.body_length.to_series().reindex(centre.index).values)
    centre.insert(1, "still_speed", kinematics.still_speed.to_series().reindex(centre.index).values)
    return centre.reset_index()


def write_table(table: pd.DataFrame, out_dir: Path, name: str) -> list[Path]:
    """Write `name.csv` (and `name.parquet` with pyarrow); return the paths written."""
    written = []
    with atomic_path(out_dir / f"{name}.csv") as tmp:
        table.to_csv(tmp, index=False)
    written.append(out_dir / f"{name}.csv")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return written
    with atomic_path(out_dir / f"{name}.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    written.append(out_dir / f"{name}.parquet")
    return written


def jsonable(value):
    """Plain Python numbers (NaN as None) for json."""
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def summary(poses: Poses, kinematics: Kinematics, interactions: Interactions, animals: pd.DataFrame, settings: dict) -> dict:
    """Everything a reader needs first: units, settings, per-animal totals, bout counts."""
    bouts = interactions.bouts
    pairs = {}
    for (a, b), group in bouts.groupby(["animal_a", "animal_b"]):
        contacts = group[group["kind"] == "contact"]
        approaches = group[group["kind"] == "approach"]
        pairs[f"{a}-{b}"] = {
            "contact_bouts": len(contacts),
            "contact_time": jsonable(contacts["duration"].sum()),
            "approach_bouts": len(approaches),
            "approaches_by": {str(k): int(v) for k, v in approaches["approacher"].value_counts().items()},
        }
    return {
        "source": str(poses.source),
        "units": {
            "length": poses.units.length, "time": poses.units.time, "px_per_mm": poses.units.px_per_mm,
            "fps": poses.units.fps, "speed": f"{poses.units.length}/{poses.units.time}",
        },
        "frames": int(poses.position.sizes["time"]),
        "animals": {
            row["animal"]: {key: jsonable(value) for key, value in row.items() if key != "animal"}
            for row in animals.to_dict("records")
        },
        "body_axis": list(kinematics.axis) if kinematics.axis else None,
        "dropped_tracks": poses.dropped_tracks,
        "pairs": pairs,
        "settings": settings,
    }


def write_summary(data: dict, out_dir: Path) -> Path:
    """Write `summary.json`."""
    path = out_dir / "summary.json"
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path
