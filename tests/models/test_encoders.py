"""timm backbones: every head on every encoder, pretrained weights from a file, fine-tuning across
skeletons (`train.init_from`), training, prediction and ONNX export end to end."""

from __future__ import annotations

import pytest
import sleap_io as sio
import torch

from posenn.autoconfig import config_from_labels
from posenn.config import config_to_dict, save_config, validate_config, with_overrides
from posenn.errors import PosennError
from posenn.models.encoders import TimmBackbone, load_encoder_weights, load_pretrained
from posenn.models.model import build_head, build_model
from posenn.synth import generate
from posenn.training.init_from import initialize_from
from posenn.training.module import PoseModule

timm = pytest.importorskip("timm")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

TYPES = ["single_instance", "centroid", "centered_instance", "bottomup", "multiclass_bottomup", "multiclass_topdown"]
# pvt_v2_b0: a pyramid vision transformer (ViT-style attention blocks, features at strides 4–32).
ENCODERS = ["resnet18", "convnext_atto", "efficientnet_b0", "hrnet_w18_small", "pvt_v2_b0"]


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("encoders"), animals=2, frames=6, size=96, seed=0, identity=True)


def small_config(labels, model_type: str, encoder: str, *overrides: str):
    config = config_from_labels(labels, model_type, "user")
    return with_overrides(
        config, [f"model.backbone.name={encoder}", "model.backbone.max_stride=16", "model.backbone.filters=4", *overrides]
    )


# Every head on ResNet; the other encoders on the heads that also read other strides.
CASES = [(model_type, "resnet18") for model_type in TYPES] + [
    (model_type, encoder) for encoder in ENCODERS[1:] for model_type in ("bottomup", "multiclass_topdown")
]


@pytest.mark.parametrize(("model_type", "encoder"), CASES)
def test_every_head_trains_on_every_encoder(labels, training_step, model_type, encoder):
    torch.manual_seed(0)
    module = PoseModule(config_to_dict(small_config(labels, model_type, encoder)))
    _, loss = training_step(module)
    assert torch.isfinite(loss) and loss > 0
    # Every decoder and output weight learns; some encoders keep stages beyond max_stride unused.
    assert all(p.grad is not None for n, p in module.model.named_parameters() if not n.startswith("backbone.encoder."))
    assert module.model.backbone.encoder.state_dict().keys() and any(
        p.grad is not None for p in module.model.backbone.encoder.parameters()
    )


@pytest.mark.parametrize(("model_type", "encoder"), CASES)
def test_every_head_exports_on_every_encoder(labels, tmp_path, model_type, encoder):
    """The ONNX graph gives PyTorch's outputs (maps and the second output) for each pair."""
    from posenn.inference.onnx import export_model

    torch.manual_seed(0)
    config = small_config(labels, model_type, encoder)
    model = build_model(config, build_head(config)).eval()
    assert export_model(model, config.data.channels, 64, 64, tmp_path / "model.onnx") < 1e-3


