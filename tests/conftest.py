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
