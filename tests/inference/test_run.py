"""`posenn track`'s thread budget: OpenCV, and PyTorch under ONNX Runtime, yield the cores to the
networks, and get them back."""

import cv2
import pytest
import torch

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
def test_torch_runs_keep_every_torch_thread():
    with thread_budget("torch"):
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 1)
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)


@pytest.mark.usefixtures("two_threads")
def test_threads_are_restored_after_an_error():
    with pytest.raises(RuntimeError), thread_budget("onnx"):
        raise RuntimeError("decoding failed")
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
