"""Property-based tests (hypothesis) of the parts with maths: encode/decode of every head, OKS
against pycocotools, frame-range parsing and config overrides.

Each property runs on a few dozen generated cases (`SETTINGS`) so the file stays fast; a failure
prints the smallest case hypothesis found.
"""

import contextlib
import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy.optimize import linear_sum_assignment

from posenn.config import Config, with_overrides
from posenn.errors import PosennError
from posenn.evaluation.matching import bbox_areas, oks_matrix
from posenn.heads.bottomup import BottomUpHead, GroupingOptions
from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.centroid import CentroidHead
from posenn.heads.identity import MulticlassBottomUpHead, MulticlassTopDownHead
from posenn.heads.single_instance import SingleInstanceHead
from posenn.io.video import parse_frame_ranges

pytestmark = pytest.mark.usefixtures("torch_single_thread")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CELL = 64  # animals sit in cells of a grid this many pixels wide, parts within SPREAD of its centre
SPREAD = 14.0
THRESHOLD = 0.2


@st.composite
def scenes(draw, max_animals: int = 4, min_animals: int = 1):
    """Animals `(animals, nodes, 2)` in distinct cells of a grid, the frame `(height, width)`,
    a stride and a sigma for it."""
    columns = draw(st.integers(1, 3))
    rows = draw(st.integers(1 if columns >= min_animals else 2, 2))
    n_animals = draw(st.integers(min_animals, min(max_animals, columns * rows)))
    n_nodes = draw(st.integers(2, 6))
    stride = draw(st.sampled_from([1, 2, 4]))
    sigma = draw(st.floats(1.5, 2.5)) * stride ** 0.5
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    cells = rng.permutation(columns * rows)[:n_animals]
    centres = np.stack([cells % columns, cells // columns], axis=-1) * CELL + CELL / 2
    poses = centres[:, None] + rng.uniform(-SPREAD, SPREAD, (n_animals, n_nodes, 2))
    # Frame sizes that are not multiples of the stride, with at least 8 px around every animal.
    height, width = rows * CELL + draw(st.integers(0, 3)), columns * CELL + draw(st.integers(0, 3))
    return poses.astype(np.float32), (height, width), stride, sigma


def assert_found(decoded: np.ndarray, truth: np.ndarray, stride: int) -> None:
    """Every true animal has a decoded one (matched by mean distance) within a fraction of a
    map cell at each part."""
    found = decoded[~np.isnan(decoded).all(axis=(-1, -2))]
    assert len(found) >= len(truth)
    errors = np.linalg.norm(found[:, None] - truth[None], axis=-1)  # (found, truth, nodes)
    rows, columns = linear_sum_assignment(np.nan_to_num(errors.mean(axis=-1), nan=1e6))
    matched = errors[rows, columns]
    assert len(columns) == len(truth) and not np.isnan(matched).any()
    assert matched.max() <= 0.25 * stride + 0.05, f"max error {matched.max():.3f} px at stride {stride}"


@SETTINGS
@given(scenes(max_animals=1))
def test_single_instance_round_trip(scene):
    poses, shape, stride, sigma = scene
    head = SingleInstanceHead(n_nodes=poses.shape[1], sigma=sigma, output_stride=stride)
    decoded, _ = head.decode(head.encode(torch.from_numpy(poses[None]), shape), THRESHOLD)
    assert_found(decoded[0].numpy(), poses, stride)


@SETTINGS
@given(scenes())
def test_centroid_round_trip(scene):
    poses, shape, stride, sigma = scene
    head = CentroidHead(sigma=sigma, output_stride=stride, anchor=0)
    decoded, _ = head.decode(head.encode(torch.from_numpy(poses[None]), shape), THRESHOLD)
    assert_found(decoded[0].numpy(), poses[:, :1], stride)


@SETTINGS
@given(scenes(max_animals=1), st.integers(0, 3))
def test_centered_instance_round_trips_on_the_crop(scene, identity):
    poses, _, stride, sigma = scene
    crop = CELL  # the animal's cell is its crop
    centred = poses - poses.reshape(-1, 2).min(axis=0) + (crop - 2 * SPREAD) / 2
    for head in (CenteredInstanceHead(poses.shape[1], sigma, stride, crop_size=crop),
                 MulticlassTopDownHead(poses.shape[1], sigma, stride, crop_size=crop, n_classes=4)):
        points = torch.from_numpy(centred[None])
        if isinstance(head, MulticlassTopDownHead):
            maps, classes = head.encode(points, (crop, crop), torch.tensor([[identity]]))
            assert classes.tolist() == [identity]
            decoded, _ = head.decode((maps, torch.zeros(1, 4)), THRESHOLD)
        else:
            decoded, _ = head.decode(head.encode(points, (crop, crop)), THRESHOLD)
        assert_found(decoded[0].numpy(), centred, stride)


@SETTINGS
@given(scenes(min_animals=2))
def test_bottomup_round_trip(scene):
    poses, shape, stride, sigma = scene
    n_nodes = poses.shape[1]
    edges = tuple((node, node + 1) for node in range(n_nodes - 1))
    head = BottomUpHead(n_nodes, edges, sigma, stride, stride, 2.0 * stride, GroupingOptions(max_instances=8))
    decoded, _, _ = head.decode(head.encode(torch.from_numpy(poses[None]), shape), THRESHOLD)
    assert_found(decoded[0].numpy(), poses, stride)


@SETTINGS
@given(scenes(min_animals=2), st.randoms())
def test_multiclass_bottomup_round_trip(scene, random):
    poses, shape, stride, sigma = scene
    classes = list(range(len(poses)))
    random.shuffle(classes)
    head = MulticlassBottomUpHead(poses.shape[1], len(poses), sigma, stride, max_peaks=8)
    outputs = head.encode(torch.from_numpy(poses[None]), shape, torch.tensor([classes]))
    decoded, _, _ = head.decode(outputs, THRESHOLD)
    for animal, identity in enumerate(classes):  # each animal comes back as its identity
        assert_found(decoded[0, identity : identity + 1].numpy(), poses[animal : animal + 1], stride)


def coco_oks(gt: np.ndarray, pred: np.ndarray, sigmas: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """pycocotools' OKS matrix `(gt, pred)` of one image."""
    annotations = []
    for number, (instance, area) in enumerate(zip(gt, areas), start=1):
        labeled = ~np.isnan(instance).any(axis=1)
        keypoints = np.column_stack([np.nan_to_num(instance), np.where(labeled, 2, 0)]).ravel()
        x, y = instance[labeled].T
        annotations.append({"id": number, "image_id": 1, "category_id": 1, "keypoints": keypoints.tolist(),
                            "num_keypoints": int(labeled.sum()), "area": float(area), "iscrowd": 0,
                            "bbox": [float(x.min()), float(y.min()), float(np.ptp(x)), float(np.ptp(y))]})
    results = [{"image_id": 1, "category_id": 1, "score": 1.0 - 0.01 * number,
                "keypoints": np.column_stack([instance, np.ones(len(instance))]).ravel().tolist()}
               for number, instance in enumerate(pred)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": [{"id": 1}], "annotations": annotations, "categories": [{"id": 1, "name": "animal"}]}
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = sigmas
        evaluator.params.maxDets = [1000]
        evaluator._prepare()  # what evaluate() does before computeOks
        ious = np.asarray(evaluator.computeOks(1, 1))  # (detections by score, gt)
    return ious.T


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_oks_matches_pycocotools(n_gt, n_pred, n_nodes, seed):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 200, (n_gt, 1, 2)) + rng.normal(0, 20, (n_gt, n_nodes, 2))
    gt[rng.random((n_gt, n_nodes)) < 0.3] = np.nan
    gt[:, 0] = np.where(np.isnan(gt[:, 0]), 100.0, gt[:, 0])  # every animal has a labeled point
    pred = gt[rng.integers(0, n_gt, n_pred)] + rng.normal(0, rng.uniform(0.5, 20), (n_pred, n_nodes, 2))
    pred = np.where(np.isnan(pred), rng.uniform(0, 200, pred.shape), pred)
    sigmas = rng.uniform(0.02, 0.1, n_nodes)
    areas = bbox_areas(gt) + rng.uniform(1, 100, n_gt)  # no zero areas: pycocotools has no epsilon there
    np.testing.assert_allclose(oks_matrix(gt, pred, sigmas, areas), coco_oks(gt, pred, sigmas, areas), atol=1e-9)


def ranges_text(indices: list[int]) -> str:
    """Sorted unique indices written as the shortest `--frames` text: runs as `a-b`."""
    parts, start = [], indices[0]
    for previous, index in zip(indices, indices[1:] + [None]):
        if index != previous + 1:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = index
    return ",".join(parts)


@SETTINGS
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), min_size=1))))
def test_frame_ranges_give_back_the_frames(case):
    n_frames, frames = case
    assert parse_frame_ranges(ranges_text(sorted(frames)), n_frames) == sorted(frames)


