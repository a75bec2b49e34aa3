"""Fixtures of the zoo tests: an untrained top-down pair served by a zoo index of its own."""

import json
from pathlib import Path

import pytest
import torch

from posenn.autoconfig import config_from_labels
from posenn.config import save_config, with_overrides
from posenn.models.model import build_head, build_model
from posenn.synth import generate
from posenn.zoo.fetch import sha256_of

SMALL = ["model.backbone.filters=4", "model.backbone.max_stride=8", "train.device=cpu"]


@pytest.fixture(scope="session")
def synth_clip(tmp_path_factory) -> Path:
    """A 12-frame synthetic video of two animals (96×96) with its labels."""
    return generate(tmp_path_factory.mktemp("zoo_clip") / "clip", animals=2, frames=12, size=96, seed=1)


@pytest.fixture(scope="session")
def pair_source(tmp_path_factory, synth_clip) -> Path:
    """A folder with `centroid/` and `centered_instance/` model folders (random weights, seed 0)."""
    root = tmp_path_factory.mktemp("zoo_source") / "pair"
    torch.manual_seed(0)
    for model_type in ("centroid", "centered_instance"):
        config = with_overrides(config_from_labels(synth_clip, model_type, "user"), SMALL)
        model = build_model(config, build_head(config))
        (root / model_type).mkdir(parents=True)
        save_config(config, root / model_type / "config.yaml")
        torch.save({"state_dict": {f"model.{key}": value for key, value in model.state_dict().items()}}, root / model_type / "best.ckpt")
    return root


def make_entry(name: str, source: Path, urls: bool = True, **changes) -> dict:
    """A zoo index entry for the pair in `source`: files served by `file://` URLs, or (urls=False)
    lying beside the index in models/NAME/."""
    files = [
        {"path": str(path.relative_to(source)), "sha256": sha256_of(path), "size": path.stat().st_size,
         "url": path.as_uri() if urls else None}
        for path in sorted(source.rglob("*")) if path.is_file()
    ]
    card = {
        "name": name, "animal": "synthetic animal", "setup": "two animals from above", "model_type": "topdown",
        "parts": ["centroid", "centered_instance"], "nodes": ["a", "b"], "input": "96×96, 1 channel",
        "metrics": {"oks_map": 0.5, "dist_p50": 1.25}, "data": "posenn synth", "data_licence": "CC0",
        "split": "none", "training": "none", "command": "none", "works_when": "tests", "files": files,
    }
    return {**card, **changes}


@pytest.fixture
def entry():
    """`make_entry`, for the tests."""
    return make_entry


@pytest.fixture
def zoo_index(tmp_path, monkeypatch):
    """Factory: `zoo_index([entry, ...])` writes an index, adds it through POSENN_ZOO_INDEX and
    points the cache at a fresh folder; returns the index path."""
    monkeypatch.setenv("POSENN_ZOO_DIR", str(tmp_path / "cache"))

    def write(entries: list[dict], name: str = "index.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"version": 1, "models": entries}))
        monkeypatch.setenv("POSENN_ZOO_INDEX", str(path))
        return path

    return write
