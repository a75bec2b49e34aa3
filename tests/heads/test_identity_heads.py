"""Identity heads: class maps round trip, optimal identity assignment, class vectors."""

import numpy as np
import pytest
import torch

from posenn.heads.identity import (
    MulticlassBottomUpHead,
    MulticlassTopDownHead,
    assign_identities,
    class_maps,
    group_parts,
    grow_animals,
    sample_maps,
    tree_order,
)
from posenn.models.model import ClassVectors, PoseModel
from posenn.models.unet import UNet
from posenn.training.module import class_loss

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_class_maps_draw_each_identity_at_its_animals_parts():
    points = torch.tensor([[[[10.0, 10.0], [20.0, 10.0]], [[40.0, 30.0], [50.0, 30.0]], [[5.0, 40.0], [9.0, 40.0]]]])
    classes = torch.tensor([[1, 0, -1]])  # the third animal has no identity
    maps = class_maps(points, classes, 2, 48, 64, stride=1, sigma=2.0)
    assert maps.shape == (1, 2, 48, 64)
    assert maps[0, 1, 10, 10] == 1 and maps[0, 1, 10, 20] == 1 and maps[0, 1, 30, 40] < 1e-6
    assert maps[0, 0, 30, 40] == 1 and maps[0, 0, 30, 50] == 1 and maps[0, 0, 10, 10] < 1e-6
    assert maps[0, :, 40, 5].max() < 1e-6


def test_sample_maps_reads_bilinear_values_and_zero_for_missing_points():
    maps = torch.arange(16.0).reshape(1, 1, 4, 4)
    points = torch.tensor([[[1.0, 2.0], [1.5, 2.0], [float("nan"), 0.0]]])  # stride 1: cell j at pixel j
    values = sample_maps(maps, points, stride=1)
    torch.testing.assert_close(values[0, :, 0], torch.tensor([9.0, 9.5, 0.0]))


def test_assign_identities_is_one_to_one_and_optimal():
    probabilities = np.array([[0.6, 0.4], [0.9, 0.1], [0.5, 0.3]])
    identities = assign_identities(probabilities)
    assert sorted(identities[identities >= 0].tolist()) == [0, 1]
    assert identities[1] == 0 and identities[0] == 1  # 0.9 + 0.4 beats 0.6 + 0.1 and the rest
    assert (identities == -1).sum() == 1
    np.testing.assert_array_equal(assign_identities(np.array([[0.05, 0.1]]), min_probability=0.2), [-1])
    assert len(assign_identities(np.zeros((0, 3)))) == 0


@pytest.mark.parametrize("seed", range(5))
def test_multiclass_bottomup_round_trip(seed):
    rng = np.random.default_rng(seed)
    n_classes, nodes = int(rng.integers(2, 5)), int(rng.integers(2, 6))
    head = MulticlassBottomUpHead(nodes, n_classes, sigma=2.0, output_stride=2, max_peaks=8)
    centres = rng.permutation(np.stack(np.meshgrid([40, 100, 160], [40, 100]), -1).reshape(-1, 2))[:n_classes]
    poses = centres[:, None] + rng.uniform(-12, 12, (n_classes, nodes, 2))
    classes = rng.permutation(n_classes)
    outputs = head.encode(torch.tensor(poses[None]).float(), (160, 200), torch.tensor(classes[None]))
    points, point_scores, identity_scores = head.decode(outputs, peak_threshold=0.2)
    assert points.shape == (1, n_classes, nodes, 2)
    for animal, identity in enumerate(classes):
        np.testing.assert_allclose(points[0, identity].numpy(), poses[animal], atol=0.2)
    assert torch.all(identity_scores[0] > 0.7) and torch.all(point_scores[0] > 0.75)  # maps read between cells


def test_multiclass_bottomup_gives_a_missing_identity_no_instance():
    head = MulticlassBottomUpHead(2, 3, sigma=2.0, output_stride=2)
    poses = torch.tensor([[[[20.0, 20.0], [30.0, 20.0]], [[70.0, 60.0], [80.0, 60.0]]]])
    points, _, scores = head.decode(head.encode(poses, (96, 96), torch.tensor([[2, 0]])), 0.2)
    assert torch.isnan(points[0, 1]).all() and scores[0, 1] == 0
    torch.testing.assert_close(points[0, 2], poses[0, 0], atol=0.1, rtol=0)



