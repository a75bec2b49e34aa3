"""ONNX export and the ONNX Runtime model: same outputs as PyTorch, any batch size, errors."""

import pytest
import torch

from posenn.errors import PosennError
from posenn.inference.onnx import OnnxModel, export_bytes, export_model, make_session, output_names
from posenn.models.model import ClassVectors, PoseModel
from posenn.models.unet import UNet

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("torch_single_thread")


def small_model(n_classes: int = 0, **outputs) -> PoseModel:
    torch.manual_seed(0)
    backbone = UNet(1, filters=4, max_stride=8, output_stride=2, convs_per_block=1)
    classifier = ClassVectors(backbone.channels_at(8), n_classes) if n_classes else None
    return PoseModel(backbone, 3, classifier=classifier, **outputs).eval()


@pytest.mark.parametrize(
    "outputs",
    [{}, {"extra_channels": 4, "extra_stride": 4}, {"extra_channels": 2, "extra_sigmoid": True}, {"n_classes": 2}],
)
def test_onnx_model_matches_pytorch_for_each_output_kind(outputs):
    model = small_model(**outputs)
    onnx_model = OnnxModel(model, channels=1, threads=1)
    for batch in (1, 3):  # the batch axis is dynamic
        images = torch.rand(batch, 1, 40, 56)
        with torch.inference_mode():
            expected = model(images)
        found = onnx_model(images)
        expected = expected if isinstance(expected, tuple) else (expected,)
        found = found if isinstance(found, tuple) else (found,)
        assert len(found) == len(expected) == len(output_names(model))
        for e, f in zip(expected, found):
            torch.testing.assert_close(f, e, atol=1e-4, rtol=1e-4)
    assert list(onnx_model.sessions) == [(40, 56)]  # exported once for this size


def test_export_writes_a_checked_graph(tmp_path):
    import onnx

    path = tmp_path / "model.onnx"
    difference = export_model(small_model(extra_channels=4, extra_stride=4), 1, 32, 48, path)
    assert difference < 1e-4
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == ["images"]
    assert [o.name for o in graph.graph.output] == ["maps", "second_maps"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_export_size_must_fit_the_stride(tmp_path):
    with pytest.raises(PosennError, match="multiple of the model's max stride"):
        export_model(small_model(), 1, 30, 32, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_sessions_let_idle_threads_sleep():
    session = make_session(export_bytes(small_model(), 1, 32, 32), threads=2)
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
