"""`posenn analyze`: predictions in, tables, summary and figures out, with a progress bar."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import xarray as xr
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from posenn.analysis.figures import make_figures
from posenn.analysis.interactions import compute_interactions
from posenn.analysis.kinematics import compute_kinematics
from posenn.analysis.poses import Cleaning, load_poses
from posenn.analysis.tables import animal_table, kinematics_table, node_table, summary, write_summary, write_table


@dataclass
class AnalysisOptions:
    """Everything `analyze` can be told; the defaults suit most top-view videos.

    Attributes:
        cleaning: confidence threshold, gap filling, smoothing, fragment removal.
        px_per_mm: lengths in mm when given, else pixels.
        fps: frame rate; puts time in seconds and overrides the video's rate.
        seconds: time in seconds at the video's frame rate.
        centroid: node used as each animal's centre (default: mean of the visible nodes).
        axis: (tail, head) nodes of the body axis (default: found by node name).
        body_length: body length in the length unit instead of the tail-to-head estimate.
        still_speed: below this, in body lengths per second, an animal is still.
        pairs: extra node-to-node distances, "NODE_A:NODE_B".
        contact: contact closer than this many body lengths (centroid to centroid).
        approach: approaches close at least this many body lengths.
        min_bout_frames: shortest contact bout, frames.
        figures: write the PNG figures.
    """

    cleaning: Cleaning = field(default_factory=Cleaning)
    px_per_mm: float | None = None
    fps: float | None = None
    seconds: bool = False
    centroid: str | None = None
    axis: tuple[str, str] | None = None
    body_length: float | None = None
    still_speed: float = 0.2
    pairs: list[str] = field(default_factory=list)
    contact: float = 1.0
    approach: float = 1.0
    min_bout_frames: int = 3
    figures: bool = True


@dataclass
class AnalysisResult:
    """What `analyze` wrote and its headline numbers."""

    out_dir: Path
    files: list[Path]
    animals: int
    frames: int
    bouts: dict[str, int]
    summary: dict


def analyze(source: Path, out_dir: Path, options: AnalysisOptions | None = None, quiet: bool = False) -> AnalysisResult:
    """Kinematics and interactions of the animals in a predictions file, written to `out_dir`.

    Args:
        source: predictions `.slp` (or SLEAP analysis `.h5`) with one track per animal.
        out_dir: folder for `kinematics`, `nodes`, `animals`, `distances`, `bouts` tables
            (CSV, and parquet with pyarrow), `summary.json` and the PNG figures.
        options: units, cleaning, thresholds.
        quiet: no progress bar.

    Returns:
        The files written and a summary.

    Raises:
        PosennError: for unreadable or untracked predictions and bad option values.
    """
    options = options or AnalysisOptions()
    # numbagg compiles each reduction on first use (seconds each); bottleneck is compiled already
    with xr.set_options(use_numbagg=False, use_bottleneck=True):
        return run_analysis(Path(source), Path(out_dir), options, quiet)


def run_analysis(source: Path, out_dir: Path, options: AnalysisOptions, quiet: bool) -> AnalysisResult:
    """The body of `analyze`."""
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True, quiet=quiet), transient=True) as progress:
        task = progress.add_task("Loading predictions (movement)", total=6)

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        poses = load_poses(source, options.cleaning, options.px_per_mm, options.fps, options.seconds, options.centroid)
        step("Kinematics")
        kinematics = compute_kinematics(poses, options.axis, options.body_length, options.still_speed)
        step("Interactions")
        interactions = compute_interactions(poses, kinematics, options.pairs, options.contact, options.approach, options.min_bout_frames)
        step("Tables")
        nodes = node_table(poses, kinematics)
        animals = animal_table(poses, kinematics, nodes)
        tables = {
            "kinematics": kinematics_table(poses, kinematics), "nodes": nodes, "animals": animals,
            "distances": interactions.distances, "bouts": interactions.bouts,
        }
        files = [path for name, table in tables.items() for path in write_table(table, out_dir, name)]
        step("Figures")
        if options.figures:
            files += make_figures(poses, kinematics, interactions, out_dir)
        step("Summary")
        settings = asdict(options)
        data = summary(poses, kinematics, interactions, animals, settings)
        data["files"] = [path.name for path in files] + ["summary.json"]
        files.append(write_summary(data, out_dir))
        step("Done")
    counts = interactions.bouts["kind"].value_counts()
    return AnalysisResult(
        out_dir=out_dir, files=files, animals=len(poses.animals), frames=int(poses.position.sizes["time"]),
        bouts={kind: int(counts.get(kind, 0)) for kind in ("contact", "approach")}, summary=data,
    )
