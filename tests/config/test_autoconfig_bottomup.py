"""`posenn config --type bottomup`: grouping defaults measured from the labels."""

import numpy as np
import pytest

from posenn.autoconfig import FIELD_WEIGHT, GROUPING_FRACTION, config_from_labels, grouping_defaults
from posenn.models.model import build_head


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


def test_grouping_defaults_without_limbs_keep_joining_off():
    lone = [np.array([[[1.0, 2.0], [np.nan, np.nan]]])]
    assert grouping_defaults(lone, [(0, 1)]) == (2, round(GROUPING_FRACTION / 3, 3), None)  # one part of two, no limb


def test_bottomup_config_of_the_flies_measures_grouping(shared_file):
    config = config_from_labels(shared_file("centered_pair_predictions.slp"), "bottomup", instances="predicted")
    inference = config.inference
    assert 2 <= inference.min_points <= 12  # at most half of the 24 parts
    assert 0.0 < inference.min_instance_score <= GROUPING_FRACTION
    assert 0.0 < inference.max_hop_length <= inference.max_edge_length
    assert config.train.paf_weight == FIELD_WEIGHT < 1.0  # the part maps lead the loss
    grouping = build_head(config).grouping
    assert grouping.min_points == inference.min_points and grouping.min_score == inference.min_instance_score
    assert grouping.max_hop_length == pytest.approx(inference.max_hop_length * config.data.scale)


def test_other_model_types_keep_grouping_unset(shared_file):
    config = config_from_labels(shared_file("centered_pair_predictions.slp"), "centroid", instances="predicted")
    assert config.inference.min_instance_score == 0.0 and config.inference.max_hop_length is None
