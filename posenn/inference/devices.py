"""Spreading `posenn track`'s inputs over several devices: one worker process per device."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from posenn.errors import PosennError


def parse_devices(text: str, available_gpus: int) -> list[str]:
    """`"cuda:0,cuda:1"`, `"all"` (every CUDA GPU) or any comma-separated device names.

    Raises:
        PosennError: for an empty list, `all` without GPUs, or a GPU this machine lacks.
    """
    if text == "all":
        if not available_gpus:
            raise PosennError("--devices all: no CUDA GPU is available on this machine.")
        return [f"cuda:{i}" for i in range(available_gpus)]
    devices = [part.strip() for part in text.split(",") if part.strip()]
    if not devices:
        raise PosennError(f"--devices '{text}': expected device names separated by commas, e.g. cuda:0,cuda:1, or all.")
    for device in devices:
        if device.startswith("cuda:") and not (device[5:].isdigit() and int(device[5:]) < available_gpus):
            raise PosennError(f"--devices: {device} is not one of this machine's {available_gpus} CUDA GPU(s).")
        if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
            raise PosennError(f"--devices: '{device}' is not a device (cpu, cuda:N or mps).")
    return devices


def worker(pairs: list[tuple[Path, Path]], model_dirs: list[Path], options) -> None:
    """One device's share of the inputs (runs in its own process)."""
    from posenn.inference.run import predict_inputs

    predict_inputs(pairs, model_dirs, options)


def track_on_devices(pairs: list[tuple[Path, Path]], model_dirs: list[Path], options, devices: list[str]) -> None:
    """Predict `(input, output)` pairs, input `i` on `devices[i % len(devices)]`, each device in
    its own process; progress counts finished outputs.

    Raises:
        PosennError: the first error of a worker, once all have stopped.
    """
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    console = Console(quiet=options.quiet)
    shares = [(pairs[k :: len(devices)], device) for k, device in enumerate(devices)]
    with context.Pool(len(devices)) as pool:
        results = [pool.apply_async(worker, (share, model_dirs, replace(options, device=device, quiet=True)))
                   for share, device in shares if share]
        console.print(f"Predicting {len(pairs)} inputs on {', '.join(devices)}.")
        done = 0
        while not all(result.ready() for result in results):
            finished = sum(Path(target).exists() for _, target in pairs)
            if finished != done:
                done = finished
                console.print(f"{done} of {len(pairs)} outputs written.")
            time.sleep(0.5)
        for result in results:
            result.get()  # re-raises a worker's error here
    console.print(f"{len(pairs)} of {len(pairs)} outputs written.")
