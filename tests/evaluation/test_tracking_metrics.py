"""Tracking metrics: CLEAR-MOT and IDF1 on known tracking errors, and label-file handling."""

from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio

from posenn.errors import PosennError
from posenn.evaluation.tracking import evaluate_tracking, evaluate_tracking_arrays, has_tracks

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SIGMAS = np.full(3, 0.025)
N_FRAMES = 100
NODES = ["head", "thorax", "tail"]


def animal(x: float) -> np.ndarray:
    """A 3-node animal at `(x, 0)`, 10 px across; animals 100 px apart have OKS ~0."""
    return np.array([[x, 0.0], [x + 10, 0.0], [x, 10.0]])


def animals(xs: list[float]) -> np.ndarray:
    """`(len(xs), 3, 2)` animals at the given x positions."""
    return np.array([animal(x) for x in xs]).reshape(-1, 3, 2)


def frame(gt_xs: list[float], gt_ids: list[int], pred_xs: list[float], pred_ids: list[int]):
    """One frame for `evaluate_tracking_arrays` from animal positions and ids."""
    return animals(gt_xs), np.array(gt_ids), animals(pred_xs), np.array(pred_ids)


def two_animals(pred_ids_at) -> list:
    """Two animals at x=0 and x=500 over 100 frames, predicted exactly with `pred_ids_at(t)`."""
    return [frame([0, 500], [0, 1], [0, 500], pred_ids_at(t)) for t in range(N_FRAMES)]


def test_perfect_tracking():
    result = evaluate_tracking_arrays(two_animals(lambda t: [7, 3]), SIGMAS)
    assert result["id_switches"] == 0
    assert result["fragmentations"] == 0
    assert result["mota"] == 1.0
    assert result["motp_oks"] == pytest.approx(1.0)
    assert (result["idf1"], result["idp"], result["idr"]) == (1.0, 1.0, 1.0)
    assert (result["n_gt_tracks"], result["n_pred_tracks"]) == (2, 2)
    assert (result["mostly_tracked"], result["mostly_lost"]) == (2, 0)
    assert (result["n_frames"], result["n_gt_detections"], result["n_matches"]) == (100, 200, 200)
    assert (result["false_positives"], result["misses"]) == (0, 0)


def test_swap_halfway_is_one_switch_per_track():
    result = evaluate_tracking_arrays(two_animals(lambda t: [0, 1] if t < 50 else [1, 0]), SIGMAS)
    assert result["id_switches"] == 2
    assert result["fragmentations"] == 0
    assert result["idf1"] == pytest.approx(0.5)
    assert result["mota"] == pytest.approx(1 - 2 / 200)
    assert result["n_matches"] == 200


