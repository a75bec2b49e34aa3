"""`posenn config --type bottomup`: grouping defaults measured from the labels."""

import numpy as np
import pytest

from posenn.autoconfig import (
    FIELD_WEIGHT,
    GROUPING_FRACTION,
    LIMB_PERCENTILE,
    CROWDED,
    CROWDED_WINDOW_SPANS,
    SHORT_LIMB_PERCENTILE,
    TRAINING_WINDOW_SPANS,
    config_from_labels,
    crowding,
    edge_lengths,
    grouping_defaults,
    part_map_stride,
    training_window,
    window_spans,
)
from posenn.config import InferenceConfig
from posenn.errors import PosennError
from posenn.models.model import build_head
from posenn.synth import generate


def chain_animals(count: int, missing: int) -> np.ndarray:
    """`(count, 5, 2)` chain animals with limbs of 10 px; the first `missing` lose parts 3 and 4."""
    animals = np.stack([[[10.0 * node, 50.0 * k] for node in range(5)] for k in range(count)])
    animals[:missing, 3:] = np.nan
    return animals


def test_grouping_defaults_follow_the_least_complete_animals():
    edges = [(0, 1), (1, 2), (2, 3), (3, 4)]
    complete = [chain_animals(2, 0) for _ in range(50)]
    assert grouping_defaults(complete, edges) == (2, 0.5, 10.0)  # half of 5 parts, half of full support

    partial = [chain_animals(2, 1) for _ in range(50)]  # half the animals have 3 parts, 2 limbs of 4
    min_points, min_score, longest = grouping_defaults(partial, edges)
    assert min_points == 2 and min_score == pytest.approx(GROUPING_FRACTION * 5 / 9, abs=1e-3) and longest == 10.0


def test_edge_lengths_are_each_edges_own_percentile():
    rng = np.random.default_rng(0)
    animals = chain_animals(200, 0)
    animals[:, 1, 0] = 10.0 * rng.uniform(0.8, 1.2, 200)  # edge 0 varies, 8 to 12 px
    animals[:, 2:, 0] += 10.0  # edge 1 is 20 px; edges 2 and 3 stay 10 px
    animals[:, 4] = np.nan  # edge 3 is never labeled
    lengths = edge_lengths([animals], [(0, 1), (1, 2), (2, 3), (3, 4)], unlabeled=55.0)
    assert lengths[0] == pytest.approx(np.percentile(animals[:, 1, 0], LIMB_PERCENTILE), abs=0.05)
    assert lengths[1] == pytest.approx(np.percentile(30.0 - animals[:, 1, 0], LIMB_PERCENTILE), abs=0.05)
    assert lengths[2:] == [10.0, 55.0]
    shortest = edge_lengths([animals], [(0, 1), (1, 2), (2, 3), (3, 4)], 1.0, SHORT_LIMB_PERCENTILE)
    assert shortest[0] == pytest.approx(np.percentile(animals[:, 1, 0], SHORT_LIMB_PERCENTILE), abs=0.05)
    assert shortest[2:] == [10.0, 1.0]


def test_edge_lengths_of_a_config_must_fit_the_skeleton(shared_file):
    config = config_from_labels(shared_file("centered_pair_predictions.slp"), "bottomup", instances="predicted")
    config.inference.max_edge_length = config.inference.max_edge_length[:-1]
    with pytest.raises(PosennError, match="inference.max_edge_length holds 22 lengths; expected one per edge"):
        build_head(config)
    config.inference.max_edge_length = 40.0  # one length for every edge still works
    shortest = config.inference.min_edge_length
    config.inference.min_edge_length = shortest[:-1]
    with pytest.raises(PosennError, match="inference.min_edge_length holds 22 lengths; expected one per edge"):
        build_head(config)
    config.inference.min_edge_length = shortest
    assert build_head(config).grouping.max_edge_length == pytest.approx(40.0 * config.data.scale)
    for wrong in ([12.0, -1.0], []):
        with pytest.raises(ValueError, match="max_edge_length"):
            InferenceConfig(max_edge_length=wrong)


