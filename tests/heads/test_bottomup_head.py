"""Bottom-up head: encode every animal as part maps and fields, decode and group them back."""

import math

import numpy as np
import pytest
import torch

from posenn.heads.bottomup import BottomUpHead, GroupingOptions

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SIZE = 256


def random_tree(rng: np.random.Generator, n_nodes: int, chain: bool) -> list[tuple[int, int]]:
    """A chain 0-1-2-…, or a random tree with edges from an earlier node to each later one."""
    if chain:
        return [(i, i + 1) for i in range(n_nodes - 1)]
    return [(int(rng.integers(0, i)), i) for i in range(1, n_nodes)]


def random_pose(rng: np.random.Generator, edges: list[tuple[int, int]], n_nodes: int, limb: float) -> np.ndarray:
    """`(nodes, 2)` points of one animal: each limb of length `limb` in a random direction,
    relative to node 0 at the origin."""
    points = np.zeros((n_nodes, 2))
    for source, destination in edges:
        angle = rng.uniform(0, 2 * math.pi)
        points[destination] = points[source] + limb * np.array([math.cos(angle), math.sin(angle)])
    return points


def segment_distance(a: np.ndarray, b: np.ndarray, edges: list[tuple[int, int]]) -> float:
    """Smallest distance between any limb of pose `a` and any limb of pose `b` (dense samples)."""
    t = np.linspace(0, 1, 25)[:, None]

    def samples(points: np.ndarray) -> np.ndarray:
        return np.concatenate([points[s] + t * (points[d] - points[s]) for s, d in edges])

    sa, sb = samples(a), samples(b)
    return float(np.min(np.linalg.norm(sa[:, None] - sb[None], axis=-1)))


def layout(rng: np.random.Generator, n_animals: int, edges, n_nodes: int, limb: float) -> np.ndarray:
    """`(animals, nodes, 2)` poses placed at random in the frame, some of them close."""
    animals = []
    for _ in range(n_animals):
        pose = random_pose(rng, edges, n_nodes, limb)
        low, high = pose.min(axis=0), pose.max(axis=0)
        offset = rng.uniform(8 - low, SIZE - 8 - high)
        animals.append(pose + offset)
    return np.stack(animals)


def apart(poses: np.ndarray, index: int, edges, min_distance: float) -> bool:
    """Whether animal `index` is more than `min_distance` from every other animal's limbs."""
    return all(
        segment_distance(poses[index], poses[other], edges) > min_distance for other in range(len(poses)) if other != index
    )


@pytest.mark.parametrize("seed", range(12))
def test_encode_decode_recovers_separated_animals(seed):
    rng = np.random.default_rng(seed)
    n_nodes = int(rng.integers(3, 8))
    edges = random_tree(rng, n_nodes, chain=seed % 2 == 0)
    stride = int(rng.choice([2, 4]))
    sigma, width = 1.5 * stride, 2.0 * stride
    head = BottomUpHead(n_nodes, tuple(edges), sigma, stride, stride, width, GroupingOptions(max_instances=8))
    poses = layout(rng, int(rng.integers(2, 7)), edges, n_nodes, limb=float(rng.uniform(18, 30)))

    maps, fields = head.encode(torch.from_numpy(poses[None]).float(), (SIZE, SIZE))
    points, point_scores, scores = head.decode((maps, fields), peak_threshold=0.2)
    found = points[0][~torch.isnan(points[0]).all(dim=-1).all(dim=-1)].numpy()

    separated = [i for i in range(len(poses)) if apart(poses, i, edges, min_distance=2 * width + 3 * sigma)]
    for i in separated:
        errors = np.linalg.norm(found - poses[i][None], axis=-1)  # (instances, nodes)
        best = np.argmin(np.nanmean(errors, axis=1))
        assert not np.isnan(errors[best]).any(), f"animal {i} lost parts"
        assert errors[best].max() < 0.25 * stride, f"animal {i}: parts swapped or misplaced ({errors[best].max():.2f} px)"
    assert len(found) <= len(poses) + (len(poses) - len(separated)) * n_nodes
    assert ((scores[0] > 0).sum()) == len(found)
    assert torch.all(scores[0][: len(found)] > 0.9)  # complete limbs of perfect fields