def test_tree_order_walks_the_skeleton_from_the_root():
    order, parents = tree_order(5, [(0, 1), (1, 2), (1, 3)], root=1)
    assert order[0] == 1 and set(order[1:4]) == {0, 2, 3} and order[4] == 4  # node 4 is not on the skeleton
    assert parents.tolist() == [1, -1, 1, 1, -1]


def test_group_parts_follows_each_leg_and_leaves_strays_out():
    """Two animals side by side, each a body part and a three-part leg; the leg tip map also
    fires at a stray between the two bodies and at a far spot. Each animal keeps its own peaks."""
    bodies = np.array([[40.0, 50.0], [100.0, 50.0]])
    legs = np.stack([bodies + [0.0, 12.0 * k] for k in range(1, 4)])  # (3 parts, animals, 2)
    peaks = np.full((4, 4, 2), np.nan)
    peaks[0, :2] = bodies[::-1]  # peak order says nothing of the animal
    peaks[1:, :2] = legs
    peaks[3, 2:] = [[70.0, 80.0], [10.0, 150.0]]  # a stray between the animals and one far away
    found = ~np.isnan(peaks[..., 0])
    scores = np.where(found, 0.9, 0.0)
    scores[3, 2:] = [0.95, 0.95]  # the strays are stronger than the true tips
    groups = group_parts(peaks, found, scores, max_animals=3, edges=[(0, 1), (1, 2), (2, 3)])
    assert groups[0, 0] != groups[0, 1]
    for animal, body_peak in ((0, 1), (1, 0)):  # animal 0's body is peak 1 of part 0
        mine = groups[0, body_peak]
        assert [groups[part, animal] for part in (1, 2, 3)] == [mine] * 3
    assert (groups[3, 2:] == -1).all()


def test_group_parts_keeps_the_seed_part_that_groups_at_least_cost():
    """Two animals 40 px apart, each a chain of six parts; the last part's map also fires, more
    strongly than at the second animal, at a stray 45 px beside the first animal's tip. That
    part's strongest peaks lie farthest apart, and grown from them the first animal ends at the
    stray; another seed part groups at less cost and is kept."""
    nodes, edges = 6, [(k, k + 1) for k in range(5)]
    chains = [np.array([100.0, y]) + np.arange(nodes)[:, None] * [12.0, 0.0] for y in (100.0, 140.0)]
    peaks = np.full((nodes, 3, 2), np.nan)
    peaks[:, 0], peaks[:, 1], peaks[5, 2] = chains[0], chains[1], [130.0, 60.0]
    found = ~np.isnan(peaks[..., 0])
    scores = np.where(found, 0.8, 0.0)
    scores[5, 1:] = [0.6, 0.9]
    groups = group_parts(peaks, found, scores, max_animals=2, edges=edges)
    assert groups[0, 0] != groups[0, 1] and groups[5, 2] == -1
    assert (groups[:, 0] == groups[0, 0]).all() and (groups[:, 1] == groups[0, 1]).all()
    strongest = found & (scores >= 0.8)
    from_stray, stray_cost = grow_animals(peaks, found, scores, strongest, peaks[5, [2, 0]], 5, edges, 10)
    assert from_stray[5, 2] == from_stray[0, 0] and from_stray[5, 0] == -1  # the first animal's tip is the stray
    _, best_cost = grow_animals(peaks, found, scores, strongest, peaks[0, :2], 0, edges, 10)
    assert best_cost < stray_cost


