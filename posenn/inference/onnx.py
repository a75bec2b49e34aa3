"""ONNX: export a trained model for deployment, and run it with ONNX Runtime.

A model is exported for one input size (height × width) with a dynamic batch axis: the size of
frames (or crops) is fixed within a video, the number of frames or crops per batch is not.
`OnnxModel` exports once per input size it meets and then runs the graph with ONNX Runtime; on
this project's 2-core CPU that ran the top-down pair about 1.6× faster than PyTorch in float32
(see `benchmarks/speed_ceilings.py`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from posenn.errors import PosennError
from posenn.io.atomic import atomic_path
from posenn.models.model import Outputs, PoseModel

# Outputs agree with PyTorch to this much (the graph is the same arithmetic, reordered).
TOLERANCE = 1e-3


def output_names(model: PoseModel) -> list[str]:
    """Names of the graph's outputs: part maps, then fields or class maps, or class logits."""
    if model.extra_head is not None:
        return ["maps", "second_maps"]
    if model.classifier is not None:
        return ["maps", "class_logits"]
    return ["maps"]


def export_bytes(model: PoseModel, channels: int, height: int, width: int, opset: int = 17) -> bytes:
    """The ONNX graph of `model` for `(batch, channels, height, width)` float inputs in [0, 1]."""
    buffer = io.BytesIO()
    example = torch.rand(1, channels, height, width)
    names = output_names(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it records as constants
        torch.onnx.export(
            model.cpu().eval(), (example,), buffer, dynamo=False, opset_version=opset,
            input_names=["images"], output_names=names,
            dynamic_axes={name: {0: "batch"} for name in ["images", *names]},
        )
    return buffer.getvalue()


def make_session(graph: bytes, threads: int):
    """An ONNX Runtime CPU session for a serialized graph."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # Idle worker threads sleep instead of spinning: spinning took the cores from the rest of the
    # predict loop, and this ran the top-down pair 1.4× faster on 2 cores (speed_ceilings.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """Runs a `PoseModel` with ONNX Runtime on the CPU; a drop-in for the model's forward.

    Inputs and outputs are torch tensors, as for the `PoseModel`; a graph is exported the first
    time an input size is seen.
    """

    def __init__(self, model: PoseModel, channels: int, threads: int | None = None):
        self.model = model.cpu().eval()
        self.channels = channels
        self.threads = threads or torch.get_num_threads()
        self.sessions: dict[tuple[int, int], object] = {}

    def __call__(self, images: torch.Tensor) -> Outputs:
        height, width = images.shape[-2:]
        session = self.sessions.get((height, width))
        if session is None:
            session = make_session(export_bytes(self.model, self.channels, height, width), self.threads)
            self.sessions[(height, width)] = session
        outputs = session.run(None, {"images": images.detach().cpu().float().numpy()})
        tensors = tuple(torch.from_numpy(output).to(images.device) for output in outputs)
        return tensors if len(tensors) > 1 else tensors[0]


def check_agreement(model: PoseModel, graph: bytes, channels: int, height: int, width: int) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime outputs on a random batch.

    Raises:
        PosennError: when it exceeds `TOLERANCE`.
    """
    images = torch.rand(2, channels, height, width, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model.cpu().eval()(images)
    expected = expected if isinstance(expected, tuple) else (expected,)
    found = make_session(graph, torch.get_num_threads()).run(None, {"images": images.numpy()})
    difference = max(float(np.abs(e.numpy() - f).max()) for e, f in zip(expected, found))
    if difference > TOLERANCE:
        raise PosennError(f"The ONNX graph differs from the PyTorch model by {difference:.2g} (more than {TOLERANCE}).")
    return difference


def export_model(model: PoseModel, channels: int, height: int, width: int, output: Path) -> float:
    """Write the checked ONNX graph to `output` (atomically); return the largest output difference."""
    if height % model.backbone.max_stride or width % model.backbone.max_stride:
        stride = model.backbone.max_stride
        raise PosennError(f"Export size {height}×{width} must be a multiple of the model's max stride ({stride}).")
    graph = export_bytes(model, channels, height, width)
    difference = check_agreement(model, graph, channels, height, width)
    with atomic_path(Path(output)) as partial:
        Path(partial).write_bytes(graph)
    return difference
