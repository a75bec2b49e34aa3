"""The `posenn` command line.

Errors in the user's input (`PosennError`) print one message and exit with code 2;
`posenn --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from posenn.errors import PosennError

app = typer.Typer(help="posenn: pose estimation and tracking for SLEAP labels.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
stderr = Console(stderr=True)
state = {"debug": False}


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False) -> None:
    state["debug"] = debug


def run(action: Callable[[], object]) -> None:
    """Run a command body; user errors become one red line and exit code 2."""
    try:
        action()
    except PosennError as exc:
        if state["debug"]:
            raise
        stderr.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        stderr.print("Interrupted.")
        raise typer.Exit(code=130) from None


@app.command("config")
def config_command(
    labels: Annotated[Path, typer.Argument(help="SLEAP labels (.slp) to derive the config from.")],
    model_type: Annotated[str, typer.Option("--type", help="Model type, e.g. single_instance.")] = "single_instance",
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the YAML config.")] = Path("config.yaml"),
    instances: Annotated[str, typer.Option(help="Which instances are labels: user, predicted or all.")] = "all",
) -> None:
    """Write a starting config from the labels (skeleton, scale, sigma, max stride)."""

    def action() -> None:
        from posenn.autoconfig import config_from_labels
        from posenn.config import save_config, validate_config

        validate_config({"model": {"type": model_type}, "data": {"instances": instances}}, source="posenn config")
        config = config_from_labels(labels, model_type, instances)
        save_config(config, output)
        Console().print(
            f"Wrote {output}: {len(config.data.skeleton.nodes)} nodes, scale {config.data.scale}, "
            f"sigma {config.model.sigma}, max stride {config.model.backbone.max_stride}."
        )

    run(action)


@app.command("train")
def train_command(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key=value overrides, e.g. train.epochs=3.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue an interrupted run folder.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train a model from a config (or resume a run)."""

    def action() -> None:
        from posenn.config import load_config
        from posenn.training.run import resume_config, train

        if resume is not None:
            extra = ([str(config)] if config is not None else []) + list(overrides or [])
            run_dir = train(resume_config(resume, extra), resume=True, quiet=quiet)
        elif config is None:
            raise PosennError("Give a config file (posenn train CONFIG.yaml) or --resume RUN_DIR.")
        else:
            run_dir = train(load_config(config, overrides or []), quiet=quiet)
        Console(quiet=quiet).print(f"Model folder: {run_dir}")

    run(action)


@app.command("track")
def track_command(
    input_path: Annotated[Path, typer.Argument(metavar="VIDEO_OR_SLP", help="A video, or a .slp whose labeled frames to predict.")],
    model: Annotated[list[Path], typer.Option("-m", "--model", help="Trained model folder.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output .slp (default: INPUT.predictions.slp).")] = None,
    frames: Annotated[Optional[str], typer.Option(help="Frame ranges, e.g. 0-99,200-300.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Frames per batch.")] = None,
    peak_threshold: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Minimum confidence of a part.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Predict poses on a video and write a SLEAP predictions file."""

    def action() -> None:
        from posenn.inference.run import TrackOptions, track

        if device not in ("auto", "cpu", "cuda", "mps"):
            raise PosennError(f"--device '{device}': expected auto, cpu, cuda or mps.")
        target = output or input_path.with_name(input_path.name + ".predictions.slp")
        options = TrackOptions(batch_size, peak_threshold, device, frames, quiet)
        track(input_path, model, target, options)

    run(action)


if __name__ == "__main__":
    sys.exit(app())
