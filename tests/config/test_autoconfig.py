"""`posenn config`: a starting config derived from the labels."""

import numpy as np
import pytest
import sleap_io as sio

from posenn.autoconfig import (
    MAX_FRAME_SIDE,
    TARGET_ANIMAL_SIZE,
    animal_size,
    choose_max_stride,
    config_from_labels,
    declared_or_named_symmetries,
    symmetries_from_names,
)
from posenn.config import load_config, save_config
from posenn.errors import PosennError
from posenn.io.labels import select_instances
from posenn.models.unet import UNet


@pytest.fixture(scope="module")
def dance_config(shared_file):
    return config_from_labels(shared_file("dance.mp4.labels.slp"), "single_instance")


@pytest.fixture(scope="module")
def flies_config(shared_file):
    return config_from_labels(shared_file("centered_pair_predictions.slp"), "single_instance")


def test_dance_config_skeleton_channels_symmetries(dance_config, shared_file):
    config = dance_config
    skeleton = sio.load_slp(str(shared_file("dance.mp4.labels.slp"))).skeleton
    assert config.data.skeleton.nodes == list(skeleton.node_names)
    assert len(config.data.skeleton.nodes) == 17
    assert config.data.skeleton.edges == [(e.source.name, e.destination.name) for e in skeleton.edges]
    assert config.data.channels == 3
    assert config.data.instances == "all"
    assert config.data.train_labels == shared_file("dance.mp4.labels.slp")
    symmetries = config.data.skeleton.symmetries
    for part in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        assert (f"left_{part}", f"right_{part}") in symmetries
    assert len(symmetries) == 8
    assert config.augment.flip == "horizontal"


def test_flies_config_skeleton_channels_symmetries(flies_config):
    config = flies_config
    assert len(config.data.skeleton.nodes) == 24
    assert config.data.channels == 1
    symmetries = config.data.skeleton.symmetries
    assert ("wingL", "wingR") in symmetries
    assert ("forelegL1", "forelegR1") in symmetries
    assert ("hindlegL3", "hindlegR3") in symmetries
    assert len(symmetries) == 10
    assert config.augment.flip == "horizontal"


@pytest.mark.parametrize("name", ["dance_config", "flies_config"])
def test_scale_sigma_and_stride_are_sensible(name, request):
    config = request.getfixturevalue(name)
    assert 0 < config.data.scale <= 1
    assert 1.5 <= config.model.sigma <= 5.0
    assert config.model.backbone.max_stride in (16, 32, 64)
    assert config.model.type == "single_instance"


def test_dance_scale_follows_animal_size_and_frame_side(dance_config, shared_file):
    """720×406 frames: scale ≤ 512/720; the dancer (~hundreds of px) is brought to ≤ 160 px."""
    labels = sio.load_slp(str(shared_file("dance.mp4.labels.slp")))
    points = [
        np.stack([inst.numpy()[:, :2] for inst in select_instances(frame, "all") if inst.n_visible])
        for frame in labels.labeled_frames
    ]
    size = animal_size(points)
    expected = min(1.0, TARGET_ANIMAL_SIZE / size, MAX_FRAME_SIDE / 720)
    assert dance_config.data.scale == pytest.approx(expected, abs=1e-3)
    assert dance_config.model.sigma == pytest.approx(np.clip(size * dance_config.data.scale / 40, 1.5, 5.0), abs=0.01)


def test_config_from_labels_can_be_saved_and_loaded(dance_config, tmp_path):
    save_config(dance_config, tmp_path / "config.yaml")
    loaded = load_config(tmp_path / "config.yaml")
    assert loaded.data.skeleton == dance_config.data.skeleton
    assert loaded.data.scale == dance_config.data.scale


def test_user_kind_on_predictions_only_file_is_a_clear_error(shared_file):
    path = shared_file("centered_pair_predictions.slp")
    with pytest.raises(PosennError, match="kind 'user'") as info:
        config_from_labels(path, "single_instance", instances="user")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "names, expected",
    [
        (["nose", "left_eye", "right_eye"], [("left_eye", "right_eye")]),
        (["wingL", "wingR", "head"], [("wingL", "wingR")]),
        (["legL1", "legR1", "legL2", "legR2"], [("legL1", "legR1"), ("legL2", "legR2")]),
        (["LeftHand", "RightHand"], [("LeftHand", "RightHand")]),
        (["LEFT_FOOT", "RIGHT_FOOT"], [("LEFT_FOOT", "RIGHT_FOOT")]),
        (["left_eye", "nose"], []),  # no partner
        (["head", "thorax", "tail"], []),
        ([], []),
    ],
)
def test_symmetries_from_names(names, expected):
    assert symmetries_from_names(names) == expected


def test_symmetries_from_names_lists_each_pair_once_left_first():
    names = ["right_eye", "left_eye", "wingR", "wingL"]
    pairs = symmetries_from_names(names)
    assert sorted(pairs) == [("left_eye", "right_eye"), ("wingL", "wingR")]


def test_declared_symmetries_win_over_names():
    skeleton = sio.Skeleton(["a", "left_x", "right_x", "b"])
    skeleton.add_symmetry("b", "a")
    assert declared_or_named_symmetries(skeleton) == [("a", "b")]
    plain = sio.Skeleton(["a", "left_x", "right_x"])
    assert declared_or_named_symmetries(plain) == [("left_x", "right_x")]


def test_animal_size_is_90th_percentile_of_bounding_box_longer_side():
    sizes = np.arange(1, 11, dtype=np.float32) * 10  # 10..100
    frames = [np.array([[[0, 0], [s, s / 2], [np.nan, np.nan]]], np.float32) for s in sizes]
    frames.append(np.array([[[5, 5], [np.nan, np.nan], [np.nan, np.nan]]], np.float32))  # one point: ignored
    assert animal_size(frames) == pytest.approx(np.percentile(sizes, 90))
    assert animal_size([]) == 0.0


def test_choose_max_stride_covers_the_animal():
    for size in (50, 150, 300, 10_000):
        stride = choose_max_stride(size, 16, 2, 2)
        field = UNet(1, 16, 2.0, stride, 2, 2).receptive_field()
        assert field >= size or stride == 64
        if stride > 16:
            assert UNet(1, 16, 2.0, stride // 2, 2, 2).receptive_field() < size
