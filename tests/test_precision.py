"""Native bfloat16 detection from the CPU's flags."""

import torch

from posenn import precision


def test_cpu_flags_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse2", "avx512f", "avx512_bf16"}


def test_cpu_flags_is_empty_without_cpuinfo(tmp_path):
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()


def test_native_bf16_on_cpu_follows_the_flags(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert precision.has_native_bf16(cpu)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx2"}))
    assert not precision.has_native_bf16(cpu)
    assert not precision.has_native_bf16(torch.device("meta"))
