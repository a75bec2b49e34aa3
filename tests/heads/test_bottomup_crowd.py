"""Bottom-up grouping on a synthetic crowd: animals whose hub part lies under another animal."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from posenn.autoconfig import grouping_defaults
from posenn.heads.bottomup import BottomUpHead, GroupingOptions
from posenn.synth import make_skeleton, synthesize
from posenn.synth.skeleton import THORAX

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def visible_points(animals: int, frames: int, seed: int) -> np.ndarray:
    """`(frames, animals, nodes, 2)` keypoints of a 256 px synthetic video, NaN where hidden."""
    video = synthesize(animals=animals, frames=frames, size=256, seed=seed)
    return np.where(video.hidden[..., None], np.nan, video.points)


def crowd_head(points: np.ndarray, **grouping) -> BottomUpHead:
    """The bottom-up head `posenn config` makes for these animals, grouping measured on `points`."""
    skeleton = make_skeleton()
    names = skeleton.node_names
    edges = tuple((names.index(edge.source.name), names.index(edge.destination.name)) for edge in skeleton.edges)
    min_points, min_score, longest = grouping_defaults(list(points), list(edges))
    options = GroupingOptions(min_points=min_points, min_score=min_score, max_hop_length=longest,
                              max_edge_length=77.8, limb_peak_weight=1.0)
    return BottomUpHead(len(names), edges, 2.5, 4, 4, 8.0, replace(options, **grouping))


def counts(head: BottomUpHead, points: np.ndarray) -> np.ndarray:
    """Instances found per frame on maps and fields drawn from `points`."""
    found = []
    for start in range(0, len(points), 8):
        batch = torch.tensor(points[start:start + 8]).float()
        _, _, scores = head.decode(head.encode(batch, (256, 256)), 0.2)
        found += (scores > 0).sum(dim=1).tolist()
    return np.array(found)


def test_animals_with_a_hidden_thorax_come_back_whole_from_their_pieces():
    points = visible_points(animals=8, frames=48, seed=2)
    wanted = ((~np.isnan(points[..., 0])).sum(axis=-1) * 2 >= points.shape[2]).sum(axis=1)
    hidden_thorax = np.isnan(points[:, :, THORAX, 0]).any(axis=1)
    assert hidden_thorax.mean() > 0.3  # the crowd hides a thorax in many frames

    joined = counts(crowd_head(points), points)
    apart = counts(crowd_head(points, max_hop_length=None), points)
    assert (apart[hidden_thorax] < wanted[hidden_thorax]).mean() > 0.8  # without joining, those animals are lost
    assert (apart == wanted).mean() < 0.6
    assert (joined == wanted).mean() >= 0.85  # 0.92 when written
    assert (joined[hidden_thorax] == wanted[hidden_thorax]).mean() >= 0.75
