"""Part affinity fields and limb scoring; the assignment and grouping of limbs."""

import numpy as np
import pytest
import torch

from posenn.heads.bottomup import BottomUpHead, GroupingOptions
from posenn.heads.grouping import Limbs, assemble_instances, assign_limbs
from posenn.heads.confmaps import gaussian_maps
from posenn.heads.pafs import line_scores, part_affinity_fields, short_limb_penalty, spanning_edges

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_spanning_edges_drop_edges_that_close_a_cycle():
    assert spanning_edges(4, [(0, 1), (1, 2), (2, 0), (2, 3)]) == [(0, 1), (1, 2), (2, 3)]
    assert spanning_edges(4, [(0, 1), (2, 3)]) == [(0, 1), (2, 3)]


def test_field_is_the_unit_vector_inside_the_band_and_zero_outside():
    points = torch.tensor([[[[10.0, 20.0], [40.0, 20.0]]]])  # horizontal limb; cell j is centred on pixel j
    fields = part_affinity_fields(points, [(0, 1)], 41, 61, stride=1, band_width=6.0)
    assert fields.shape == (1, 2, 41, 61)
    fx, fy = fields[0, 0], fields[0, 1]
    assert fx[20, 25] == 1 and fy[20, 25] == 0  # on the limb
    assert fx[23, 25] == 1 and fx[24, 25] == 0  # band edge: |across| ≤ 3
    assert fx[20, 7] == 1 and fx[20, 6] == 0  # ends reach half a band beyond the parts
    assert fx[20, 43] == 1 and fx[20, 44] == 0
    assert fields[..., :, 44:].abs().sum() == 0


def test_field_direction_follows_the_limb_at_any_stride():
    start, end = torch.tensor([30.0, 30.0]), torch.tensor([90.0, 70.0])
    points = torch.stack([start, end])[None, None]
    for stride in (1, 2, 4):
        fields = part_affinity_fields(points, [(0, 1)], 128, 128, stride, band_width=8.0)
        vectors = fields[0].reshape(2, -1).T
        inside = vectors.norm(dim=1) > 0
        expected = (end - start) / (end - start).norm()
        torch.testing.assert_close(vectors[inside], expected.expand(int(inside.sum()), 2))
        assert inside.sum() > 0


def test_overlapping_bands_average_and_missing_parts_draw_nothing():
    points = torch.tensor([[[[10.0, 10.0], [30.0, 10.0]], [[30.0, 10.0], [10.0, 10.0]], [[5.0, 5.0], [float("nan"), 3.0]]]])
    fields = part_affinity_fields(points, [(0, 1)], 20, 40, 1, 4.0)
    assert fields.abs().max() == 0  # opposite limbs cancel; the half-labeled one draws nothing
    empty = part_affinity_fields(torch.zeros(2, 0, 2, 2), [(0, 1)], 20, 40, 2, 4.0)
    assert empty.shape == (2, 2, 10, 20) and empty.abs().sum() == 0


def test_line_scores_prefer_true_limbs_and_penalise_long_ones():
    points = torch.tensor([[[[20.0, 20.0], [50.0, 20.0]], [[20.0, 60.0], [50.0, 60.0]]]])  # two limbs
    fields = part_affinity_fields(points, [(0, 1)], 96, 96, 2, 6.0)
    sources = points[:, :, 0][:, None]  # (batch, edges, peaks, 2)
    destinations = points[:, :, 1][:, None]
    scores, support = line_scores(fields, 2, sources, destinations, 10, max_length=None)
    assert scores.shape == (1, 1, 2, 2)
    assert scores[0, 0, 0, 0] > 0.95 and scores[0, 0, 1, 1] > 0.95
    assert scores[0, 0, 0, 1] < 0.5 and scores[0, 0, 1, 0] < 0.5
    assert support[0, 0, 0, 0] == 1 and support[0, 0, 0, 1] < 0.8
    penalised, _ = line_scores(fields, 2, sources, destinations, 10, max_length=15.0)
    torch.testing.assert_close(penalised[0, 0, 0, 0], scores[0, 0, 0, 0] - 0.5)


def test_line_scores_penalise_each_edge_by_its_own_length():
    points = torch.tensor([[[[20.0, 20.0], [50.0, 20.0], [50.0, 30.0]]]])  # a 30 px limb, then a 10 px one
    edges = [(0, 1), (1, 2)]
    fields = part_affinity_fields(points, edges, 96, 96, 2, 6.0)
    sources = torch.stack([points[:, :, 0], points[:, :, 1]], dim=1)  # (batch, edges, peaks, 2)
    destinations = torch.stack([points[:, :, 1], points[:, :, 2]], dim=1)
    plain, _ = line_scores(fields, 2, sources, destinations, 10, max_length=None)
    per_edge, _ = line_scores(fields, 2, sources, destinations, 10, max_length=(40.0, 5.0))
    torch.testing.assert_close(per_edge[0, 0], plain[0, 0])  # 30 px within 40: no penalty
    torch.testing.assert_close(per_edge[0, 1], plain[0, 1] - 0.5)  # 10 px against 5: 1 - 5/10
    uniform, _ = line_scores(fields, 2, sources, destinations, 10, max_length=15.0)
    torch.testing.assert_close(uniform[0, 1], plain[0, 1])


