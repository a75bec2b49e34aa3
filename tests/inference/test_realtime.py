"""The real-time Predictor: the same points and track ids as `posenn track`, frame by frame."""

from pathlib import Path

import numpy as np
import pytest

import posenn
from posenn.errors import PosennError
from posenn.inference.realtime import Predictor, training_frame_shape
from posenn.inference.run import TrackOptions, track
from posenn.io.video import iter_frames, open_video
from posenn.tracking import TrackerOptions

pytestmark = pytest.mark.usefixtures("torch_single_thread")
ONLINE = TrackerOptions(global_pass=False, min_track_length=1)  # posenn track without its offline steps


def clip_frames(video: Path) -> list[np.ndarray]:
    """Every frame of a video as `posenn track` reads it, grey `(H, W, 1)`."""
    return [frame.copy() for _, frame in iter_frames(open_video(video), range(40), 1)]


def tracked_file(clip: Path, pair: list[Path], output: Path) -> dict[int, list[tuple[np.ndarray, str]]]:
    """`posenn track` without its offline steps (global pass, dropping short tracks): frame →
    [(points, track name)]."""
    labels = track(clip, pair, output, TrackOptions(max_instances=2, device="cpu", quiet=True, tracker=ONLINE))
    return {lf.frame_idx: [(inst.numpy(), inst.track.name) for inst in lf.instances] for lf in labels.labeled_frames}


@pytest.fixture(scope="module")
def predictor(realtime_pair) -> Predictor:
    return Predictor(realtime_pair, device="cpu", max_instances=2, tracker=ONLINE, break_tracks=True)


def test_results_equal_posenn_track(predictor, realtime_pair, realtime_clip, tmp_path):
    expected = tracked_file(realtime_clip, realtime_pair, tmp_path / "clip.slp")
    predictor.reset()
    results = [predictor(frame) for frame in clip_frames(realtime_clip)]
    assert sum(len(r) for r in results) == sum(len(v) for v in expected.values()) > 60
    for result in results:
        want = expected.get(result.frame_idx, [])
        assert len(result) == len(want)
        for row, (points, name) in enumerate(want):
            np.testing.assert_allclose(result.points[row], points, atol=1e-3)
            assert result.track_names[row] == name == f"track_{result.track_ids[row]}"
    assert len({name for r in results for name in r.track_names}) >= 2


def test_batch_call_and_reset_give_the_same_session(predictor, realtime_clip):
    frames = clip_frames(realtime_clip)[:12]
    predictor.reset()
    one_by_one = [predictor(frame) for frame in frames]
    predictor.reset()
    batched = predictor.predict_batch(np.stack(frames), batch_size=5)
    assert [r.frame_idx for r in batched] == list(range(12))
    for a, b in zip(one_by_one, batched):
        np.testing.assert_allclose(a.points, b.points, atol=1e-3)
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
    predictor.reset()
    assert predictor(frames[0]).frame_idx == 0


def test_colour_frames_give_the_grey_frames_results(predictor, realtime_clip):
    grey = clip_frames(realtime_clip)[5]
    predictor.reset()
    expected = predictor(grey)
    predictor.reset()
    colour = predictor(np.repeat(grey, 3, axis=2))  # grey RGB converts back to the same grey
    np.testing.assert_allclose(colour.points, expected.points, atol=1e-4)


def test_result_accessors_and_json(predictor, realtime_clip):
    predictor.reset()
    result = predictor(clip_frames(realtime_clip)[0][:, :, 0], frame_idx=7)  # (H, W) frames work too
    assert result.frame_idx == 7 and len(result) == 2
    node = result.node_names[0]
    row = int(np.flatnonzero(result.track_ids == 1)[0])
    np.testing.assert_array_equal(result.point(1, node), result.points[row, 0])
    np.testing.assert_array_equal(result.point("track_1", node), result.points[row, 0])
    assert result.point(5, node) is None
    record = result.to_dict()
    assert record["frame"] == 7 and [a["track_id"] for a in record["animals"]] == result.track_ids.tolist()
    assert record["animals"][row]["points"][0] == pytest.approx(result.points[row, 0].tolist(), abs=0.01)
    with pytest.raises(PosennError, match="node 'nose'"):
        result.point(0, "nose")


def test_bad_frames_and_indices_are_refused(predictor):
    predictor.reset()
    with pytest.raises(PosennError, match="uint8"):
        predictor(np.zeros((64, 64), np.float32))
    with pytest.raises(PosennError, match="C 1, 3 or 4"):
        predictor(np.zeros((64, 64, 2), np.uint8))
    predictor(np.zeros((128, 128), np.uint8), frame_idx=10)
    with pytest.raises(PosennError, match="increasing order"):
        predictor(np.zeros((128, 128), np.uint8), frame_idx=3)


def test_warmed_up_on_the_training_frame_size(realtime_pair):
    assert training_frame_shape(realtime_pair[0]) == (128, 128)
    predictor = posenn.Predictor(realtime_pair, device="cpu", tracking=False)
    assert predictor.warmed_up and predictor.frame_shape == (128, 128)
    result = predictor(np.zeros((128, 128), np.uint8))
    assert (result.track_ids == -1).all() and result.track_names == [None] * len(result)


def test_bad_model_folders_are_refused(tmp_path):
    with pytest.raises(PosennError, match="Model folder not found"):
        Predictor([tmp_path / "missing"], device="cpu")
    with pytest.raises(PosennError, match="one or two model folders"):
        Predictor([tmp_path] * 3, device="cpu")
    with pytest.raises(PosennError, match="runtime 'tf'"):
        Predictor([tmp_path], device="cpu", runtime="tf")



def test_known_animal_count_keeps_ids_stable(realtime_pair, realtime_clip):
    predictor = Predictor(realtime_pair, device="cpu", max_instances=2)
    ids = [set(predictor(frame).track_ids.tolist()) for frame in clip_frames(realtime_clip)]
    assert set().union(*ids) == {0, 1}
    assert all(len(frame_ids) == 2 for frame_ids in ids if len(frame_ids) > 1)
