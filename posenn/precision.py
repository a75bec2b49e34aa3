"""Which devices run bfloat16 natively, so reduced precision is a speed-up rather than emulation."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this CPU (Linux); empty where `cpuinfo` cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_native_bf16(device: torch.device) -> bool:
    """True for a CUDA GPU with bfloat16 support, or a CPU with AVX-512 BF16 or AMX instructions."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(cpu_flags() & NATIVE_BF16_CPU_FLAGS)
    return False
