"""Labels through sleap-io: loading, finding videos, choosing instances, samples as arrays."""

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import sleap_io as sio

from posenn.errors import PosennError
from posenn.io.labels import (
    check_skeleton,
    is_embedded,
    labeled_samples,
    load_labels,
    select_instances,
)
from posenn.io.video import iter_frames

ROBOT_SHAPE = (166, 320, 560, 3)


def stored_video_filename(slp: Path) -> str:
    """The video file name exactly as written in the .slp (before sleap-io resolves anything)."""
    import json

    with h5py.File(slp, "r") as f:
        return json.loads(f["videos_json"][0])["filename"]


@pytest.fixture
def robot_project(tmp_path, shared_file):
    """small_robot_minimal.slp + small_robot.mp4 copied into a fresh folder."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(shared_file("small_robot_minimal.slp"), folder)
    shutil.copy(shared_file("small_robot.mp4"), folder)
    return folder


@pytest.fixture
def neutral_cwd(tmp_path, monkeypatch):
    """Run from an empty folder, so nothing is found relative to the working directory by chance."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def write_slp_with_video_path(source: Path, target: Path, video_path: str) -> Path:
    labels = sio.load_slp(str(source), open_videos=False)
    labels.videos[0].replace_filename(video_path, open=False)
    sio.save_slp(labels, str(target))
    return target


# --- load_labels -------------------------------------------------------------------------------


def test_load_embedded_package(shared_file):
    path = shared_file("minimal_instance.pkg.slp")
    labels = load_labels(path)
    assert len(labels.labeled_frames) == 1
    assert list(labels.skeleton.node_names) == ["A", "B"]
    video = labels.videos[0]
    assert is_embedded(video)
    assert video.shape == (1, 384, 384, 1)
    ((idx, frame),) = list(iter_frames(video, [0], 1))
    assert idx == 0 and frame.shape == (384, 384, 1) and frame.dtype == np.uint8
    assert frame.max() > frame.min()  # a real image, not blank


def test_relative_video_resolves_beside_the_slp(robot_project, neutral_cwd, shared_file):
    slp = robot_project / "small_robot_minimal.slp"
    assert stored_video_filename(slp) == "small_robot.mp4"  # file name alone, as the README says
    labels = load_labels(slp)
    video = labels.videos[0]
    assert Path(video.filename).resolve() == (robot_project / "small_robot.mp4").resolve()
    assert video.shape == ROBOT_SHAPE
    assert len(labels.labeled_frames) == 2


def test_relative_video_beside_the_slp_wins_over_same_name_in_working_dir(robot_project, neutral_cwd, shared_file):
    # A different video with the same name in the working directory must not be picked up.
    shutil.copy(shared_file("centered_pair_low_quality.mp4"), neutral_cwd / "small_robot.mp4")
    labels = load_labels(robot_project / "small_robot_minimal.slp")
    video = labels.videos[0]
    assert Path(video.filename).resolve() == (robot_project / "small_robot.mp4").resolve()
    assert video.shape == ROBOT_SHAPE


def test_missing_absolute_video_path_resolves_by_name_beside_the_slp(robot_project, neutral_cwd):
    slp = write_slp_with_video_path(
        robot_project / "small_robot_minimal.slp", robot_project / "moved.slp", "/nonexistent/dir/small_robot.mp4"
    )
    assert stored_video_filename(slp) == "/nonexistent/dir/small_robot.mp4"
    labels = load_labels(slp)
    video = labels.videos[0]
    assert Path(video.filename).resolve() == (robot_project / "small_robot.mp4").resolve()
    assert video.shape == ROBOT_SHAPE
    # And the frames are readable through the resolved path.
    (_, frame), = list(iter_frames(video, [0], 3))
    assert frame.shape == (320, 560, 3)


def test_existing_absolute_video_path_is_used_as_stored(robot_project, neutral_cwd, shared_file):
    target = shared_file("small_robot.mp4")
    slp = write_slp_with_video_path(robot_project / "small_robot_minimal.slp", robot_project / "abs.slp", str(target))
    labels = load_labels(slp)
    assert Path(labels.videos[0].filename) == target


def test_absent_video_error_names_every_path_tried(tmp_path, neutral_cwd, shared_file):
    folder = tmp_path / "lonely"
    folder.mkdir()
    slp = write_slp_with_video_path(
        shared_file("small_robot_minimal.slp"), folder / "labels.slp", "/nonexistent/dir/small_robot.mp4"
    )
    with pytest.raises(PosennError) as info:
        load_labels(slp)
    message = str(info.value)
    assert str(slp) in message
    assert "/nonexistent/dir/small_robot.mp4" in message
    assert str(folder / "small_robot.mp4") in message


def test_absent_relative_video_error_names_paths_tried(tmp_path, neutral_cwd, shared_file):
    folder = tmp_path / "lonely"
    folder.mkdir()
    shutil.copy(shared_file("small_robot_minimal.slp"), folder)
    with pytest.raises(PosennError) as info:
        load_labels(folder / "small_robot_minimal.slp")
    message = str(info.value)
    assert "'small_robot.mp4' not found" in message
    assert str(folder / "small_robot.mp4") in message


def test_missing_labels_file(tmp_path):
    path = tmp_path / "nope.slp"
    with pytest.raises(PosennError, match="not found") as info:
        load_labels(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"this is not hdf5\n", b""])