def test_grouping_defaults_without_limbs_keep_joining_off():
    lone = [np.array([[[1.0, 2.0], [np.nan, np.nan]]])]
    assert grouping_defaults(lone, [(0, 1)]) == (2, round(GROUPING_FRACTION / 3, 3), None)  # one part of two, no limb


def test_bottomup_config_of_the_flies_measures_grouping(shared_file):
    config = config_from_labels(shared_file("centered_pair_predictions.slp"), "bottomup", instances="predicted")
    inference = config.inference
    assert 2 <= inference.min_points <= 12  # at most half of the 24 parts
    assert 0.0 < inference.min_instance_score <= GROUPING_FRACTION
    assert 0.0 < inference.max_hop_length <= max(inference.max_edge_length)
    assert len(inference.min_edge_length) == len(inference.max_edge_length) == len(config.data.skeleton.edges)
    assert all(1.0 <= short < long for short, long in zip(inference.min_edge_length, inference.max_edge_length))
    assert config.train.paf_weight == FIELD_WEIGHT < 1.0  # the part maps lead the loss
    assert config.model.output_stride == 4  # limbs of about 24 px
    grouping = build_head(config).grouping
    assert grouping.min_points == inference.min_points and grouping.min_score == inference.min_instance_score
    assert grouping.max_hop_length == pytest.approx(inference.max_hop_length * config.data.scale)
    assert grouping.min_edge_length == pytest.approx([length * config.data.scale for length in inference.min_edge_length])


def test_other_model_types_keep_grouping_unset(shared_file):
    config = config_from_labels(shared_file("centered_pair_predictions.slp"), "centroid", instances="predicted")
    assert config.inference.min_instance_score == 0.0 and config.inference.max_hop_length is None


def test_part_maps_of_short_limbs_are_at_stride_two():
    assert part_map_stride([20.0, 24.0, 30.0], scale=1.0) == 4  # the median limb spans 6 cells at stride 4
    assert part_map_stride([12.0, 15.0, 40.0], scale=1.0) == 2  # under 4 cells
    assert part_map_stride([20.0, 24.0, 30.0], scale=0.5) == 2  # the limbs as the network sees them


def test_bottomup_config_of_a_crowd_of_small_animals(tmp_path):
    labels = generate(tmp_path / "crowd", animals=8, frames=12, size=256, seed=1)
    config = config_from_labels(labels, "bottomup", instances="user")
    assert np.median(config.inference.max_edge_length) < 16  # limbs of about 15 px
    assert config.model.output_stride == 2 and config.model.paf_stride == 4  # fields stay at stride 4
    head = build_head(config)
    assert head.output_stride == 2 and head.paf_stride == 4
    assert config.train.random_crop == 128  # crowded frames: windows of 1.5 spans of the largest animal (78 px)


def test_training_windows_hold_the_largest_animal():
    assert training_window(153.3, 384, 16, TRAINING_WINDOW_SPANS) == 160  # the flies' largest span, rounded up
    assert training_window(150.0, 384, 32, 1.0) == 160
    assert training_window(77.6, 256, 16, CROWDED_WINDOW_SPANS) == 128  # 1.5 spans
    assert training_window(380.0, 384, 16, 1.0) is None  # no smaller than the frame: whole frames


def test_crowded_frames_and_identity_models_keep_wide_windows():
    two_flies = [np.zeros((2, 3, 2))] * 10 + [np.zeros((0, 3, 2))]  # frames without animals do not count
    assert crowding(two_flies, 150.0, 384 * 384) == pytest.approx(2 * 150.0**2 / 384**2)
    assert crowding([np.zeros((0, 3, 2))], 150.0, 384 * 384) == 0.0
    assert window_spans("bottomup", 0.33) == TRAINING_WINDOW_SPANS == 1.0
    assert window_spans("bottomup", CROWDED + 0.01) == CROWDED_WINDOW_SPANS > TRAINING_WINDOW_SPANS
    assert window_spans("multiclass_bottomup", 0.0) == CROWDED_WINDOW_SPANS


def test_bottomup_config_of_the_flies_trains_on_windows_of_one_fly(shared_file):
    config = config_from_labels(shared_file("centered_pair_predictions.slp"), "bottomup", instances="predicted")
    assert config.train.random_crop == 160  # the largest fly spans 153 px in 384 px frames, two flies per frame
