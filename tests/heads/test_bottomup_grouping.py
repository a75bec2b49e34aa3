"""Bottom-up grouping: fragments of one animal joined back, instance scores and the filters on them."""

import numpy as np
import pytest
import torch

from posenn.heads.bottomup import BottomUpHead, GroupingOptions
from posenn.heads.fragments import near_pairs, skeleton_hops, without_conflicts

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CHAIN = ((0, 1), (1, 2), (2, 3), (3, 4))
LIMB = 16.0


def chain_pose(x: float, y: float) -> np.ndarray:
    """`(5, 2)` a horizontal chain animal with limbs of `LIMB` px starting at (x, y)."""
    return np.array([[x + LIMB * i, y] for i in range(5)], float)


PEAK = 0.95  # peak value of a part in perfect maps (sampled at stride 2, refined)


def score(limbs: int, parts: int) -> float:
    """Instance score of a chain animal with perfect maps and fields (see `GroupedInstances`)."""
    return (limbs + parts * PEAK) / (len(CHAIN) + 5)


def decode(poses: np.ndarray, size: tuple[int, int] = (128, 256), **grouping) -> tuple[np.ndarray, np.ndarray]:
    """Points `(instances, nodes, 2)` of the non-empty slots and their scores, after encoding
    `poses` `(animals, nodes, 2)` as perfect maps and fields."""
    head = BottomUpHead(5, CHAIN, 2.0, 2, 2, 6.0, GroupingOptions(**grouping))
    points, _, scores = head.decode(head.encode(torch.tensor(poses[None]).float(), size), 0.2)
    used = ~torch.isnan(points[0]).all(dim=-1).all(dim=-1)
    return points[0][used].numpy(), scores[0][used].numpy()


def test_skeleton_hops_count_edges_and_separate_trees():
    hops = skeleton_hops(5, ((0, 1), (1, 2), (3, 4)))
    assert hops[0, 2] == 2 and hops[2, 0] == 2 and hops[1, 1] == 0
    assert np.isinf(hops[0, 3]) and hops[3, 4] == 1
    assert skeleton_hops(5, ((0, 1), (1, 2), (3, 4))) is hops and not hops.flags.writeable  # once per skeleton


def test_near_pairs_scale_the_reach_by_hops():
    peaks = np.full((1, 3, 2, 2), np.nan)
    peaks[0, 0, 0] = [0, 0]
    peaks[0, 2, 0] = [30, 40]  # 50 px away, two hops: 25 px per hop
    peaks[0, 0, 1] = [-3, -4]  # a second peak of part 0: 5 px from the first (one part: never near), 27.5 px per hop from part 2
    hops = skeleton_hops(3, ((0, 1), (1, 2)))  # vertex = node * 2 + peak
    label = np.where(np.isnan(peaks.reshape(1, 6, 2)[..., 0]), -1, np.arange(6))  # every peak its own instance
    first, second = np.array([0, 0, 1, 1, 4, 4]), np.array([1, 4, 0, 4, 0, 1])  # every pair of found peaks
    near_first, near_second, ratio = near_pairs(peaks, label, first, second, hops, 25.0)
    assert sorted(zip(near_first.tolist(), near_second.tolist())) == [(0, 4), (4, 0)]
    np.testing.assert_allclose(ratio, [25.0, 25.0], rtol=1e-6)
    assert near_pairs(peaks, label, first[:3], second[:3], hops, 25.0)[1].tolist() == [4]  # only the pairs asked
    assert len(near_pairs(peaks, label, first, second, hops, 24.9)[0]) == 0


def test_missing_middle_part_splits_the_animal_and_joining_mends_it():
    pose = chain_pose(40, 60)
    pose[2] = np.nan
    split, scores = decode(pose[None], min_points=1)
    assert len(split) == 2 and sorted((~np.isnan(split[:, :, 0])).sum(axis=1).tolist()) == [2, 2]
    np.testing.assert_allclose(scores, [score(1, 2)] * 2, atol=0.02)

    joined, scores = decode(pose[None], min_points=1, max_hop_length=1.2 * LIMB)
    assert len(joined) == 1
    np.testing.assert_allclose(joined[0], pose, atol=0.1)  # NaN at part 2, compared as NaN
    np.testing.assert_allclose(scores, [score(2, 4)], atol=0.02)  # two limbs of four, four parts of five


def test_fragments_stay_apart_when_too_far_for_the_skeleton():
    pose = chain_pose(40, 60)
    pose[2] = np.nan
    pose[3:] += [40, 0]  # parts 3-4 now 72 px from part 1: 36 px per hop
    parts, _ = decode(pose[None], min_points=1, max_hop_length=1.2 * LIMB)
    assert len(parts) == 2


def test_complete_neighbours_are_never_joined():
    """Animals that share parts cannot be one animal, however close."""
    poses = np.stack([chain_pose(40, 40), chain_pose(40, 52), chain_pose(40, 64)])
    points, scores = decode(poses, max_hop_length=10 * LIMB)
    assert len(points) == 3 and not np.isnan(points).any()
    np.testing.assert_allclose(scores, score(4, 5), atol=0.02)
    assert scores.max() <= 1.0


