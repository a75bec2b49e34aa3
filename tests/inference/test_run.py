"""`posenn track`'s thread budget: PyTorch yields the cores to ONNX Runtime, and gets them back."""

import pytest
import torch

from posenn.inference.run import torch_threads


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("two_threads")
def test_onnx_runs_leave_pytorch_one_thread_and_restore_it():
    with torch_threads("onnx"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_torch_runs_keep_every_thread():
    with torch_threads("torch"):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_threads_are_restored_after_an_error():
    with pytest.raises(RuntimeError), torch_threads("onnx"):
        raise RuntimeError("decoding failed")
    assert torch.get_num_threads() == 2
