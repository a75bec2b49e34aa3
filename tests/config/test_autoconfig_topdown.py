"""`posenn config` for the top-down model types, on the two-fly predictions (384×384 frames)."""

import numpy as np
import pytest
import sleap_io as sio

from posenn.autoconfig import CENTROID_ANIMAL_SIZE, MAX_FRAME_SIDE, TARGET_ANIMAL_SIZE, config_from_labels
from posenn.errors import PosennError
from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.centroid import CentroidHead
from posenn.heads.single_instance import SingleInstanceHead
from posenn.models.model import build_head

FILE = "centered_pair_predictions.slp"


@pytest.fixture(scope="module")
def configs(shared_file):
    path = shared_file(FILE)
    return {kind: config_from_labels(path, kind, instances="predicted") for kind in ("centroid", "centered_instance", "single_instance")}


@pytest.fixture(scope="module")
def fly_boxes(shared_file) -> np.ndarray:
    """`(instances, 2)` keypoint bounding-box sides of every predicted fly (≥ 2 points), read with
    sleap-io directly."""
    labels = sio.load_slp(str(shared_file(FILE)), open_videos=False)
    sides = []
    for frame in labels.labeled_frames:
        for instance in frame.predicted_instances:
            points = instance.numpy()[:, :2]
            points = points[~np.isnan(points).any(axis=1)]
            if len(points) >= 2:
                sides.append(points.max(axis=0) - points.min(axis=0))
    return np.array(sides)


def test_the_file_is_what_these_tests_assume(fly_boxes):
    assert len(fly_boxes) > 2000  # two flies in each of 1100 frames
    # Flies of ~110 px: the centroid scale comes from the animal size, not the frame side.
    assert CENTROID_ANIMAL_SIZE / (MAX_FRAME_SIDE / 384) < np.percentile(fly_boxes.max(axis=1), 90) < TARGET_ANIMAL_SIZE


def test_centroid_config_sees_small_animals_at_stride_4(configs, fly_boxes):
    config = configs["centroid"]
    assert config.model.type == "centroid"
    assert config.data.instances == "predicted"
    size = np.percentile(fly_boxes.max(axis=1), 90)
    assert config.data.scale < 1
    assert config.data.scale == pytest.approx(min(1.0, CENTROID_ANIMAL_SIZE / size, MAX_FRAME_SIDE / 384), abs=1e-3)
    assert size * config.data.scale == pytest.approx(CENTROID_ANIMAL_SIZE, abs=0.5)
    assert config.model.output_stride == 4
    assert config.model.crop_size is None
    assert config.model.anchor_part == "thorax"  # the most central of the always-labeled nodes
    assert 1.5 <= config.model.sigma <= 5.0
    assert config.model.backbone.max_stride in (16, 32, 64)
    head = build_head(config)
    assert isinstance(head, CentroidHead)
    assert head.anchor == config.data.skeleton.nodes.index("thorax")
    assert head.output_stride == 4 and head.sigma == config.model.sigma
    assert head.max_instances == config.inference.max_instances


def test_centered_instance_crop_holds_the_largest_flies(configs, fly_boxes):
    config = configs["centered_instance"]
    model = config.model
    scale = config.data.scale
    size = np.percentile(fly_boxes.max(axis=1), 90)
    assert scale == pytest.approx(min(1.0, TARGET_ANIMAL_SIZE / size), abs=1e-3)
    assert model.output_stride == 4
    crop = model.crop_size
    assert crop is not None and crop % model.backbone.max_stride == 0
    diagonal = np.percentile(np.hypot(fly_boxes[:, 0], fly_boxes[:, 1]), 99)
    assert crop >= diagonal * scale  # a fly in any orientation fits ...
    assert crop >= diagonal * scale * 1.2 + 8  # ... with the margin
    assert crop - model.backbone.max_stride < diagonal * scale * 1.2 + 8  # the smallest such multiple
    assert crop < 384 * scale  # a crop, not the frame
    head = build_head(config)
    assert isinstance(head, CenteredInstanceHead)
    assert head.crop_size == crop and head.n_nodes == 24 and head.output_stride == 4


def test_single_instance_config_is_unaffected(configs, fly_boxes):
    """The single-instance config has no crop, and the resolution rule of whole-frame pose models."""
    single, centered = configs["single_instance"], configs["centered_instance"]
    size = np.percentile(fly_boxes.max(axis=1), 90)
    assert single.model.crop_size is None
    assert single.model.output_stride == 4
    assert single.data.scale == pytest.approx(min(1.0, TARGET_ANIMAL_SIZE / size, MAX_FRAME_SIDE / 384), abs=1e-3)
    # Same animals, same scale here: everything but the type and the crop agrees with centered.
    assert single.data.scale == centered.data.scale
    assert single.model.sigma == centered.model.sigma
    assert single.model.backbone == centered.model.backbone
    assert single.data.skeleton == centered.data.skeleton == configs["centroid"].data.skeleton
    assert type(build_head(single)) is SingleInstanceHead


def test_anchor_part_selects_the_anchor_node(configs):
    config = configs["centroid"].model_copy(deep=True)
    config.model.anchor_part = "thorax"
    assert build_head(config).anchor == 2


def test_unknown_anchor_part_is_a_clear_error(configs):
    config = configs["centroid"].model_copy(deep=True)
    config.model.anchor_part = "torax"
    with pytest.raises(PosennError) as info:
        build_head(config)
    message = str(info.value)
    assert "model.anchor_part" in message and "'torax'" in message
    for node in ("head", "thorax", "abdomen", "hindlegR3"):
        assert node in message


def test_centered_instance_without_crop_size_is_a_clear_error(configs):
    config = configs["centered_instance"].model_copy(deep=True)
    config.model.crop_size = None
    with pytest.raises(PosennError, match="model.crop_size"):
        build_head(config)


def test_bottomup_config_sizes_fields_and_limb_penalty(shared_file, fly_boxes):
    config = config_from_labels(shared_file(FILE), "bottomup", instances="predicted")
    model = config.model
    assert model.type == "bottomup" and model.paf_stride == model.output_stride
    assert model.paf_width >= 2 * model.paf_stride  # a band at least two cells wide
    largest = np.percentile(np.hypot(fly_boxes[:, 0], fly_boxes[:, 1]), 99)
    lengths = config.inference.max_edge_length  # one per skeleton edge, each under the animal's span
    assert len(lengths) == len(config.data.skeleton.edges) == 23 and 0 < min(lengths) <= max(lengths) < largest
    head = build_head(config)
    assert head.n_nodes == 24 and len(head.edges) == 23  # the fly skeleton is a tree
    assert head.grouping.max_edge_length == pytest.approx([length * config.data.scale for length in lengths], abs=0.1)


def test_bottomup_without_skeleton_edges_is_a_clear_error(configs):
    config = configs["single_instance"].model_copy(deep=True)
    config.model.type = "bottomup"
    config.data.skeleton.edges = []
    with pytest.raises(PosennError, match="data.skeleton.edges is empty"):
        build_head(config)