def test_overlapping_animals_give_no_duplicate_parts():
    """Crossing animals may be grouped wrongly, but no instance holds a part twice and every
    found point is a real part."""
    edges = [(0, 1), (1, 2), (2, 3)]
    head = BottomUpHead(4, tuple(edges), 3.0, 4, 4, 8.0)
    horizontal = np.array([[100, 128], [120, 128], [140, 128], [160, 128]], float)
    vertical = np.array([[130, 98], [130, 118], [130, 138], [130, 158]], float)
    poses = torch.tensor(np.stack([horizontal, vertical])[None]).float()
    points, _, _ = head.decode(head.encode(poses, (SIZE, SIZE)), 0.2)
    found = points[0][~torch.isnan(points[0]).all(dim=-1).all(dim=-1)].numpy()
    truth = poses[0].numpy()
    for instance in found:
        for node, point in enumerate(instance):
            if not np.isnan(point).any():
                assert np.min(np.linalg.norm(truth[:, node] - point, axis=-1)) < 1.0


def test_missing_leaf_part_leaves_the_rest_of_the_animal():
    edges = [(0, 1), (1, 2), (1, 3)]
    head = BottomUpHead(4, tuple(edges), 2.0, 2, 2, 6.0)
    pose = np.array([[60, 60], [80, 60], [100, 60], [80, 80]], float)
    pose[3] = np.nan
    points, point_scores, _ = head.decode(head.encode(torch.tensor(pose[None, None]).float(), (128, 128)), 0.2)
    assert torch.isnan(points[0, 1:]).all()  # one instance
    np.testing.assert_allclose(points[0, 0, :3].numpy(), pose[:3], atol=0.1)
    assert torch.isnan(points[0, 0, 3]).all() and point_scores[0, 0, 3] == 0


def test_skeleton_of_two_trees_gives_one_instance_per_tree():
    """Fields link parts only along edges: parts of unconnected trees are separate instances."""
    head = BottomUpHead(4, ((0, 1), (2, 3)), 2.0, 2, 2, 6.0)
    pose = np.array([[20, 20], [40, 20], [20, 60], [40, 60]], float)
    points, _, scores = head.decode(head.encode(torch.tensor(pose[None, None]).float(), (96, 96)), 0.2)
    found = ~torch.isnan(points[0]).all(dim=-1)  # (instances, nodes)
    assert found[:2].sum(dim=1).tolist() == [2, 2] and not found[2:].any()
    assert sorted(found[:2].nonzero()[:, 1].tolist()) == [0, 1, 2, 3]
    one_limb = (1 + 2 * 0.95) / (2 + 4)  # a limb and two parts (peaks about 0.95) of 2 edges and 4 nodes
    torch.testing.assert_close(scores[0, :2], torch.full((2,), one_limb), atol=0.02, rtol=0)


def test_min_points_and_max_instances_limit_the_output():
    edges = ((0, 1), (1, 2))
    pose = np.array([[0, 0], [16, 0], [32, 0]], float)
    poses = np.stack([pose + [20 + 50 * i, 40] for i in range(4)])
    poses[3, 1:] = np.nan  # a lone part
    outputs = BottomUpHead(3, edges, 2.0, 2, 2, 6.0).encode(torch.tensor(poses[None]).float(), (128, 256))

    def count(**grouping) -> int:
        head = BottomUpHead(3, edges, 2.0, 2, 2, 6.0, GroupingOptions(**grouping))
        points, _, _ = head.decode(outputs, 0.2)
        return int((~torch.isnan(points[0]).all(dim=-1).all(dim=-1)).sum())

    assert count(min_points=1) == 4
    assert count(min_points=2) == 3
    assert count(min_points=1, max_instances=2) == 2


def test_decode_is_batched_per_frame():
    edges = ((0, 1),)
    head = BottomUpHead(2, edges, 2.0, 2, 2, 6.0)
    frames = torch.tensor([[[[20, 20], [40, 20]]], [[[60, 60], [60, 80]]]]).float()  # (2, 1, 2, 2)
    points, _, scores = head.decode(head.encode(frames, (96, 96)), 0.2)
    torch.testing.assert_close(points[:, 0], frames[:, 0], atol=0.1, rtol=0)
    assert torch.isnan(points[:, 1:]).all()
