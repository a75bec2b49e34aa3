"""Synthetic videos: skeleton, determinism, exact keypoints, motion, identities, files."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import sleap_io as sio

from posenn import synth
from posenn.synth import motion, pose, render, skeleton
from posenn.errors import PosennError


def test_skeleton_is_an_insect_tree_with_left_right_symmetries():
    skeleton = synth.make_skeleton()
    names = skeleton.node_names
    assert len(names) >= 8
    assert {"head", "thorax", "abdomen"} <= set(names)
    assert len(skeleton.edges) == len(names) - 1
    reached, frontier = {"thorax"}, ["thorax"]
    while frontier:
        node = frontier.pop()
        for edge in skeleton.edges:
            if edge.source.name == node and edge.destination.name not in reached:
                reached.add(edge.destination.name)
                frontier.append(edge.destination.name)
    assert reached == set(names)
    assert len(skeleton.symmetries) == 6
    for symmetry in skeleton.symmetries:
        left, right = sorted(node.name for node in symmetry.nodes)
        assert "L" in left and left.replace("L", "R", 1) == right


def test_same_seed_same_video_and_different_seed_different_video():
    first = synth.synthesize(frames=20, size=128, seed=3)
    again = synth.synthesize(frames=20, size=128, seed=3)
    other = synth.synthesize(frames=20, size=128, seed=4)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.points, again.points)
    assert not np.array_equal(first.images, other.images)
    assert not np.allclose(first.points, other.points, equal_nan=True)


def test_a_shorter_video_is_the_start_of_a_longer_one():
    short = synth.synthesize(frames=15, size=128, seed=1)
    long = synth.synthesize(frames=40, size=128, seed=1)
    np.testing.assert_array_equal(short.images, long.images[:15])
    np.testing.assert_array_equal(short.points, long.points[:15])


def test_every_keypoint_lies_on_the_drawn_body():
    video = synth.synthesize(animals=1, frames=5, size=256, seed=2)
    length = synth.body_length(256) * video.looks[0].scale
    floor = 200
    for points in video.points[:, 0]:
        image = np.full((256, 256), floor, dtype=np.uint8)
        render.draw_animal(image, points, length, video.looks[0])
        columns, rows = np.rint(points).astype(int).T
        darkness = (floor - image[rows, columns]) / (floor - video.looks[0].level)
        assert darkness.min() > 0.8, skeleton.NODES[int(darkness.argmin())]


def test_head_is_drawn_centred_on_the_head_node_to_a_fraction_of_a_pixel():
    video = synth.synthesize(animals=1, frames=5, size=256, seed=5, identity=True)
    look = video.looks[0]
    length = synth.body_length(256) * look.scale
    for points in video.points[:, 0]:
        image = np.full((256, 256), 200, dtype=np.uint8)
        render.draw_animal(image, points, length, look)
        # Only pixels fully inside the head have exactly the head's grey.
        rows, columns = np.nonzero(image == look.level - render.HEAD_DARKER)
        centre = np.array([columns.mean(), rows.mean()])
        assert np.linalg.norm(centre - points[skeleton.HEAD]) < 0.25


def test_animals_stand_out_from_the_background_in_the_frames():
    video = synth.synthesize(animals=1, frames=10, size=128, seed=0)
    points = video.points[:, 0]
    frames = np.arange(len(points))[:, None]
    columns, rows = np.rint(points).astype(int).transpose(2, 0, 1)
    on_body = video.images[frames, rows, columns].astype(float)
    assert on_body.mean() < video.images.mean() - 60


def test_animals_stay_in_the_frame_walk_pause_and_cross_each_other():
    video = synth.synthesize(animals=2, frames=900, size=128, seed=0)
    body = synth.body_length(128)
    centre = video.motion.centre
    assert ((centre >= 0) & (centre <= 127)).all()
    assert np.isnan(video.points[..., 0]).mean() < 0.02
    distance = np.linalg.norm(centre[:, 0] - centre[:, 1], axis=-1)
    assert distance.min() < 0.5 * body
    meetings = np.count_nonzero(np.diff((distance < body).astype(int)) == 1)
    assert meetings >= 3
    speed = video.motion.speed / body
    assert speed.max() > 1.0 and speed.std() > 0.2
    assert (speed < 0.1).mean() > 0.02  # pauses
    turn = np.abs(motion.wrap(np.diff(video.motion.heading, axis=0)))
    assert turn.max() <= motion.MAX_TURN / 30 + 1e-9


def test_identified_animals_look_the_same_in_every_video_and_unlike_each_other():
    looks = synth.synthesize(animals=4, frames=2, size=128, seed=0, identity=True).looks
    assert looks == synth.synthesize(animals=4, frames=2, size=128, seed=9, identity=True).looks
    assert looks == [synth.identity_look(k) for k in range(4)]
    assert len(set(looks)) == 4
    assert len({look.level for look in looks}) == 4 and len({look.scale for look in looks}) == 4


def test_subtle_identities_differ_only_in_size_within_14_percent():
    looks = synth.synthesize(animals=3, frames=2, size=128, seed=0, subtle=True).looks
    assert looks == synth.synthesize(animals=3, frames=2, size=128, seed=5, subtle=True).looks
    scales = [look.scale for look in looks]
    assert len(set(scales)) == 3 and max(scales) / min(scales) <= 1.14 + 1e-9
    assert max(scales) / min(scales) > 1.05  # still learnable
    assert len({(look.level, look.stripes, look.spot) for look in looks}) == 1


def test_contact_time_keeps_animals_together_after_they_meet():
    def close_share(contact_time: float) -> float:
        video = synth.synthesize(animals=2, frames=900, size=128, seed=0, contact_time=contact_time)
        gap = np.linalg.norm(video.motion.centre[:, 0] - video.motion.centre[:, 1], axis=-1)
        return float((gap < 0.6 * skeleton.body_length(128)).mean())

    apart, together = close_share(0.0), close_share(3.0)
    assert together > 0.35 and together > 1.8 * apart  # 0.42 against 0.20 when written
    baseline = synth.synthesize(animals=2, frames=50, size=128, seed=0)
    np.testing.assert_array_equal(synth.synthesize(animals=2, frames=50, size=128, seed=0, contact_time=0.0).points, baseline.points)
    with pytest.raises(PosennError, match="contact_time"):
        synth.synthesize(animals=2, frames=5, size=128, contact_time=-1.0)


def test_unidentified_animals_look_alike():
    looks = synth.synthesize(animals=3, frames=2, size=128, seed=0).looks
    assert all(look.stripes == 0 and not look.spot for look in looks)
    assert np.ptp([look.scale for look in looks]) < 0.1
    assert np.ptp([look.level for look in looks]) < 15


def test_points_outside_the_frame_are_not_labeled_and_absent_animals_get_no_instance():
    points = np.array([[-0.1, 5.0], [0.0, 0.0], [63.0, 63.0], [63.2, 10.0]])
    hidden = pose.hide_outside(points, 64)
    assert np.isnan(hidden[[0, 3]]).all()
    np.testing.assert_array_equal(hidden[1:3], points[1:3])

    video = synth.synthesize(animals=2, frames=3, size=64, seed=0)
    video.points[0, 1] = np.nan  # animal 1 has left the frame
    video.points[1, 0, :2] = np.nan  # animal 0 is half out
    labels = synth.make_labels(video, fps=30.0)
    assert [len(frame.instances) for frame in labels] == [1, 2, 2]
    assert labels[0].instances[0].track.name == "animal_0"
    np.testing.assert_array_equal(labels[1].instances[0].numpy(), video.points[1, 0])


def test_parts_under_a_body_drawn_above_are_hidden_and_legs_hide_nothing():
    video = synth.synthesize(animals=2, frames=1, size=256, seed=0)
    lengths = np.full(2, skeleton.body_length(256))
    points = video.points.copy()
    points[0, 1] = points[0, 0] + (100.0, 0.0)
    thorax, abdomen, head = (points[0, 0, k] for k in (skeleton.THORAX, skeleton.ABDOMEN, skeleton.HEAD))
    points[0, 1] += thorax - points[0, 1, skeleton.ABDOMEN]  # animal 1's abdomen on animal 0's thorax
    hidden = render.hidden_points(points, lengths, 256)
    assert hidden[0, 0, skeleton.THORAX] and not hidden[0, 1].any()
    under_body = render.hidden_points(points[:, ::-1], lengths, 256)  # drawn the other way round
    assert not under_body[0, 1, skeleton.THORAX]
    assert render.hidden_points(points[:, :1], lengths[:1], 256).sum() == 0

    crowd = synth.synthesize(animals=8, frames=40, size=256, seed=1)
    labeled = ~np.isnan(crowd.points[..., 0])
    assert 0.01 < crowd.hidden[labeled].mean() < 0.2
    assert not (crowd.hidden & ~labeled).any()
    assert not crowd.hidden[:, -1].any()  # the animal drawn last is under nobody


def test_generate_writes_a_video_and_labels_that_load_back(tmp_path: Path):
    settings = dict(animals=2, frames=30, size=128, seed=7, identity=True)
    slp_path = synth.generate(tmp_path / "demo", **settings)
    expected = synth.synthesize(**settings)
    assert slp_path == tmp_path / "demo" / "synth.slp"
    assert sorted(p.name for p in slp_path.parent.iterdir()) == ["synth.mp4", "synth.slp"]

    moved = tmp_path / "moved"
    slp_path.parent.rename(moved)
    labels = sio.load_slp(str(moved / "synth.slp"))
    assert len(labels) == 30
    assert [track.name for track in labels.tracks] == ["animal_0", "animal_1"]
    assert len(labels.skeleton.symmetries) == 6
    assert labels.video.shape == (30, 128, 128, 1)
    points = []
    for frame in labels:
        assert all(type(instance) is sio.Instance for instance in frame.instances)
        assert [instance.track.name for instance in frame.instances] == ["animal_0", "animal_1"]
        points.append([instance.numpy(invisible_as_nan=False) for instance in frame.instances])
        visible = [instance.points["visible"] for instance in frame.instances]
        np.testing.assert_array_equal(~np.array(visible), expected.hidden[frame.frame_idx])
    np.testing.assert_array_equal(np.array(points), expected.points)

    capture = cv2.VideoCapture(str(moved / "synth.mp4"))
    decoded = []
    while (frame := capture.read())[0]:
        decoded.append(frame[1][..., 0])
    capture.release()
    assert len(decoded) == 30 and decoded[0].shape == (128, 128)
    assert np.abs(np.array(decoded, dtype=float) - expected.images).mean() < 3
    assert np.abs(labels.video[29][..., 0].astype(float) - expected.images[29]).mean() < 3


def test_generate_replaces_earlier_files_and_leaves_no_temporary_ones(tmp_path: Path):
    synth.generate(tmp_path, frames=5, size=64, seed=0)
    synth.generate(tmp_path, frames=8, size=64, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth.mp4", "synth.slp"]
    assert len(sio.load_slp(str(tmp_path / "synth.slp"))) == 8


@pytest.mark.parametrize(
    "argument", [{"size": 101}, {"size": 32}, {"animals": 0}, {"frames": 0}, {"fps": 0.0}]
)
def test_impossible_arguments_are_refused_with_a_clear_message(argument: dict):
    name = next(iter(argument))
    with pytest.raises(PosennError, match=name):
        synth.synthesize(**argument)


def test_synth_command_writes_the_frame_rate_asked_for(tmp_path: Path):
    from typer.testing import CliRunner

    from posenn.cli import app

    result = CliRunner().invoke(app, ["synth", str(tmp_path), "--frames", "12", "--size", "64", "--fps", "5"])
    assert result.exit_code == 0, result.output
    assert "5 frames/s" in result.output
    labels = sio.load_slp(str(tmp_path / "synth.slp"))
    assert len(labels.labeled_frames) == 12
    assert labels.video.backend_metadata["fps"] == 5.0
    assert cv2.VideoCapture(str(tmp_path / "synth.mp4")).get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)


def test_synth_command_makes_subtle_identities_that_stay_in_contact(tmp_path: Path):
    from typer.testing import CliRunner

    from posenn.cli import app

    args = ["synth", str(tmp_path), "--frames", "60", "--size", "96", "--subtle", "--contact-time", "2", "--seed", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    labels = sio.load_slp(str(tmp_path / "synth.slp"))
    expected = synth.synthesize(animals=2, frames=60, size=96, seed=1, identity=True, subtle=True, contact_time=2.0)
    points = np.array([[instance.numpy(invisible_as_nan=False) for instance in frame.instances] for frame in labels])
    np.testing.assert_allclose(points, expected.points, atol=1e-4)
    assert [track.name for track in labels.tracks] == ["animal_0", "animal_1"]
    bad = CliRunner().invoke(app, ["synth", str(tmp_path / "bad"), "--contact-time", "-1"])
    assert bad.exit_code != 0 and "contact-time" in bad.output
