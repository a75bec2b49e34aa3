"""Every model type goes through the training module: targets, loss, gradients, validation."""

import pytest
import torch

from posenn.autoconfig import config_from_labels
from posenn.config import config_to_dict
from posenn.synth import generate
from posenn.training.module import PoseModule

pytestmark = pytest.mark.usefixtures("torch_single_thread")
TYPES = ["single_instance", "centroid", "centered_instance", "bottomup", "multiclass_bottomup", "multiclass_topdown"]


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("types"), animals=2, frames=3, size=96, seed=0, identity=True)


@pytest.mark.parametrize("model_type", TYPES)
def test_training_step_and_validation_output(labels, training_step, model_type):
    torch.manual_seed(0)
    config = config_from_labels(labels, model_type, "user")
    config.model.backbone.filters = 4
    module = PoseModule(config_to_dict(config))
    prepared, loss = training_step(module)
    assert torch.isfinite(loss) and loss > 0
    assert all(p.grad is not None for p in module.model.parameters() if p.requires_grad)
    module.eval()
    with torch.no_grad():
        truth, points, scores, areas = module.validation_output(prepared, module(prepared["image"]))
    instances = 1 if model_type in ("single_instance", "centered_instance", "multiclass_topdown") else 2
    assert truth.shape == (2, instances, 1 if model_type == "centroid" else 15, 2)
    assert points.shape[0] == 2 and points.shape[2:] == truth.shape[2:]
    assert scores.shape == points.shape[:2] and areas.shape == truth.shape[:2]


@pytest.mark.parametrize(
    "val_precision, native, train_precision, expected",
    [("bf16", False, "32", torch.bfloat16), ("auto", True, "32", torch.bfloat16), ("auto", False, "32", None),
     ("32", True, "32", None), ("bf16", True, "bf16-mixed", None)],
)
def test_validation_precision(labels, monkeypatch, val_precision, native, train_precision, expected):
    """bf16 autocast for validation of float32 runs when asked, or on "auto" where the device has
    native bfloat16; a mixed-precision run keeps Lightning's own autocast."""
    monkeypatch.setattr("posenn.training.module.has_native_bf16", lambda device: native)
    config = config_from_labels(labels, "centroid", "user")
    config.model.backbone.filters = 4
    config.train.val_precision, config.train.precision = val_precision, train_precision
    module = PoseModule(config_to_dict(config)).eval()
    with module.validation_precision():
        enabled = torch.is_autocast_enabled("cpu")
        dtype = torch.get_autocast_dtype("cpu")
    assert enabled == (expected is not None)
    if expected is not None:
        assert dtype == expected


def test_validation_forward_in_bf16_is_float32_and_close_to_float32(labels):
    torch.manual_seed(0)
    config = config_from_labels(labels, "centroid", "user")
    config.model.backbone.filters = 4
    module = PoseModule(config_to_dict(config)).eval()
    images = torch.rand(2, 1, 96, 96)
    with torch.no_grad():
        module.config.train.val_precision = "32"
        exact = module.validation_forward(images)
        module.config.train.val_precision = "bf16"
        reduced = module.validation_forward(images)
    assert reduced.dtype == torch.float32 and reduced.shape == exact.shape
    assert not torch.equal(reduced, exact)
    torch.testing.assert_close(reduced, exact, atol=0.02 * exact.abs().max().item(), rtol=0)
