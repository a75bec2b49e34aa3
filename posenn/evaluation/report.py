"""Show pose metrics as rich tables and save them as JSON.

Both take the dict returned by `posenn.evaluation.pose.evaluate_labels` / `evaluate_arrays`.
"""

import json
import math
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from posenn.io.atomic import write_text_atomic


def print_pose_report(metrics: dict, console: Console | None = None) -> None:
    """Print a summary table and a per-node distance table.

    Args:
        metrics: pose metrics dict; NaN or None values show as "-".
        console: where to print (default: a new `Console` on standard output).
    """
    console = console or Console()
    console.print(_summary_table(metrics))
    console.print(_per_node_table(metrics["per_node"]))


TRACKING_ROWS = [
    ("identity switches", "id_switches", 0),
    ("fragmentations", "fragmentations", 0),
    ("IDF1", "idf1", 3),
    ("MOTA", "mota", 3),
    ("MOTP (mean OKS of matches)", "motp_oks", 3),
    ("ground-truth tracks", "n_gt_tracks", 0),
    ("predicted tracks", "n_pred_tracks", 0),
    ("mostly tracked", "mostly_tracked", 0),
    ("mostly lost", "mostly_lost", 0),
    ("misses", "misses", 0),
    ("false positives", "false_positives", 0),
]


def print_tracking_report(metrics: dict, console: Console | None = None) -> None:
    """Print the tracking figures of `posenn.evaluation.tracking.evaluate_tracking`."""
    table = Table(title="Tracking")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, key, digits in TRACKING_ROWS:
        table.add_row(label, _number(metrics[key], digits))
    (console or Console()).print(table)


def write_json(metrics: dict, path: str | os.PathLike) -> None:
    """Write metrics as JSON, NaN as null, atomically (temporary file, then rename).

    Args:
        metrics: pose metrics dict.
        path: the JSON file to write.
    """
    write_text_atomic(Path(path), json.dumps(_nan_to_none(metrics), indent=2, allow_nan=False) + "\n")


def _nan_to_none(value):
    """A copy of nested dicts/lists with every NaN float replaced by None."""
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _summary_table(metrics: dict) -> Table:
    """Accuracy figures and counts, one per row."""
    table = Table(title="Pose accuracy")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("OKS mAP (0.50:0.95)", _number(metrics["oks_map"])),
        ("OKS AP@0.50", _number(metrics["oks_ap50"])),
        ("OKS AP@0.75", _number(metrics["oks_ap75"])),
        ("OKS mAR (0.50:0.95)", _number(metrics["oks_mar"])),
        ("PCK mean (1-10 px)", _number(metrics["pck_mean"])),
        *((f"PCK@{t} px", _number(v)) for t, v in metrics["pck"].items() if t in ("2", "5", "10")),
        *((f"PCK@{t}×size", _number(v)) for t, v in metrics["pck_size"].items()),
        ("distance mean (px)", _number(metrics["dist_mean"], 2)),
        ("distance p50 (px)", _number(metrics["dist_p50"], 2)),
        ("distance p90 (px)", _number(metrics["dist_p90"], 2)),
        ("distance p95 (px)", _number(metrics["dist_p95"], 2)),
        ("offset x, y p50 (px)", f"{_number(metrics['offset_x_p50'], 2)}, {_number(metrics['offset_y_p50'], 2)}"),
        ("visibility precision", _number(metrics["visibility_precision"])),
        ("visibility recall", _number(metrics["visibility_recall"])),
        ("frames", str(metrics["n_frames"])),
        ("ground-truth instances", str(metrics["n_gt_instances"])),
        ("predicted instances", str(metrics["n_pred_instances"])),
        ("matched pairs", str(metrics["n_matched"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _per_node_table(per_node: dict) -> Table:
    """Distance figures per node, one node per row."""
    table = Table(title="Distance per node (px)")
    table.add_column("node")
    for column in ("mean", "p50", "p90", "p95", "n"):
        table.add_column(column, justify="right")
    for node, stats in per_node.items():
        table.add_row(
            node,
            *(_number(stats[key], 2) for key in ("dist_mean", "dist_p50", "dist_p90", "dist_p95")),
            str(stats["n"]),
        )
    return table


def _number(value: float | None, digits: int = 3) -> str:
    """Format a figure, "-" when undefined."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"