def test_each_fragment_joins_the_animal_it_belongs_to():
    """Two animals, each cut in two by a missed part, in one frame: four fragments, two animals."""
    poses = np.stack([chain_pose(20, 30), chain_pose(20, 90)])
    poses[:, 2] = np.nan
    split, _ = decode(poses, min_points=1)
    assert len(split) == 4
    joined, _ = decode(poses, min_points=1, max_hop_length=1.2 * LIMB)
    assert len(joined) == 2
    for instance in joined:
        animal = np.argmin(np.abs(poses[:, 0, 1] - np.nanmean(instance[:, 1])))
        np.testing.assert_allclose(instance, poses[animal], atol=0.1)


def test_min_score_drops_weakly_connected_instances():
    poses = np.stack([chain_pose(20, 30), chain_pose(20, 90)])
    poses[1, 2:] = np.nan  # one limb of four, two parts of five
    points, scores = decode(poses)
    assert len(points) == 2
    np.testing.assert_allclose(sorted(scores), [score(1, 2), score(4, 5)], atol=0.02)
    points, scores = decode(poses, min_score=0.4)
    assert len(points) == 1 and not np.isnan(points).any()


def test_joining_works_per_frame_of_a_batch():
    """A fragment in one frame never joins an instance of another frame."""
    head = BottomUpHead(5, CHAIN, 2.0, 2, 2, 6.0, GroupingOptions(min_points=1, max_hop_length=1.2 * LIMB))
    first, second = chain_pose(40, 60), chain_pose(40, 60)
    first[3:], second[:3] = np.nan, np.nan  # the two halves of one animal, in two frames
    frames = torch.tensor(np.stack([first[None], second[None]])).float()  # (2, 1, 5, 2)
    points, _, _ = head.decode(head.encode(frames, (128, 256)), 0.2)
    counts = (~torch.isnan(points).all(dim=-1)).sum(dim=-1)  # (batch, instances) parts per slot
    assert counts[0].tolist()[:2] == [3, 0] and counts[1].tolist()[:2] == [2, 0]


def test_fragments_join_one_instance_together_unless_they_share_parts():
    parts = np.zeros((5, 4), dtype=bool)
    parts[1, 0] = parts[2, 1] = parts[3, 1] = parts[4, 2] = True  # fragments 1-4; 2 and 3 both hold part 1
    joining, into = without_conflicts(np.array([1, 2, 3, 4]), np.array([0, 0, 0, 0]), np.array([4.0, 1.0, 2.0, 3.0]), parts)
    assert sorted(joining.tolist()) == [1, 2, 4] and into.tolist() == [0, 0, 0]  # 3 waits: 2 is nearer


def test_fragments_of_different_instances_do_not_conflict():
    parts = np.zeros((4, 2), dtype=bool)
    parts[2, 0] = parts[3, 0] = True
    joining, into = without_conflicts(np.array([2, 3]), np.array([0, 1]), np.array([1.0, 1.0]), parts)
    assert sorted(zip(joining.tolist(), into.tolist())) == [(2, 0), (3, 1)]


def test_pieces_with_a_limb_gather_and_lone_peaks_only_join():
    """An animal whose middle part is hidden comes back from its two halves, each holding a limb;
    lone peaks (every other part missing) do not gather into an instance, but one joins a piece."""
    cut_in_middle, lone_peaks, cut_near_end = chain_pose(40, 60), chain_pose(40, 60), chain_pose(40, 60)
    cut_in_middle[2], lone_peaks[[1, 3]], cut_near_end[3] = np.nan, np.nan, np.nan
    points, _ = decode(cut_in_middle[None], min_points=3, max_hop_length=1.2 * LIMB)
    assert len(points) == 1
    np.testing.assert_allclose(points[0], cut_in_middle, atol=0.1)
    points, _ = decode(lone_peaks[None], min_points=2, max_hop_length=1.2 * LIMB)
    assert len(points) == 0
    points, _ = decode(cut_near_end[None], min_points=3, max_hop_length=1.2 * LIMB)
    assert len(points) == 1
    np.testing.assert_allclose(points[0], cut_near_end, atol=0.1)


def test_a_stray_lone_peak_does_not_keep_an_animals_halves_apart():
    """Pieces holding a limb gather before lone peaks join: a stray peak of part 0 nearer to the
    back half than the front half is would otherwise take part 0's place in it, and the halves,
    both holding a part 0, could no longer join."""
    animal = chain_pose(40, 60)
    animal[2] = np.nan
    stray = np.full_like(animal, np.nan)
    stray[0] = [88, 90]  # 30 px from part 3 (3 hops), 34 px from part 4 (4 hops)
    points, _ = decode(np.stack([animal, stray]), min_points=2, max_hop_length=1.2 * LIMB)
    assert len(points) == 1
    np.testing.assert_allclose(points[0], animal, atol=0.1)


def test_max_hop_length_zero_means_no_joining():
    pose = chain_pose(40, 60)
    pose[2] = np.nan
    assert len(decode(pose[None], min_points=1, max_hop_length=0.0)[0]) == 2


def test_instance_scores_stay_within_one_when_fields_overshoot():
    head = BottomUpHead(5, CHAIN, 2.0, 2, 2, 6.0, GroupingOptions())
    maps, fields = head.encode(torch.tensor(chain_pose(40, 60)[None, None]).float(), (128, 256))
    _, _, scores = head.decode((maps, 1.7 * fields), 0.2)
    assert scores[0, 0] == pytest.approx(score(4, 5), abs=0.02) and (scores <= 1.0).all()
    _, _, scores = head.decode((1.5 * maps, 1.7 * fields), 0.2)
    assert scores[0, 0] == pytest.approx(1.0) and (scores <= 1.0).all()
