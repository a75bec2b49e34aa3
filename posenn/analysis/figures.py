"""Figures of an analysis (PNG, matplotlib without a display): trajectories over the arena, speed
over time, inter-animal distance with contact bouts shaded, and an occupancy heatmap per animal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posenn.analysis.interactions import Interactions
from posenn.analysis.kinematics import Kinematics
from posenn.analysis.poses import CENTROID, Poses
from posenn.io.atomic import atomic_path

DPI = 100
OCCUPANCY_BINS = 40


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: Path) -> Path:
    """Write a figure to `path` atomically and close it."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=DPI, format="png")
    pyplot().close(figure)
    return path


def arena(poses: Poses) -> tuple[float, float] | None:
    """(width, height) of the frame in the length unit, or None when unknown."""
    if poses.frame_size is None:
        return None
    height, width = poses.frame_size
    scale = poses.units.px_per_mm or 1.0
    return width / scale, height / scale


def frame_axes(axes, poses: Poses) -> None:
    """Image-like axes: the frame's extent, y down, equal scales."""
    extent = arena(poses)
    if extent is not None:
        axes.set_xlim(0, extent[0])
        axes.set_ylim(extent[1], 0)
    else:
        axes.invert_yaxis()
    axes.set_aspect("equal")
    axes.set_xlabel(f"x ({poses.units.length})")
    axes.set_ylabel(f"y ({poses.units.length})")


def trajectories(poses: Poses, out_dir: Path) -> Path:
    """Each animal's centroid path over the frame."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 5))
    centre = poses.position.sel(keypoints=CENTROID)
    for animal in poses.animals:
        xy = centre.sel(individuals=animal).values  # (time, 2)
        axes.plot(xy[:, 0], xy[:, 1], lw=0.8, label=animal)
    frame_axes(axes, poses)
    axes.set_title("Centroid trajectories")
    axes.legend(title="animal", fontsize="small", loc="upper right")
    figure.tight_layout()
    return save(figure, out_dir / "trajectories.png")


def speed(poses: Poses, kinematics: Kinematics, out_dir: Path) -> Path:
    """Centroid speed of each animal over time, with its still threshold."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 3))
    time = poses.position.time.values
    for animal in poses.animals:
        line, = axes.plot(time, kinematics.speed.sel(keypoints=CENTROID, individuals=animal).values, lw=0.8, label=animal)
        axes.axhline(float(kinematics.still_speed.sel(individuals=animal)), color=line.get_color(), ls=":", lw=0.8)
    ylabel = f"speed ({poses.units.length}/{poses.units.time})"
    return save_over_time(figure, axes, poses, ylabel, "Centroid speed (dotted: still threshold)", "animal", out_dir / "speed.png")


def distance(poses: Poses, interactions: Interactions, out_dir: Path) -> Path | None:
    """Centroid distance of each pair over time, contact bouts shaded; None for one animal."""
    if interactions.centroid_distance.sizes.get("pairs", 0) == 0:
        return None
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 3))
    time = poses.position.time.values
    bouts = interactions.bouts
    for pair in interactions.centroid_distance.pairs.values:
        line, = axes.plot(time, interactions.centroid_distance.sel(pairs=pair).values, lw=0.8, label=str(pair))
        colour = line.get_color()
        axes.axhline(float(interactions.contact_threshold.sel(pairs=pair)), color=colour, ls=":", lw=0.8)
        a, b = str(pair).split("-", 1)
        mine = bouts[(bouts["kind"] == "contact") & (bouts["animal_a"] == a) & (bouts["animal_b"] == b)]
        half = poses.units.frame_time / 2
        for start, end in zip(mine["start"], mine["end"]):
            axes.axvspan(start - half, end + half, color=colour, alpha=0.2, lw=0)
    title = "Centroid distance (shaded: contact bouts; dotted: contact threshold)"
    return save_over_time(figure, axes, poses, f"distance ({poses.units.length})", title, "pair", out_dir / "distance.png")


def save_over_time(figure, axes, poses: Poses, ylabel: str, title: str, legend_title: str, path: Path) -> Path:
    """Label a plot against time (axes, title, legend) and save it."""
    axes.set_xlabel(f"time ({poses.units.time})")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(title=legend_title, fontsize="small", loc="upper right")
    figure.tight_layout()
    return save(figure, path)


def occupancy(poses: Poses, out_dir: Path) -> Path:
    """Where each animal's centroid spent its time: a 2-d histogram per animal."""
    plt = pyplot()
    animals = poses.animals
    figure, grid = plt.subplots(1, len(animals), figsize=(3.2 * len(animals), 3.2), squeeze=False)
    centre = poses.position.sel(keypoints=CENTROID)
    extent = arena(poses)
    if extent is None:
        values = centre.values
        extent = (float(np.nanmax(values[:, 0])) + 1, float(np.nanmax(values[:, 1])) + 1)
    bins = [np.linspace(0, extent[0], OCCUPANCY_BINS + 1), np.linspace(0, extent[1], OCCUPANCY_BINS + 1)]
    for axes, animal in zip(grid[0], animals):
        xy = centre.sel(individuals=animal).values
        seen = ~np.isnan(xy).any(axis=1)
        counts, _, _ = np.histogram2d(xy[seen, 0], xy[seen, 1], bins=bins)
        seconds = counts * poses.units.frame_time
        image = axes.imshow(seconds.T, origin="upper", extent=(0, extent[0], extent[1], 0), cmap="magma")
        figure.colorbar(image, ax=axes, fraction=0.046, label=f"time ({poses.units.time})")
        axes.set_title(f"Occupancy: {animal}")
        axes.set_xlabel(f"x ({poses.units.length})")
        axes.set_ylabel(f"y ({poses.units.length})")
    figure.tight_layout()
    return save(figure, out_dir / "occupancy.png")


def make_figures(poses: Poses, kinematics: Kinematics, interactions: Interactions, out_dir: Path) -> list[Path]:
    """Write every figure; return the paths written."""
    paths = [trajectories(poses, out_dir), speed(poses, kinematics, out_dir), distance(poses, interactions, out_dir), occupancy(poses, out_dir)]
    return [path for path in paths if path is not None]
