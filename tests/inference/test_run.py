"""`posenn track`'s thread budget: OpenCV and PyTorch's own work run on one thread, the networks on
all of them, and every setting comes back afterwards."""

import cv2
import pytest
import torch

from posenn.inference.predictor import ThreadedModel
from posenn.inference.run import thread_budget


@pytest.fixture
def two_threads():
    threads, opencv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    yield
    torch.set_num_threads(threads)
    cv2.setNumThreads(opencv_threads)


@pytest.mark.usefixtures("two_threads")
def test_onnx_runs_leave_pytorch_one_thread_and_restore_it():
    with thread_budget("onnx"):
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)


@pytest.mark.usefixtures("two_threads")
def test_torch_runs_give_every_thread_to_the_networks_only():
    network = ThreadedModel(lambda images: torch.get_num_threads(), torch.get_num_threads())
    with thread_budget("torch"):
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
        assert network(torch.zeros(1)) == 2  # inside the network
        assert torch.get_num_threads() == 1  # and back after it
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)


@pytest.mark.usefixtures("two_threads")
def test_threads_are_restored_after_an_error():
    with pytest.raises(RuntimeError), thread_budget("onnx"):
        raise RuntimeError("decoding failed")
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
