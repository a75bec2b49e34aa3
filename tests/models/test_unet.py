"""UNet backbone and PoseModel: output shapes, any input size, receptive field, stride checks."""

import math

import pytest
import torch
from torch import nn

from posenn.config import Config
from posenn.models.model import PoseModel, build_model
from posenn.models.unet import UNet
from posenn.heads.single_instance import SingleInstanceHead

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.mark.parametrize("upsampling", ["bilinear", "bilinear_conv", "transposed"])
@pytest.mark.parametrize("max_stride, output_stride", [(8, 1), (8, 2), (8, 8), (16, 1), (16, 2), (16, 4), (32, 2), (32, 4)])
def test_unet_output_shape(max_stride, output_stride, upsampling):
    torch.manual_seed(0)
    unet = UNet(in_channels=3, filters=4, filters_rate=1.5, max_stride=max_stride, output_stride=output_stride,
                convs_per_block=1, upsampling=upsampling)
    height, width = 2 * max_stride, 3 * max_stride
    out = unet(torch.rand(2, 3, height, width))
    level = int(math.log2(output_stride))
    assert unet.out_channels == round(4 * 1.5**level)
    assert out.shape == (2, unet.out_channels, height // output_stride, width // output_stride)
    assert torch.isfinite(out).all()


def test_bilinear_decoder_matches_sleap_nn_parameter_count():
    """Interpolation alone, then the block on [upsampled, skip]: sleap-nn's UNet with
    `up_interpolate` and no batch norm has 1,917,704 parameters with a 24-channel head (filters 16,
    rate 2, max stride 16, output stride 4), as counted from its checkpoint."""
    unet = UNet(1, filters=16, max_stride=16, output_stride=4, upsampling="bilinear", batch_norm=False)
    model = PoseModel(unet, head_channels=24)
    assert sum(p.numel() for p in model.parameters()) == 1_917_704
    assert [block[0].in_channels for block in unet.decoder] == [256 + 128, 128 + 64]


def test_unknown_upsampling_is_refused():
    with pytest.raises(ValueError, match="upsampling must be .* or 'transposed_3x3_keras', got 'nearest'"):
        UNet(1, upsampling="nearest")


def test_unet_depth_and_widths():
    unet = UNet(in_channels=1, filters=8, filters_rate=2.0, max_stride=16, output_stride=2)
    assert unet.depth == 4
    assert len(unet.encoder) == 4
    assert len(unet.decoder) == len(unet.upsamples) == 3  # strides 8, 4, 2
    assert unet.out_channels == 16


@pytest.mark.parametrize("height, width", [(67, 101), (1, 1), (33, 16), (100, 7)])
@pytest.mark.parametrize("output_stride", [1, 2, 4])
def test_pose_model_any_input_size(height, width, output_stride):
    torch.manual_seed(0)
    backbone = UNet(in_channels=1, filters=4, max_stride=16, output_stride=output_stride, convs_per_block=1)
    model = PoseModel(backbone, head_channels=5).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, height, width))
    assert out.shape == (2, 5, math.ceil(height / output_stride), math.ceil(width / output_stride))


def test_pose_model_output_matches_the_padded_input():
    """Padding is at the bottom/right: the output is the top-left crop of the padded run."""
    torch.manual_seed(0)
    model = PoseModel(UNet(1, filters=4, max_stride=8, output_stride=2, convs_per_block=1), 3).eval()
    image = torch.rand(1, 1, 21, 30)
    padded = torch.nn.functional.pad(image, (0, 2, 0, 3))
    with torch.no_grad():
        out = model(image)
        full = model(padded)
    assert out.shape == (1, 3, 11, 15)
    torch.testing.assert_close(out, full[..., :11, :15])


def test_build_model_from_config():
    config = Config()
    config.data.channels = 3
    config.model.output_stride = 4
    config.model.backbone.filters = 4
    config.model.backbone.max_stride = 16
    model = build_model(config, SingleInstanceHead(7, 2.5, 4)).eval()
    assert model.backbone.max_stride == 16 and model.backbone.output_stride == 4
    with torch.no_grad():
        out = model(torch.rand(1, 3, 50, 45))
    assert out.shape == (1, 7, 13, 12)


@pytest.mark.parametrize(
    "max_stride, output_stride",
    [(12, 2), (16, 3), (16, 0), (0, 1), (8, 16), (-4, 1)],
)
def test_invalid_strides_raise_value_error(max_stride, output_stride):
    with pytest.raises(ValueError, match="stride"):
        UNet(1, max_stride=max_stride, output_stride=output_stride)


# --- receptive field ---------------------------------------------------------------------------