@SETTINGS
@given(st.integers(1, 500), st.integers(0, 1000), st.integers(0, 1000))
def test_frame_ranges_outside_the_video_or_reversed_are_refused(n_frames, start, end):
    text = f"{start}-{end}"
    if start <= end < n_frames:
        assert parse_frame_ranges(text, n_frames) == list(range(start, end + 1))
    else:
        with pytest.raises(PosennError, match="--frames"):
            parse_frame_ranges(text, n_frames)


OVERRIDES = {  # key: (strategy of values, whether a value is valid)
    "train.epochs": (st.integers(-5, 1000), lambda v: v >= 1),
    "train.batch_size": (st.integers(-5, 64), lambda v: v >= 1),
    "data.scale": (st.floats(-1.0, 5.0, allow_nan=False), lambda v: 0.0 < v <= 4.0),
    "data.val_fraction": (st.floats(-0.5, 1.5, allow_nan=False), lambda v: 0.0 <= v < 1.0),
    "augment.rotation": (st.floats(-10.0, 360.0, allow_nan=False), lambda v: 0.0 <= v <= 180.0),
    "model.sigma": (st.floats(-1.0, 20.0, allow_nan=False), lambda v: v > 0.0),
}


@SETTINGS
@given(st.sampled_from(sorted(OVERRIDES)).flatmap(lambda key: st.tuples(st.just(key), OVERRIDES[key][0])))
def test_overrides_set_valid_values_and_name_the_key_of_invalid_ones(case):
    key, value = case
    valid = OVERRIDES[key][1](value)
    if valid:
        section, field = key.split(".")
        assert getattr(getattr(with_overrides(Config(), [f"{key}={value!r}"]), section), field) == value
    else:
        with pytest.raises(PosennError, match=key.replace(".", r"\.")):
            with_overrides(Config(), [f"{key}={value!r}"])