def test_multiclass_bottomup_names_each_animal_by_the_mean_of_weak_class_evidence():
    """Class maps that lean only slightly to the right identity, and to the wrong one at some
    parts, still name every animal right, with all its parts: the evidence of its parts is
    pooled before identities are assigned."""
    nodes, stride = 6, 2
    head = MulticlassBottomUpHead(nodes, 2, sigma=2.0, output_stride=stride, edges=tuple((k, k + 1) for k in range(nodes - 1)))
    poses = np.stack([[30.0, 20.0] + np.arange(nodes)[:, None] * [0.0, 10.0], [70.0, 20.0] + np.arange(nodes)[:, None] * [0.0, 10.0]])
    maps, _ = head.encode(torch.tensor(poses[None]).float(), (96, 96), torch.tensor([[0, 1]]))
    lean = np.array([[1, -1, 1, 1, 0, 1], [1, 0, 1, 1, -1, 1]]) * 0.1  # (animals, nodes): at parts 1 and 4 one animal votes wrong
    votes = torch.zeros(1, 2, 48, 48)
    for animal in range(2):
        for node in range(nodes):
            x, y = (poses[animal, node] / stride).astype(int)
            votes[0, animal, y - 2 : y + 3, x - 2 : x + 3] = 0.5 + lean[animal, node]
            votes[0, 1 - animal, y - 2 : y + 3, x - 2 : x + 3] = 0.5 - lean[animal, node]
    points, _, identity_scores = head.decode((maps, votes), peak_threshold=0.2)
    for animal in range(2):
        np.testing.assert_allclose(points[0, animal].numpy(), poses[animal], atol=0.5)
    assert torch.all(identity_scores[0] > 0.5)
    animals, _, probabilities = head.decode_animals((maps, votes), peak_threshold=0.2)
    np.testing.assert_allclose(probabilities.sum(dim=-1).numpy(), 1.0, rtol=1e-6)
    for slot in range(2):  # the animals unnamed, in grouping order, each with its pooled evidence
        animal = int(np.argmin(np.abs(animals[0, slot, 0, 0].item() - poses[:, 0, 0])))
        assert probabilities[0, slot].argmax().item() == animal and probabilities[0, slot].max() > 0.5


def test_multiclass_topdown_targets_the_centred_animal_and_decodes_its_parts():
    head = MulticlassTopDownHead(2, 2.0, 2, crop_size=32, n_classes=3)
    points = torch.tensor([[[[10.0, 12.0], [20.0, 16.0]], [[2.0, 2.0], [4.0, 4.0]]]])
    maps, identity = head.encode(points, (32, 32), torch.tensor([[2, 0]]))
    assert identity.tolist() == [2]
    decoded, _ = head.decode((maps, torch.zeros(1, 3)), 0.2)
    torch.testing.assert_close(decoded[0, 0], points[0, 0], atol=0.1, rtol=0)
    probabilities = head.classify((maps, torch.tensor([[0.0, 0.0, 10.0]])))
    assert probabilities.argmax().item() == 2 and probabilities.sum().item() == pytest.approx(1.0)


def test_pose_model_with_class_vectors_returns_logits():
    backbone = UNet(1, filters=4, max_stride=8, output_stride=2, convs_per_block=1)
    model = PoseModel(backbone, 3, classifier=ClassVectors(backbone.channels_at(8), 4)).eval()
    with torch.no_grad():
        maps, logits = model(torch.rand(2, 1, 40, 40))
    assert maps.shape == (2, 3, 20, 20) and logits.shape == (2, 4)


@pytest.mark.parametrize("detached", [True, False])
def test_detached_class_vectors_leave_the_backbone_to_the_part_maps(detached):
    torch.manual_seed(0)
    backbone = UNet(1, filters=4, max_stride=8, output_stride=2, convs_per_block=1)
    model = PoseModel(backbone, 3, classifier=ClassVectors(backbone.channels_at(8), 2, detached=detached))
    _, logits = model(torch.rand(2, 1, 40, 40))
    class_loss(logits, torch.tensor([0, 1])).backward()
    backbone_grads = [p.grad for p in model.backbone.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    class_grads = [p.grad for p in model.classifier.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(class_grads) == len(list(model.classifier.parameters()))  # the class layers always learn
    assert (len(backbone_grads) == 0) == detached  # the backbone only from a shared class loss


def test_global_max_class_vectors_read_the_whole_map():
    classifier = ClassVectors(2, 3, hidden=[5, 5], pooling="global_max").eval()
    assert [layer.out_features for layer in classifier.layers if isinstance(layer, torch.nn.Linear)] == [5, 5, 3]
    features = torch.zeros(1, 2, 8, 8)
    features[0, 1, 0, 0] = 1.0  # a corner, outside the centre that "centre" pooling reads
    with torch.no_grad():
        moved = classifier(features) - classifier(torch.zeros_like(features))
    assert moved.abs().max() > 0
    with pytest.raises(ValueError, match="class_pooling"):
        ClassVectors(2, 3, pooling="mean")


def test_class_loss_ignores_unknown_identities():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [9.0, -9.0]])
    loss = class_loss(logits, torch.tensor([0, 1, -1]))
    expected = torch.nn.functional.cross_entropy(logits[:2], torch.tensor([0, 1]))
    torch.testing.assert_close(loss, expected)
    assert class_loss(logits, torch.full((3,), -1)).item() == 0