def test_backbone_strides_and_channels():
    backbone = TimmBackbone("resnet18", 1, max_stride=16, output_stride=2, filters=8)
    features = backbone.features(torch.rand(1, 1, 64, 96))
    assert sorted(features) == [2, 4, 8, 16]
    for stride, tensor in features.items():
        assert tensor.shape == (1, backbone.channels_at(stride), 64 // stride, 96 // stride)
    assert backbone.channels_at(16) == 256 and backbone.channels_at(2) == 16  # encoder at 16, decoder 8 * 2**log2(2)
    with pytest.raises(PosennError, match=r"max_stride 64: the resnet18 encoder gives features at strides \[2, 4, 8, 16, 32\]"):
        TimmBackbone("resnet18", 1, max_stride=64, output_stride=2)
    with pytest.raises(PosennError, match="'resnet_eighteen' is not a timm model"):
        TimmBackbone("resnet_eighteen", 1, max_stride=16, output_stride=2)


@pytest.mark.parametrize(("encoder", "suffix"), [("resnet18", ".pth"), ("convnext_atto", ".safetensors")])
def test_pretrained_weights_from_a_file_load_exactly(tmp_path, encoder, suffix):
    torch.manual_seed(1)
    full = timm.create_model(encoder, in_chans=3)  # a classifier checkpoint, as timm publishes them
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    else:
        torch.save(full.state_dict(), path)
    backbone = TimmBackbone(encoder, 3, max_stride=32, output_stride=4)
    loaded = load_pretrained(backbone, str(path))
    encoder_state = backbone.encoder.state_dict()
    assert sorted(loaded) == sorted(encoder_state)
    source = full.state_dict()
    for key, value in encoder_state.items():
        original = source[key] if key in source else source[key.replace("_", ".", 1)]
        assert torch.equal(value, original), key


def test_grayscale_model_sums_an_rgb_stem(tmp_path):
    full = timm.create_model("resnet18", in_chans=3)
    torch.save(full.state_dict(), tmp_path / "rgb.pth")
    backbone = TimmBackbone("resnet18", 1, max_stride=16, output_stride=4)
    load_encoder_weights(backbone, tmp_path / "rgb.pth")
    assert torch.equal(backbone.encoder.conv1.weight, full.conv1.weight.sum(dim=1, keepdim=True))


def test_pretrained_errors_say_what_was_looked_for(tmp_path, monkeypatch):
    backbone = TimmBackbone("resnet18", 1, max_stride=16, output_stride=4)
    with pytest.raises(PosennError, match="not found; expected a weights file"):
        load_pretrained(backbone, str(tmp_path / "missing.pth"))
    torch.save({"conv1.weight": torch.zeros(64, 1, 7, 7)}, tmp_path / "partial.pth")
    with pytest.raises(PosennError, match="has no tensor 'bn1.weight' of the resnet18 encoder"):
        load_pretrained(backbone, str(tmp_path / "partial.pth"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 does
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(PosennError, match="could not load the pretrained weights of resnet18.*Offline, put them in timm's cache"):
        load_pretrained(backbone, True)


def model_folder(config, model, folder):
    """A posenn model folder holding `model`'s weights."""
    folder.mkdir(parents=True)
    save_config(config, folder / "config.yaml")
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, folder / "best.ckpt")
    return folder


def test_init_from_keeps_the_backbone_and_the_nodes_both_skeletons_have(tmp_path):
    def config(nodes, edges):
        return validate_config({
            "data": {"skeleton": {"nodes": nodes, "edges": edges}},
            "model": {"type": "bottomup", "output_stride": 4, "backbone": {"filters": 4, "max_stride": 16}},
        })

    source_config = config(["head", "thorax", "tail"], [["head", "thorax"], ["thorax", "tail"]])
    torch.manual_seed(0)
    source = build_model(source_config, build_head(source_config))
    folder = model_folder(source_config, source, tmp_path / "source")

    target_config = config(["thorax", "head", "wing"], [["head", "thorax"], ["thorax", "wing"]])
    torch.manual_seed(1)
    target = build_model(target_config, build_head(target_config))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    report = initialize_from(target, target_config, folder)

    after, original = target.state_dict(), source.state_dict()
    backbone_keys = [k for k in after if k.startswith("backbone.")]
    assert set(backbone_keys) <= set(report.kept)
    assert all(torch.equal(after[k], original[k]) for k in backbone_keys)
    assert report.channels["head"] == (["thorax", "head"], ["wing"])
    assert torch.equal(after["head.weight"][0], original["head.weight"][1])  # thorax
    assert torch.equal(after["head.weight"][1], original["head.weight"][0])  # head
    assert torch.equal(after["head.weight"][2], before["head.weight"][2])  # wing: fresh
    assert report.channels["extra_head"] == (["head->thorax.x", "head->thorax.y"], ["thorax->wing.x", "thorax->wing.y"])
    assert torch.equal(after["extra_head.weight"][:2], original["extra_head.weight"][:2])
    assert torch.equal(after["extra_head.weight"][2:], before["extra_head.weight"][2:])


def test_init_from_a_model_of_another_backbone_is_refused(tmp_path, labels):
    source_config = small_config(labels, "centroid", "resnet18")
    source = build_model(source_config, build_head(source_config))
    folder = model_folder(source_config, source, tmp_path / "resnet")
    target_config = config_from_labels(labels, "centroid", "user")
    target = build_model(target_config, build_head(target_config))
    with pytest.raises(PosennError, match="none of its encoder tensors fits this model"):
        initialize_from(target, target_config, folder)


@pytest.mark.parametrize("encoder", ["convnext_atto", "pvt_v2_b0"])
def test_a_timm_model_trains_predicts_and_exports(labels, tmp_path, encoder):
    from posenn.inference.onnx import export_model
    from posenn.inference.predictor import read_model_folder
    from posenn.inference.run import TrackOptions, track_inputs
    from posenn.training.run import train

    budget = [f"train.run_dir={tmp_path / 'model'}", "train.epochs=1", "train.steps_per_epoch=3", "train.batch_size=2",
              "train.encoder_lr_factor=0.1", "train.freeze_encoder_epochs=1"]
    folder = train(small_config(labels, "single_instance", encoder, *budget), quiet=True)
    config, network = read_model_folder(folder)
    assert config.model.backbone.name == encoder
    track_inputs([labels], [folder], tmp_path / "predictions.slp", TrackOptions(device="cpu", quiet=True))
    assert (tmp_path / "predictions.slp").stat().st_size > 0
    assert export_model(network, 1, 96, 96, tmp_path / "model.onnx") < 1e-3


def test_deeplabcut_labels_train_as_they_are(shared_data, tmp_path):
    """The openfield mouse project's CollectedData CSV (116 frames, 4 parts) is read through
    sleap-io, its images found beside it, and trained on without conversion."""
    from posenn.training.run import train

    csv = shared_data / "openfield_mouse" / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv"
    if not csv.is_file():
        pytest.skip(f"sample data not found at {csv}")
    config = config_from_labels(csv, "single_instance", "user")
    assert sorted(config.data.skeleton.nodes) == ["leftear", "rightear", "snout", "tailbase"]
    budget = [f"train.run_dir={tmp_path / 'mouse'}", "train.epochs=1", "train.steps_per_epoch=2", "model.backbone.filters=4"]
    folder = train(with_overrides(config, budget), quiet=True)
    held_out = sio.load_slp(str(folder / "labels_val.slp"), open_videos=False)
    assert len(held_out.labeled_frames) + len(sio.load_slp(str(folder / "labels_train.slp"), open_videos=False)) == 116
    assert all(name.endswith(".png") for name in held_out.videos[0].filename)


def test_fine_tuning_starts_from_a_sleap_nn_model(shared_data, tmp_path):
    """A sleap-nn centroid model's UNet (imported on the fly) starts a posenn run of the same shape."""
    from posenn.interop.folders import load_foreign, read_foreign
    from posenn.interop.model import posenn_config

    source = shared_data / "interop" / "sleap_nn_models" / "minimal_instance_centroid"
    if not source.is_dir():
        pytest.skip(f"sample data not found at {source}")
    config = posenn_config(read_foreign(source))
    model = build_model(config, build_head(config))
    report = initialize_from(model, config, source)
    assert not report.fresh and report.channels["head"] == (["centroid"], [])
    _, original, _ = load_foreign(source)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), original.state_dict().values()))