def test_non_slp_file(tmp_path, content):
    path = tmp_path / "fake.slp"
    path.write_bytes(content)
    with pytest.raises(PosennError, match="not a readable SLEAP labels file") as info:
        load_labels(path)
    assert str(path) in str(info.value)


# --- instances ---------------------------------------------------------------------------------


@pytest.fixture
def mixed_frame():
    """A frame with: a user instance corrected from prediction P1, a plain user instance, and P1, P2."""
    skeleton = sio.Skeleton(["a", "b", "c"])
    p1 = sio.PredictedInstance.from_numpy(
        np.array([[1, 2], [3, 4], [5, 6]], float), skeleton=skeleton, point_scores=np.ones(3), score=0.9
    )
    p2 = sio.PredictedInstance.from_numpy(
        np.array([[10, 20], [30, 40], [50, 60]], float), skeleton=skeleton, point_scores=np.ones(3), score=0.8
    )
    u1 = sio.Instance.from_numpy(np.array([[1.5, 2.5], [np.nan, np.nan], [5.5, 6.5]], float), skeleton=skeleton)
    u1.from_predicted = p1
    u2 = sio.Instance.from_numpy(np.array([[100, 200], [300, 400], [500, 600]], float), skeleton=skeleton)
    video = sio.Video(filename="x.mp4", open_backend=False)
    frame = sio.LabeledFrame(video=video, frame_idx=7, instances=[p1, u1, p2, u2])
    return frame, {"u1": u1, "u2": u2, "p1": p1, "p2": p2}


@pytest.mark.parametrize(
    "kind, expected",
    [("user", ["u1", "u2"]), ("predicted", ["p1", "p2"]), ("all", ["u1", "u2", "p2"])],
)
def test_select_instances(mixed_frame, kind, expected):
    frame, named = mixed_frame
    selected = select_instances(frame, kind)
    assert [next(k for k, v in named.items() if v is inst) for inst in selected] == expected


def test_select_all_hides_predictions_corrected_in_dance(shared_file):
    labels = load_labels(shared_file("dance.mp4.labels.slp"))
    corrected = [f for f in labels.labeled_frames if f.user_instances]
    assert len(corrected) == 3
    for frame in corrected:
        selected = select_instances(frame, "all")
        assert selected == list(frame.user_instances)
        assert frame.user_instances[0].from_predicted in frame.predicted_instances


def test_labeled_samples_arrays(mixed_frame):
    frame, _ = mixed_frame
    empty_user = sio.Instance.from_numpy(np.full((3, 2), np.nan), skeleton=frame.instances[0].skeleton)
    only_empty = sio.LabeledFrame(video=frame.video, frame_idx=9, instances=[empty_user])
    labels = sio.Labels([frame, only_empty])
    samples = labeled_samples(labels, "all")
    assert len(samples) == 1  # the frame without a visible point is skipped
    sample = samples[0]
    assert sample.frame_idx == 7 and sample.video is frame.video
    assert sample.points.dtype == np.float32 and sample.points.shape == (3, 3, 2)
    expected = np.array(
        [[[1.5, 2.5], [np.nan, np.nan], [5.5, 6.5]], [[100, 200], [300, 400], [500, 600]], [[10, 20], [30, 40], [50, 60]]],
        np.float32,
    )
    np.testing.assert_array_equal(sample.points, expected)
    assert labeled_samples(labels, "user")[0].points.shape == (2, 3, 2)
    assert labeled_samples(labels, "predicted")[0].points.shape == (2, 3, 2)


def test_labeled_samples_on_small_robot(shared_file):
    labels = load_labels(shared_file("small_robot_minimal.slp"))
    samples = labeled_samples(labels, "user")
    assert [s.frame_idx for s in samples] == [0, 79]
    for sample, frame in zip(samples, labels.labeled_frames):
        assert sample.points.shape == (1, 2, 2)
        np.testing.assert_allclose(sample.points[0], frame.user_instances[0].numpy()[:, :2], rtol=1e-6)


def test_labeled_samples_kind_mismatch_reports_counts(shared_file):
    path = shared_file("centered_pair_predictions.slp")
    labels = load_labels(path)
    with pytest.raises(PosennError) as info:
        labeled_samples(labels, "user", path)
    message = str(info.value)
    assert str(path) in message
    assert "kind 'user'" in message
    assert "0 user, 2274 predicted" in message
    assert "data.instances" in message
    samples = labeled_samples(labels, "predicted", path)
    frames = [f for f in labels.labeled_frames if any(i.n_visible for i in f.predicted_instances)]
    assert len(samples) == len(frames) > 1000
    assert sum(len(s.points) for s in samples) == sum(
        sum(1 for i in f.predicted_instances if i.n_visible) for f in frames
    )
    assert all(s.points.shape[1:] == (24, 2) for s in samples)


def test_check_skeleton(shared_file):
    labels = load_labels(shared_file("small_robot_minimal.slp"))
    check_skeleton(labels, ["A", "B"], "robot.slp")  # matches
    check_skeleton(labels, [], "robot.slp")  # nothing expected yet
    with pytest.raises(PosennError) as info:
        check_skeleton(labels, ["A", "C"], "robot.slp")
    message = str(info.value)
    assert message.startswith("robot.slp: ")
    assert "['A', 'B']" in message and "['A', 'C']" in message
    assert "data.skeleton.nodes" in message
    with pytest.raises(PosennError):
        check_skeleton(labels, ["B", "A"], "robot.slp")  # order matters: channels follow nodes
