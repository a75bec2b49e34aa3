"""Shared by the benchmark scripts: training on a fixed step budget, tables, result files."""

from __future__ import annotations

import csv
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from posenn.autoconfig import config_from_labels
from posenn.config import with_overrides
from posenn.training.run import train

RESULTS_DIR = Path(__file__).parent / "results"


def train_model(labels: Path, model_type: str, run_dir: Path, steps: int, instances: str, overrides: list[str]) -> tuple[Path, float]:
    """Train one model from a starting config for `steps` steps; return its folder and seconds.

    `overrides` are dotted `key=value` settings, as on the command line.
    """
    budget = [f"train.run_dir={run_dir}", f"train.epochs={max(1, steps // 50)}", "train.steps_per_epoch=50",
              "train.early_stopping_patience=null"]
    config = with_overrides(config_from_labels(labels, model_type, instances), budget + overrides)
    start = time.perf_counter()
    train(config, quiet=True)
    return run_dir, time.perf_counter() - start


def training_loop(run_dir: Path) -> tuple[int, float]:
    """Steps and seconds from trainer set-up to the end of the last epoch, from training_log.csv."""
    with Path(run_dir, "training_log.csv").open(newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    return int(last["step"]), float(last["elapsed_s"])


def seconds_per_call(run: Callable[[], object], seconds: float) -> float:
    """Mean seconds of one `run()` over about `seconds` of repeats, after two warm-up calls."""
    run(), run()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        run()
        calls += 1
    return elapsed / calls


def machine() -> dict:
    """What the figures were measured on."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def report(title: str, rows: list[dict], name: str) -> None:
    """Print `rows` as a table and write them with the machine to results/NAME.json."""
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    Console(width=200).print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps({"machine": machine(), "results": rows}, indent=2))