def test_short_limb_penalty_is_the_missing_share_of_each_edges_length():
    sources = torch.tensor([[[[0.0, 0.0]], [[0.0, 0.0]]]])  # (batch, edges, peaks, 2)
    destinations = torch.tensor([[[[5.0, 0.0], [30.0, 0.0]], [[0.0, 5.0], [0.0, 30.0]]]])
    per_edge = short_limb_penalty(sources, destinations, (20.0, 2.0))
    assert per_edge.shape == (1, 2, 1, 2)
    torch.testing.assert_close(per_edge[0, 0, 0], torch.tensor([5 / 20 - 1, 0.0]))  # 5 px of 20; 30 px is long enough
    torch.testing.assert_close(per_edge[0, 1, 0], torch.zeros(2))  # both longer than 2 px
    torch.testing.assert_close(short_limb_penalty(sources, destinations, 10.0)[0, :, 0, 0], torch.tensor([-0.5, -0.5]))


def test_a_stray_peak_beside_the_source_loses_to_the_true_part_when_short_limbs_are_penalised():
    """The field near a limb's source points along it, so a strong stray destination peak 6 px from
    the source scores along the field as well as the weaker true part 30 px away."""
    source, true_part, stray = [20.0, 32.0], [50.0, 32.0], [26.0, 32.0]
    maps = torch.cat([
        gaussian_maps(torch.tensor([[[source]]]), 64, 96, 2, 1.5),
        torch.maximum(0.5 * gaussian_maps(torch.tensor([[[true_part]]]), 64, 96, 2, 1.5),
                      0.9 * gaussian_maps(torch.tensor([[[stray]]]), 64, 96, 2, 1.5)),
    ], dim=1)  # (1, 2, 32, 48): the source, and the destination's two peaks
    fields = part_affinity_fields(torch.tensor([[[source, true_part]]]), [(0, 1)], 64, 96, 2, 6.0)
    chosen = {}
    for name, shortest in (("plain", None), ("penalised", 20.0)):
        head = BottomUpHead(2, ((0, 1),), 1.5, 2, 2, 6.0, GroupingOptions(limb_peak_weight=1.0, min_edge_length=shortest))
        chosen[name] = head.group((maps, fields), 0.2).points[0, 0, 1]
    np.testing.assert_allclose(chosen["plain"], stray, atol=0.5)
    np.testing.assert_allclose(chosen["penalised"], true_part, atol=0.5)


def test_assign_limbs_is_optimal_not_greedy():
    scores = np.array([[[[0.9, 0.8], [0.85, 0.1]]]])
    limbs = assign_limbs(scores, np.ones_like(scores, dtype=bool))
    assert sorted(zip(limbs.source.tolist(), limbs.destination.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(sorted(limbs.score), [0.8, 0.85])


def test_assign_limbs_follows_the_ranking_and_keeps_line_scores():
    """One source, two destination peaks along the same field: the ranking (line score plus
    peak values) picks the stronger peak; the limb keeps its line score."""
    scores = np.array([[[[0.92, 0.95]]]])  # the weak peak 1 lies a little better along the field
    peak_values = np.array([0.9, 0.3])
    ranking = scores + 0.5 * (0.8 + peak_values) / 2
    limbs = assign_limbs(scores, np.ones_like(scores, dtype=bool), ranking)
    assert limbs.destination.tolist() == [0] and limbs.score.tolist() == [pytest.approx(0.92)]
    assert assign_limbs(scores, np.ones_like(scores, dtype=bool)).destination.tolist() == [1]


def test_bottomup_head_ranks_limbs_by_peak_values_when_asked():
    head = BottomUpHead(2, ((0, 1),), 2.0, 2, 2, 6.0, GroupingOptions(limb_peak_weight=0.5))
    maps, fields = head.encode(torch.tensor([[[[20.0, 20.0], [40.0, 20.0]]]]), (64, 64))
    candidates = head.limb_candidates((maps, fields), 0.2)
    values = candidates.peak_scores[0, :, 0]
    torch.testing.assert_close(candidates.ranking[0, 0, 0, 0], candidates.scores[0, 0, 0, 0] + 0.5 * values.mean())


def test_assign_limbs_respects_candidates_and_frames():
    scores = np.zeros((2, 1, 3, 3))
    scores[0, 0, 2, 1] = 0.7
    scores[1, 0, 0, 0] = 0.6
    candidates = scores > 0.5
    limbs = assign_limbs(scores, candidates)
    assert limbs.frame.tolist() == [0, 1]
    assert list(zip(limbs.source, limbs.destination)) == [(2, 1), (0, 0)]
    none = assign_limbs(scores, np.zeros_like(candidates))
    assert len(none.frame) == 0


def test_assemble_ranks_instances_by_limb_and_peak_scores_per_frame():
    nan = np.nan
    peaks = np.array([[[[0, 0], [10, 0], [nan, nan]], [[0, 5], [10, 5], [20, 5]]]], float)  # (1, 2 nodes, 3, 2)
    peak_scores = np.array([[[0.9, 0.8, 0], [0.7, 0.6, 0.5]]])
    limbs = Limbs(np.array([0, 0]), np.array([0, 0]), np.array([0, 1]), np.array([0, 1]), np.array([0.4, 0.9], np.float32))
    grouped = assemble_instances(peaks, peak_scores, limbs, [(0, 1)], max_instances=4, min_points=1)
    # (limb score + peak values) / (1 edge + 2 nodes)
    np.testing.assert_allclose(grouped.scores[0], [(0.9 + 0.8 + 0.6) / 3, (0.4 + 0.9 + 0.7) / 3, 0.5 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(grouped.points[0, 0], [[10, 0], [10, 5]])
    np.testing.assert_allclose(grouped.points[0, 1], [[0, 0], [0, 5]])
    np.testing.assert_allclose(grouped.points[0, 2], [[nan, nan], [20, 5]])  # the lone part, score 0
    np.testing.assert_allclose(grouped.point_scores[0, 0], [0.8, 0.6])
    two_parts = assemble_instances(peaks, peak_scores, limbs, [(0, 1)], max_instances=4, min_points=2)
    assert np.isnan(two_parts.points[0, 2:]).all()
