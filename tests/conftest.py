"""Shared fixtures: the SLEAP sample data in ../shared/data beside the project root."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the sample data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"sample data not found at {SHARED_DATA}: see shared/data/README.md")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_file(shared_data):
    """Factory: `shared_file("small_robot.mp4")` → its path; skips when that file is absent."""

    def get(name: str) -> Path:
        path = shared_data / name
        if not path.is_file():
            pytest.skip(f"sample data not found at {path}: see shared/data/README.md")
        return path

    return get


@pytest.fixture(scope="module")
def torch_single_thread():
    """Run torch on one thread for a module: small tensors on a busy 2-core machine are many times
    faster without OpenMP threads waiting for each other. Opt in with
    `pytestmark = pytest.mark.usefixtures("torch_single_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def training_step():
    """Factory: `training_step(module)` runs one augmented training step of a `PoseModule` on a
    random batch of 2 frames with 2 animals of 15 nodes (identities 0, 1 and 1, unknown), and
    returns the prepared batch and the loss, after its backward pass."""
    import torch

    def step(module):
        side = module.config.model.crop_size or 96
        batch = {
            "image": (torch.rand(2, 1, side, side) * 255).to(torch.uint8),
            "points": torch.rand(2, 2, 15, 2) * side * 0.5 + side * 0.25,
            "classes": torch.tensor([[0, 1], [1, -1]]),
        }
        prepared = module.prepare_batch(batch, augment=True)
        loss = module._loss(prepared, module(prepared["image"]))
        loss.backward()
        return prepared, loss

    return step


@pytest.fixture
def train_for_steps():
    """Factory: `train_for_steps(labels, model_type, run_dir, steps, overrides=(), instances="user")`
    trains a model from `posenn config`'s choices for `labels` for `steps` steps (epochs of 50, no
    early stop), with extra `key=value` settings, and returns its folder."""
    from posenn.autoconfig import config_from_labels
    from posenn.config import with_overrides
    from posenn.training.run import train

    def run(labels: Path, model_type: str, run_dir: Path, steps: int, overrides=(), instances: str = "user") -> Path:
        budget = [f"train.run_dir={run_dir}", f"train.epochs={steps // 50}", "train.steps_per_epoch=50",
                  "train.early_stopping_patience=null"]
        return train(with_overrides(config_from_labels(labels, model_type, instances), budget + list(overrides)), quiet=True)

    return run