def empirical_fields(max_stride: int, output_stride: int, convs: int, upsampling: str) -> list[int]:
    """Horizontal extent (input pixels) of non-zero input gradient of single output cells.

    All weights positive and a constant positive input keep every ReLU open, so the gradient is
    non-zero exactly on the receptive field. Max pooling routes the gradient only to the argmax of
    each 2×2 window (with a constant input, always the top-left tie), which under-measures the
    field by one pixel per pool level; average pooling has the same 2×2 window, so it is swapped
    in to measure the field itself. The field of an upsampling network depends on where the cell
    sits relative to the coarse grid, so one value is returned per phase (max_stride/output_stride
    consecutive cells).
    """
    torch.manual_seed(0)
    unet = UNet(1, filters=1, filters_rate=1.0, max_stride=max_stride, output_stride=output_stride,
                convs_per_block=convs, upsampling=upsampling, batch_norm=False)
    with torch.no_grad():
        for module in unet.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.copy_(module.weight.abs() + 0.01)
                if module.bias is not None:
                    module.bias.fill_(0.01)
    unet.pool = nn.AvgPool2d(2)
    formula = unet.receptive_field()
    size = (2 * formula // max_stride + 4) * max_stride
    image = torch.ones(1, 1, size, size, requires_grad=True)
    out = unet(image)
    centre_row, centre_col = out.shape[-2] // 2, out.shape[-1] // 2
    fields = []
    for col in range(centre_col, centre_col + max_stride // output_stride):
        (grad,) = torch.autograd.grad(out[0, :, centre_row, col].sum(), image, retain_graph=True)
        columns = torch.nonzero(grad[0, 0].abs().sum(dim=0) > 0)[:, 0]
        assert 0 < columns.min() and columns.max() < size - 1, "field touches the border: enlarge the input"
        fields.append(int(columns.max() - columns.min() + 1))
    return fields


@pytest.mark.parametrize(
    "max_stride, output_stride, convs, upsampling",
    [
        (8, 8, 2, "bilinear"),  # no decoder
        (16, 16, 1, "transposed"),  # no decoder
        (2, 1, 1, "transposed"),  # one decoder level
        (4, 2, 2, "transposed"),  # one decoder level
    ],
)
def test_receptive_field_matches_measurement(max_stride, output_stride, convs, upsampling):
    fields = empirical_fields(max_stride, output_stride, convs, upsampling)
    assert len(set(fields)) == 1  # the same for every output cell
    unet = UNet(1, max_stride=max_stride, output_stride=output_stride, convs_per_block=convs, upsampling=upsampling)
    assert unet.receptive_field() == fields[0]


@pytest.mark.parametrize(
    "max_stride, output_stride, convs, upsampling",
    [(2, 1, 1, "bilinear_conv"), (8, 1, 2, "bilinear_conv"), (16, 2, 2, "bilinear_conv"), (2, 1, 1, "bilinear"), (4, 1, 1, "bilinear")],
)
def test_receptive_field_bilinear_matches_measurement(max_stride, output_stride, convs, upsampling):
    """Bilinear upsampling reads 2 coarse cells per fine cell, so each decoder level widens the
    field by one coarse cell beyond its convolutions (and the optional upsampling conv); the
    measured field is the same for every output cell while at most one level is pure
    interpolation."""
    fields = empirical_fields(max_stride, output_stride, convs, upsampling)
    assert len(set(fields)) == 1
    unet = UNet(1, max_stride=max_stride, output_stride=output_stride, convs_per_block=convs, upsampling=upsampling)
    assert unet.receptive_field() == fields[0]


@pytest.mark.parametrize(
    "max_stride, output_stride, convs, upsampling",
    [(8, 1, 2, "transposed"), (16, 2, 2, "transposed"), (4, 1, 1, "transposed"), (8, 1, 2, "bilinear"), (16, 2, 2, "bilinear")],
)
def test_receptive_field_multi_level_is_within_measured_range(max_stride, output_stride, convs, upsampling):
    """With two or more transposed-conv (or conv-free bilinear) levels the field depends on the
    output cell's phase (e.g. 92 or 100 px for max stride 8, output stride 1, transposed); the
    formula lies between."""
    fields = empirical_fields(max_stride, output_stride, convs, upsampling)
    unet = UNet(1, max_stride=max_stride, output_stride=output_stride, convs_per_block=convs, upsampling=upsampling)
    assert min(fields) <= unet.receptive_field() <= max(fields)
    assert max(fields) - min(fields) <= max_stride


def test_folded_batch_norms_give_the_same_outputs():
    from posenn.models.unet import fold_batch_norms

    torch.manual_seed(0)
    net = UNet(in_channels=1, filters=4, filters_rate=2.0, max_stride=8, output_stride=2, convs_per_block=2, batch_norm=True)
    with torch.no_grad():  # batch norms with statistics of their own, as after training
        for layer in net.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-1, 1)
                layer.running_var.uniform_(0.5, 2)
                layer.weight.uniform_(0.5, 2)
                layer.bias.uniform_(-1, 1)
    net.eval()
    images = torch.rand(2, 1, 32, 32)
    expected = net(images)
    folded = fold_batch_norms(net)
    assert not any(isinstance(layer, torch.nn.BatchNorm2d) for layer in folded.modules())
    torch.testing.assert_close(folded(images), expected, atol=1e-5, rtol=1e-4)
