"""Pose metrics: agreement with pycocotools, known values, and label-file handling."""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from rich.console import Console

from posenn.errors import PosennError
from posenn.evaluation.matching import oks_matrix
from posenn.evaluation.pose import evaluate_arrays, evaluate_labels
from posenn.evaluation.report import print_pose_report, write_json

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# Where NaN predicted points go for pycocotools: far enough that exp(-e) is exactly 0, close
# enough that the detection's box area stays inside COCOeval's "all" area range (< 1e10).
FAR_AWAY = 1e4


def pycocotools_map_mar(gt_frames, pred_frames, pred_scores, sigmas):
    """mAP and mAR from COCOeval(iouType="keypoints"), with no cap on detections per frame."""
    annotations = []
    for image_id, gt in enumerate(gt_frames, start=1):
        for instance in gt:
            labeled = np.isfinite(instance).all(axis=1)
            if not labeled.any():
                continue  # posenn drops ground truth without labeled points
            x, y = instance[labeled].T
            keypoints = np.column_stack([np.nan_to_num(instance), np.where(labeled, 2, 0)]).ravel()
            width, height = x.max() - x.min(), y.max() - y.min()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": keypoints.tolist(),
                    "num_keypoints": int(labeled.sum()),
                    "area": float(width * height),
                    "bbox": [float(x.min()), float(y.min()), float(width), float(height)],
                    "iscrowd": 0,
                }
            )
    results = []
    for image_id, (pred, scores) in enumerate(zip(pred_frames, pred_scores), start=1):
        for instance, score in zip(pred, scores):
            if np.isnan(instance).all():
                continue  # posenn drops predictions without points
            points = np.where(np.isnan(instance), FAR_AWAY, instance)
            keypoints = np.column_stack([points, np.ones(len(points))]).ravel()
            results.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": keypoints.tolist(),
                    "score": float(score),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {
            "images": [{"id": i} for i in range(1, len(gt_frames) + 1)],
            "annotations": annotations,
            "categories": [{"id": 1, "name": "animal"}],
        }
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=float)
        evaluator.params.maxDets = [1000]
        evaluator.params.areaRng = [[0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][:, :, 0, 0, 0]
    recall = evaluator.eval["recall"][:, 0, 0, 0]
    return precision.mean(), recall.mean()


def random_case(rng: np.random.Generator, tied_scores: bool = False):
    """Random frames with unlabeled points, NaN predictions, misses and false positives."""
    n_nodes = int(rng.integers(2, 9))
    gt_frames, pred_frames, pred_scores = [], [], []
    for _ in range(int(rng.integers(3, 15))):
        n_gt = int(rng.integers(0, 5))
        centers = rng.uniform(50, 450, (n_gt, 1, 2))
        gt = centers + rng.normal(0, rng.uniform(5, 30), (n_gt, n_nodes, 2))
        gt[rng.random((n_gt, n_nodes)) < 0.25] = np.nan
        if n_gt and rng.random() < 0.2:
            gt[0] = np.nan  # an instance with no labeled point
        found = gt[rng.random(n_gt) < 0.8]
        pred = found + rng.normal(0, rng.uniform(0.5, 6), found.shape)
        unlabeled = np.isnan(pred)
        pred[unlabeled] = rng.uniform(0, 500, unlabeled.sum())  # predicted where not labeled
        false_pos = rng.uniform(0, 500, (int(rng.integers(0, 3)), 1, 2)) + rng.normal(
            0, 15, (1, n_nodes, 2)
        )
        pred = np.concatenate([pred, false_pos])
        pred[rng.random(pred.shape[:2]) < 0.15] = np.nan
        scores = rng.random(len(pred))
        gt_frames.append(gt)
        pred_frames.append(pred)
        pred_scores.append(np.round(scores, 1) if tied_scores else scores)
    sigmas = rng.uniform(0.01, 0.1, n_nodes)
    return gt_frames, pred_frames, pred_scores, sigmas


@pytest.mark.parametrize("seed", range(8))
def test_map_mar_agree_with_pycocotools(seed):
    rng = np.random.default_rng(seed)
    gt_frames, pred_frames, pred_scores, sigmas = random_case(rng, tied_scores=seed % 2 == 1)
    names = [f"n{i}" for i in range(len(sigmas))]

    metrics = evaluate_arrays(gt_frames, pred_frames, pred_scores, names, sigmas)
    expected_map, expected_mar = pycocotools_map_mar(gt_frames, pred_frames, pred_scores, sigmas)

    assert 0 < expected_map < 1  # the case is neither trivial nor hopeless
    assert metrics["oks_map"] == pytest.approx(expected_map, abs=1e-6)
    assert metrics["oks_mar"] == pytest.approx(expected_mar, abs=1e-6)


def test_duplicate_instances_agree_with_pycocotools():
    """Equal OKS to two ground truths and equal scores: ties break as in COCOeval."""
    rng = np.random.default_rng(11)
    instance = rng.uniform(0, 100, (1, 5, 2))
    gt_frames = [np.concatenate([instance, instance, instance + 40])]
    pred_frames = [np.concatenate([instance + 1, instance + 1, instance + 3])]
    pred_scores = [np.array([0.5, 0.5, 0.5])]
    sigmas = np.full(5, 0.05)

    metrics = evaluate_arrays(gt_frames, pred_frames, pred_scores, list("abcde"), sigmas)
    expected_map, expected_mar = pycocotools_map_mar(gt_frames, pred_frames, pred_scores, sigmas)

    assert metrics["oks_map"] == pytest.approx(expected_map, abs=1e-6)
    assert metrics["oks_mar"] == pytest.approx(expected_mar, abs=1e-6)


def test_oks_formula_by_hand():
    gt = np.array([[[0.0, 0.0], [10.0, 20.0], [np.nan, np.nan]]])  # box 10 x 20 = area 200
    pred = np.array([[[3.0, 4.0], [np.nan, np.nan], [50.0, 50.0]]])  # 5 px off, missing, unlabeled
    sigmas = np.array([0.1, 0.1, 0.1])

    oks = oks_matrix(gt, pred, sigmas)

    expected = (np.exp(-25 / (2 * 200 * 0.2**2)) + 0.0) / 2
    assert oks.shape == (1, 1)
    assert oks[0, 0] == pytest.approx(expected, rel=1e-12)


def test_ground_truth_against_itself_is_perfect():
    rng = np.random.default_rng(3)
    gt_frames, _, _, sigmas = random_case(rng)
    names = [f"n{i}" for i in range(len(sigmas))]
    scores = [np.ones(len(gt)) for gt in gt_frames]

    metrics = evaluate_arrays(gt_frames, gt_frames, scores, names, sigmas)

    n_gt = sum(int(np.isfinite(gt).all(axis=2).any(axis=1).sum()) for gt in gt_frames)
    assert metrics["n_gt_instances"] == metrics["n_matched"] == n_gt
    assert metrics["oks_map"] == metrics["oks_mar"] == 1.0
    assert metrics["oks_ap50"] == metrics["oks_ap75"] == 1.0
    assert metrics["dist_mean"] == metrics["dist_p95"] == 0.0
    assert metrics["pck_mean"] == 1.0
    assert set(metrics["pck"].values()) == set(metrics["pck_size"].values()) == {1.0}
    assert metrics["visibility_precision"] == metrics["visibility_recall"] == 1.0


def test_gaussian_noise_gives_rayleigh_distances():
    rng = np.random.default_rng(0)
    noise = 2.0
    n_frames, n_nodes = 200, 20
    centers = np.array([[[100.0, 100.0]], [[300.0, 300.0]]])
    gt_frames = [centers + rng.normal(0, 30, (2, n_nodes, 2)) for _ in range(n_frames)]
    pred_frames = [gt + rng.normal(0, noise, gt.shape) for gt in gt_frames]
    scores = [np.ones(2)] * n_frames

    metrics = evaluate_arrays(gt_frames, pred_frames, scores, [str(i) for i in range(n_nodes)])

    assert metrics["n_matched"] == 2 * n_frames
    assert metrics["dist_p50"] == pytest.approx(noise * np.sqrt(2 * np.log(2)), rel=0.05)
    assert metrics["dist_p90"] == pytest.approx(noise * np.sqrt(2 * np.log(10)), rel=0.05)
    assert metrics["dist_mean"] == pytest.approx(noise * np.sqrt(np.pi / 2), rel=0.05)
    rayleigh_cdf_2px = 1 - np.exp(-(2.0**2) / (2 * noise**2))
    assert metrics["pck"]["2"] == pytest.approx(rayleigh_cdf_2px, abs=0.02)
    assert metrics["per_node"]["0"]["n"] == 2 * n_frames


def test_systematic_shift_shows_as_median_offset():
    rng = np.random.default_rng(1)
    shift = np.array([2.0, -1.5])
    gt_frames = [np.array([[[100.0, 100.0]], [[300.0, 300.0]]]) + rng.normal(0, 30, (2, 10, 2)) for _ in range(50)]
    pred_frames = [gt + shift + rng.normal(0, 0.5, gt.shape) for gt in gt_frames]
    pred_frames[0][0, :3] = np.nan  # missing points add no offset

    metrics = evaluate_arrays(gt_frames, pred_frames, [np.ones(2)] * 50, [str(i) for i in range(10)])

    assert metrics["offset_x_p50"] == pytest.approx(2.0, abs=0.05)
    assert metrics["offset_y_p50"] == pytest.approx(-1.5, abs=0.05)
    unshifted = evaluate_arrays(gt_frames, [p - shift for p in pred_frames], [np.ones(2)] * 50, [str(i) for i in range(10)])
    assert abs(unshifted["offset_x_p50"]) < 0.05 and unshifted["oks_map"] > metrics["oks_map"]


def test_missing_and_extra_points_count_in_visibility_not_distance():
    gt = np.array([[[0.0, 0.0], [10.0, 10.0], [20.0, 0.0], [np.nan, np.nan]]])
    pred = np.array([[[0.0, 3.0], [10.0, 10.0], [np.nan, np.nan], [5.0, 5.0]]])

    metrics = evaluate_arrays([gt], [pred], [np.ones(1)], ["a", "b", "c", "d"])

    assert metrics["visibility_recall"] == pytest.approx(2 / 3)
    assert metrics["visibility_precision"] == pytest.approx(2 / 3)
    assert metrics["dist_mean"] == pytest.approx(1.5)
    assert metrics["pck"]["1"] == pytest.approx(1 / 3)
    assert metrics["pck"]["3"] == pytest.approx(2 / 3)
    assert metrics["per_node"]["c"]["n"] == 0
    assert np.isnan(metrics["per_node"]["c"]["dist_mean"])


def test_no_predictions_gives_zero_precision_and_nan_distances():
    gt = np.array([[[0.0, 0.0], [10.0, 10.0]]])

    metrics = evaluate_arrays([gt], [np.zeros((0, 2, 2))], [np.zeros(0)], ["a", "b"])

    assert metrics["oks_map"] == metrics["oks_mar"] == 0.0
    assert metrics["n_matched"] == 0
    assert np.isnan(metrics["dist_mean"]) and np.isnan(metrics["pck_mean"])


def test_node_sigmas_by_name_and_bad_sigmas():
    gt = np.array([[[0.0, 0.0], [10.0, 10.0]]])
    pred = gt + [[[0.0, 2.0], [0.0, 0.0]]]
    loose = evaluate_arrays([gt], [pred], [np.ones(1)], ["a", "b"], {"a": 0.5})
    strict = evaluate_arrays([gt], [pred], [np.ones(1)], ["a", "b"])
    assert loose["oks_map"] > strict["oks_map"]

    with pytest.raises(PosennError, match="not in the skeleton"):
        evaluate_arrays([gt], [pred], [np.ones(1)], ["a", "b"], {"tail": 0.1})
    with pytest.raises(PosennError, match="one per node"):
        evaluate_arrays([gt], [pred], [np.ones(1)], ["a", "b"], [0.1, 0.1, 0.1])


# --- sleap-io level -------------------------------------------------------------------------

SKELETON_NODES = ("head", "thorax", "tail")


def make_labels(frames, skeleton=None, video=None):
    """Labels from {frame_idx: [(points, score or None for a user instance), ...]}."""
    skeleton = sio.Skeleton(list(SKELETON_NODES)) if skeleton is None else skeleton
    # Not `video or ...`: a Video without a backend has length 0, so it is falsy.
    video = sio.Video(filename="/data/session1/fake.mp4") if video is None else video
    labeled_frames = []
    for frame_idx, instances in frames.items():
        built = [
            sio.Instance.from_numpy(np.asarray(points, float), skeleton)
            if score is None
            else sio.PredictedInstance.from_numpy(
                np.asarray(points, float), skeleton, point_scores=np.ones(len(points)), score=score
            )
            for points, score in instances
        ]
        labeled_frames.append(sio.LabeledFrame(video=video, frame_idx=frame_idx, instances=built))
    return sio.Labels(labeled_frames)


ANIMAL_A = [[10.0, 10.0], [20.0, 15.0], [30.0, 12.0]]
ANIMAL_B = [[110.0, 60.0], [120.0, 65.0], [130.0, 62.0]]


def test_labels_against_themselves_are_perfect():
    gt = make_labels({0: [(ANIMAL_A, None), (ANIMAL_B, None)], 5: [(ANIMAL_A, None)]})

    metrics = evaluate_labels(gt, gt)

    assert metrics["oks_map"] == 1.0 and metrics["oks_mar"] == 1.0
    assert metrics["dist_p95"] == 0.0
    assert metrics["n_frames"] == 2 and metrics["n_matched"] == 3
    assert tuple(metrics["per_node"]) == SKELETON_NODES


def test_frames_pair_by_video_file_name_and_frame_index():
    gt = make_labels({0: [(ANIMAL_A, None)], 7: [(ANIMAL_B, None)]})
    shifted_b = np.array(ANIMAL_B) + [3.0, 4.0]  # 5 px off
    pred = make_labels(
        {
            0: [(ANIMAL_A, 0.9)],
            7: [(shifted_b, 0.8)],
            8: [(ANIMAL_B, 0.7)],  # no ground truth here: ignored
        },
        video=sio.Video(filename="/elsewhere/fake.mp4"),
    )

    metrics = evaluate_labels(gt, pred)

    assert metrics["n_frames"] == 2
    assert metrics["n_pred_instances"] == 2
    assert metrics["n_matched"] == 2
    assert metrics["dist_p50"] == pytest.approx(2.5)
    assert metrics["dist_mean"] == pytest.approx(2.5)


def test_user_and_predicted_instances_are_chosen_as_asked():
    labels = make_labels(
        {
            0: [(ANIMAL_A, None), (ANIMAL_B, 0.9)],
            1: [(ANIMAL_B, 0.8)],
        }
    )

    user = evaluate_labels(labels, labels, gt_instances="user", pred_instances="user")
    assert user["n_frames"] == 1 and user["n_gt_instances"] == 1

    predicted = evaluate_labels(labels, labels, gt_instances="predicted")
    assert predicted["n_frames"] == 2 and predicted["n_gt_instances"] == 2
    assert predicted["oks_map"] == 1.0

    every = evaluate_labels(labels, labels, gt_instances="all", pred_instances="all")
    assert every["n_gt_instances"] == 3 and every["oks_map"] == 1.0

    # Default: user ground truth against the file's predictions, ANIMAL_B predicted, A missed.
    default = evaluate_labels(labels, labels)
    assert default["n_pred_instances"] == 1 and default["oks_mar"] == 0.0


def test_predicted_nodes_pair_by_name():
    gt = make_labels({0: [(ANIMAL_A, None)]})
    reordered = sio.Skeleton(["tail", "head", "thorax"])
    pred = make_labels({0: [(np.array(ANIMAL_A)[[2, 0, 1]], 0.9)]}, skeleton=reordered)

    metrics = evaluate_labels(gt, pred)

    assert metrics["oks_map"] == 1.0 and metrics["dist_mean"] == 0.0


def test_ground_truth_without_user_instances_is_an_error():
    only_predictions = make_labels({0: [(ANIMAL_A, 0.9)]})

    with pytest.raises(PosennError, match=r"gt\.slp: holds no ground-truth .*'user'.*predicted"):
        evaluate_labels(only_predictions, only_predictions, gt_path="gt.slp")


def test_skeleton_mismatch_is_an_error():
    gt = make_labels({0: [(ANIMAL_A, None)]})
    pred = make_labels({0: [(ANIMAL_A, 0.9)]}, skeleton=sio.Skeleton(["head", "thorax", "tip"]))

    with pytest.raises(PosennError, match=r"Skeletons do not match.*'tail'.*pred\.slp.*'tip'"):
        evaluate_labels(gt, pred, gt_path="gt.slp", pred_path="pred.slp")


def test_unrelated_videos_are_an_error():
    gt = make_labels({0: [(ANIMAL_A, None)]})
    pred = make_labels({0: [(ANIMAL_A, 0.9)]}, video=sio.Video(filename="other.mp4"))

    with pytest.raises(PosennError, match=r"No video of gt\.slp.*fake\.mp4.*other\.mp4"):
        evaluate_labels(gt, pred, gt_path="gt.slp", pred_path="pred.slp")


def test_real_predictions_against_themselves():
    path = DATA / "centered_pair_predictions.slp"
    if not path.exists():
        pytest.skip(f"sample data not found: {path}")
    labels = sio.load_slp(str(path))

    metrics = evaluate_labels(labels, labels, gt_instances="predicted")

    assert metrics["n_frames"] == 1100
    assert metrics["n_gt_instances"] == metrics["n_matched"] == 2274
    assert metrics["oks_map"] == 1.0 and metrics["oks_mar"] == 1.0
    assert metrics["dist_p95"] == 0.0


# --- report ---------------------------------------------------------------------------------


def test_report_prints_tables_and_json_has_null_for_nan(tmp_path):
    gt = np.array([[[0.0, 0.0], [10.0, 10.0]]])
    metrics = evaluate_arrays([gt], [np.zeros((0, 2, 2))], [np.zeros(0)], ["a", "b"])
    console = Console(record=True, width=100)

    print_pose_report(metrics, console)
    write_json(metrics, tmp_path / "metrics.json")

    text = console.export_text()
    assert "OKS mAP" in text and "Distance per node" in text
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["dist_mean"] is None and saved["oks_map"] == 0.0
    assert saved["per_node"]["a"] == {
        "dist_mean": None, "dist_p50": None, "dist_p90": None, "dist_p95": None, "n": 0
    }
    assert list(tmp_path.iterdir()) == [tmp_path / "metrics.json"]