def test_track_broken_into_two_ids():
    frames = [frame([0], [0], [0], [0 if t < 50 else 1]) for t in range(N_FRAMES)]
    result = evaluate_tracking_arrays(frames, SIGMAS)
    # motmetrics: a new id on a continuously matched animal is a switch, not a fragmentation.
    assert result["id_switches"] == 1
    assert result["fragmentations"] == 0
    assert (result["idf1"], result["idp"], result["idr"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (result["n_gt_tracks"], result["n_pred_tracks"]) == (1, 2)
    assert result["mota"] == pytest.approx(0.99)


def test_gap_in_predictions_is_a_fragmentation():
    missed = range(40, 60)
    tracked = [t not in missed for t in range(N_FRAMES)]
    frames = [frame([0], [0], [0] * hit, [5] * hit) for hit in tracked]
    result = evaluate_tracking_arrays(frames, SIGMAS)
    assert result["fragmentations"] == 1
    assert result["id_switches"] == 0
    assert result["misses"] == 20
    assert result["mota"] == pytest.approx(0.8)
    assert result["idf1"] == pytest.approx(2 * 80 / (100 + 80))
    assert result["mostly_tracked"] == 1  # tracked in exactly 80% of its frames


def test_without_ground_truth_ratios_are_nan():
    result = evaluate_tracking_arrays([frame([], [], [0], [-1])], SIGMAS)
    assert np.isnan(result["mota"]) and np.isnan(result["idr"])
    assert (result["false_positives"], result["n_gt_detections"]) == (1, 0)


def test_misses_and_false_positives_enter_mota():
    frames = []
    for t in range(N_FRAMES):
        pred_xs = [0]
        if t < 5:
            pred_xs = []  # 5 misses
        elif t < 10:
            pred_xs = [1]  # OKS exp(-2) < 0.5: a miss and a false positive each
        elif t < 20:
            pred_xs = [0, 300]  # 10 false positives
        frames.append(frame([0], [0], pred_xs, list(range(len(pred_xs)))))
    frames.append(frame([], [], [0], [0]))  # a frame without ground truth: 1 false positive
    result = evaluate_tracking_arrays(frames, SIGMAS, min_oks=0.5)
    assert result["misses"] == 10
    assert result["false_positives"] == 16
    assert result["id_switches"] == 0
    assert result["mota"] == pytest.approx(1 - (10 + 16 + 0) / 100)
    assert result["n_matches"] == 90
    assert result["fragmentations"] == 0  # the misses come before the track's first match
    # At a low enough threshold the shifted predictions match.
    assert evaluate_tracking_arrays(frames, SIGMAS, min_oks=0.01)["misses"] == 5


def test_untracked_predictions():
    frames = [frame([0], [0], [0], [0 if t < 50 else -1]) for t in range(N_FRAMES)]
    result = evaluate_tracking_arrays(frames, SIGMAS)
    # Matches, but each untracked prediction is a new identity: a switch in every frame.
    assert (result["n_matches"], result["misses"], result["false_positives"]) == (100, 0, 0)
    assert result["id_switches"] == 50
    assert result["mota"] == pytest.approx(0.5)
    # Never an identity true positive: IDTP = 50 of 100 gt and 100 predicted detections.
    assert (result["idf1"], result["idp"], result["idr"]) == pytest.approx((0.5, 0.5, 0.5))
    assert result["n_pred_tracks"] == 1


def make_labels(tracked_gt: bool = True, swap_at: int | None = None, pred_nodes=NODES):
    """Ground truth and predictions of two animals over 10 frames, ids swapped from `swap_at`."""
    skeleton = sio.Skeleton(NODES)
    pred_skeleton = sio.Skeleton(pred_nodes)
    video = sio.Video(filename="video.mp4", open_backend=False)
    gt_tracks = [sio.Track("a"), sio.Track("b")]
    pred_tracks = [sio.Track("track_0"), sio.Track("track_1")]
    gt_frames, pred_frames = [], []
    for t in range(10):
        order = [1, 0] if swap_at is not None and t >= swap_at else [0, 1]
        gt_instances = [
            sio.Instance.from_numpy(animal(x), skeleton=skeleton, track=track)
            for x, track in zip([0, 500], gt_tracks if tracked_gt else [None, None])
        ]
        pred_instances = [
            sio.PredictedInstance.from_numpy(
                animal(x), skeleton=pred_skeleton, point_scores=np.ones(3), score=1.0, track=track
            )
            for x, track in zip([0, 500], [pred_tracks[i] for i in order])
        ]
        gt_frames.append(sio.LabeledFrame(video=video, frame_idx=t, instances=gt_instances))
        pred_frames.append(sio.LabeledFrame(video=video, frame_idx=t, instances=pred_instances))
    gt = sio.Labels(
        gt_frames, videos=[video], skeletons=[skeleton], tracks=gt_tracks if tracked_gt else []
    )
    pred = sio.Labels(pred_frames, videos=[video], skeletons=[pred_skeleton], tracks=pred_tracks)
    return gt, pred


def test_labels_swap():
    gt, pred = make_labels(swap_at=5)
    result = evaluate_tracking(gt, pred)
    assert result["id_switches"] == 2
    assert result["idf1"] == pytest.approx(0.5)
    assert (result["n_frames"], result["n_gt_tracks"], result["n_pred_tracks"]) == (10, 2, 2)


def test_labels_perfect():
    result = evaluate_tracking(*make_labels())
    assert (result["id_switches"], result["mota"], result["idf1"]) == (0, 1.0, 1.0)


def test_has_tracks_and_untracked_ground_truth():
    gt, pred = make_labels(tracked_gt=False)
    assert not has_tracks(gt)
    assert has_tracks(pred)
    with pytest.raises(PosennError, match="has no tracks"):
        evaluate_tracking(gt, pred)
    gt, pred = make_labels()
    gt.labeled_frames[3].instances[0].track = None
    with pytest.raises(PosennError, match="gt.slp: ground truth has no tracks on 1 instances"):
        evaluate_tracking(gt, pred, gt_path="gt.slp")


def test_labels_skeleton_mismatch():
    gt, pred = make_labels(pred_nodes=["nose", "thorax", "tail"])
    with pytest.raises(PosennError, match="Skeletons do not match"):
        evaluate_tracking(gt, pred)


CENTERED_PAIR = DATA / "centered_pair_predictions.slp"


@pytest.mark.skipif(not CENTERED_PAIR.exists(), reason=f"{CENTERED_PAIR} is absent")
def test_centered_pair_against_itself():
    labels = sio.load_slp(str(CENTERED_PAIR))
    result = evaluate_tracking(labels, labels, gt_instances="predicted")
    assert result["id_switches"] == 0
    assert result["idf1"] == 1.0
    assert result["n_pred_tracks"] == 27
    assert result["mota"] == 1.0
