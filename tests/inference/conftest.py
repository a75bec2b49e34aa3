"""Fixtures of the real-time and image-input tests: a tiny top-down pair and a short clip."""

from pathlib import Path

import pytest

from posenn.autoconfig import config_from_labels
from posenn.config import with_overrides
from posenn.synth import generate
from posenn.training.run import train

TINY = ["train.epochs=2", "train.steps_per_epoch=60", "train.batch_size=4", "model.backbone.filters=8",
        "train.early_stopping_patience=null", "inference.peak_threshold=0.0", "data.val_fraction=0.1", "train.device=cpu"]


def train_tiny_pair(folder: Path, budget: list[str]) -> list[Path]:
    """A centroid and a centered-instance model trained for `budget` (dotted overrides) on 20
    synthetic frames of two animals (128×128); their folders."""
    labels = generate(folder / "synth", animals=2, frames=20, size=128, seed=0)
    folders = []
    for model_type in ("centroid", "centered_instance"):
        config = with_overrides(config_from_labels(labels, model_type, "user"), budget + [f"train.run_dir={folder / model_type}"])
        folders.append(train(config, quiet=True))
    return folders


@pytest.fixture(scope="session")
def pair_trainer():
    """`train_tiny_pair`, for test modules that train their own pair with another budget."""
    return train_tiny_pair


@pytest.fixture(scope="session")
def realtime_pair(tmp_path_factory) -> list[Path]:
    """A top-down pair trained briefly on synthetic animals (128×128): enough to find both
    animals in every frame, which is all these tests need."""
    return train_tiny_pair(tmp_path_factory.mktemp("realtime_pair"), TINY)


@pytest.fixture(scope="session")
def realtime_clip(tmp_path_factory) -> Path:
    """A 40-frame synthetic video of two animals crossing (128×128)."""
    return generate(tmp_path_factory.mktemp("realtime_clip") / "clip", animals=2, frames=40, size=128, seed=3).with_suffix(".mp4")
