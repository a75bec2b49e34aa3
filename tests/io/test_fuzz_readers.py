"""Fuzzing the readers: random bit flips and truncations of a valid `.slp` and a valid config
give a clear `PosennError` or a valid load, never another exception (and never a hang)."""

from pathlib import Path

import numpy as np
import pytest

from posenn.autoconfig import config_from_labels
from posenn.config import Config, load_config, save_config
from posenn.errors import PosennError
from posenn.io.labels import load_labels
from posenn.synth import generate

CASES = 150


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("fuzz"), animals=2, frames=4, size=64, seed=0)


def corruptions(data: bytes, seed: int):
    """`CASES` damaged copies of `data`: every third truncated at a random byte, the others with
    1 to 16 random bits flipped."""
    rng = np.random.default_rng(seed)
    for case in range(CASES):
        blob = bytearray(data)
        if case % 3 == 0:
            yield bytes(blob[: rng.integers(0, len(blob))])
            continue
        for position in rng.integers(0, len(blob), rng.integers(1, 17)):
            blob[position] ^= 1 << int(rng.integers(0, 8))
        yield bytes(blob)


@pytest.mark.timeout(120, method="thread")
def test_damaged_labels_load_or_give_a_clear_error(labels):
    damaged = labels.with_name("damaged.slp")  # beside the video, so undamaged records find it
    outcomes = {"loaded": 0, "refused": 0}
    for blob in corruptions(labels.read_bytes(), seed=0):
        damaged.write_bytes(blob)
        try:
            load_labels(damaged)
            outcomes["loaded"] += 1
        except PosennError as exc:
            assert str(damaged) in str(exc)
            outcomes["refused"] += 1
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes


@pytest.mark.timeout(60, method="thread")
def test_damaged_configs_load_or_give_a_clear_error(labels, tmp_path):
    valid = tmp_path / "valid.yaml"
    save_config(config_from_labels(labels, "centroid", "user"), valid)
    damaged = tmp_path / "damaged.yaml"
    outcomes = {"loaded": 0, "refused": 0}
    for blob in corruptions(valid.read_bytes(), seed=1):
        damaged.write_bytes(blob)
        try:
            assert isinstance(load_config(damaged), Config)
            outcomes["loaded"] += 1
        except PosennError as exc:
            assert str(damaged) in str(exc)
            outcomes["refused"] += 1
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes
