"""Rendering skeletons over video: videos, strips, frame selection, colours and clear errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import sleap_io as sio

from posenn import synth
from posenn.errors import PosennError
from posenn.render import Drawer, render, track_colour

FRAMES, SIZE = 20, 128


@pytest.fixture(scope="module")
def synth_slp(tmp_path_factory) -> Path:
    """Two synthetic animals, 20 labeled frames of 128x128, each animal on its own track."""
    return synth.generate(tmp_path_factory.mktemp("render"), animals=2, frames=FRAMES, size=SIZE)


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame of a video as RGB."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def farthest_pixel(points: np.ndarray, size: int) -> tuple[int, int]:
    """The (x, y) pixel farthest from every visible keypoint."""
    points = points[~np.isnan(points).any(axis=1)]
    ys, xs = np.mgrid[:size, :size]
    distances = np.hypot(xs[..., None] - points[:, 0], ys[..., None] - points[:, 1]).min(axis=2)
    y, x = np.unravel_index(distances.argmax(), distances.shape)
    return int(x), int(y)


def test_video_has_every_frame_with_skeletons_drawn_on_keypoints_only(synth_slp, tmp_path):
    out = render(synth_slp, tmp_path / "out.mp4", quiet=True)
    assert out == tmp_path / "out.mp4"
    rendered = read_video(out)
    source = read_video(synth_slp.parent / "synth.mp4")
    assert len(rendered) == FRAMES
    assert rendered[0].shape == (SIZE, SIZE, 3)

    labels = sio.load_slp(str(synth_slp), open_videos=False)
    frame = labels.labeled_frames[5]
    points = np.concatenate([inst.numpy()[:, :2] for inst in frame.instances])
    before, after = source[frame.frame_idx].astype(int), rendered[frame.frame_idx].astype(int)
    x, y = np.round(points[~np.isnan(points).any(axis=1)][0]).astype(int)
    assert np.abs(after[y, x] - before[y, x]).max() > 60  # a coloured node over the grey animal
    far_x, far_y = farthest_pixel(points, SIZE)
    assert np.abs(after[far_y, far_x] - before[far_y, far_x]).max() < 12  # codec noise only


def test_frame_ranges_and_scale_set_the_video_length_and_size(synth_slp, tmp_path):
    rendered = read_video(render(synth_slp, tmp_path / "part.mp4", frames="5-9", scale=1.5, quiet=True))
    assert len(rendered) == 5
    assert rendered[0].shape == (192, 192, 3)


def test_strip_is_a_grid_of_at_most_four_columns(synth_slp, tmp_path):
    image = cv2.imread(str(render(synth_slp, tmp_path / "strip.png", max_frames_in_strip=6, quiet=True)))
    assert image.shape == (2 * SIZE, 4 * SIZE, 3)
    assert image[SIZE:, 2 * SIZE :].max() == 0  # two empty cells in the second row
    image = cv2.imread(str(render(synth_slp, tmp_path / "one.jpg", frames="3", quiet=True)))
    assert image.shape == (SIZE, SIZE, 3)


def test_same_track_gets_the_same_colour_in_every_frame(synth_slp):
    labels = sio.load_slp(str(synth_slp), open_videos=False)
    drawer = Drawer(labels, scale=1.0, show_scores=False)
    first, later = labels.labeled_frames[0], labels.labeled_frames[10]
    later.instances = later.instances[::-1]  # order within a frame must not matter
    colour_of = lambda frame: {inst.track.name: c for inst, c in zip(frame.instances, drawer.colours(frame))}
    assert colour_of(first) == colour_of(later)
    assert len(set(colour_of(first).values())) == 2
    assert colour_of(first)[labels.tracks[1].name] == track_colour(1)


def test_nan_points_and_their_edges_are_skipped(synth_slp):
    labels = sio.load_slp(str(synth_slp), open_videos=False)
    instance = labels.labeled_frames[0].instances[0]
    points = instance.numpy()[:, :2]
    points[1:] = np.nan
    instance.points["xy"] = points
    instance.track = None  # no name written beside it
    frame = sio.LabeledFrame(video=labels.video, frame_idx=0, instances=[instance])
    image = Drawer(labels, scale=1.0, show_scores=False).draw(np.zeros((SIZE, SIZE, 3), np.uint8), frame)
    x, y = np.round(points[0]).astype(int)
    drawn = np.argwhere(image.any(axis=2))
    assert image[y, x].any()
    assert np.abs(drawn - [y, x]).max() <= 3  # only the one visible node, no edges


def test_clear_errors_for_unknown_suffix_missing_file_and_empty_selection(synth_slp, tmp_path):
    with pytest.raises(PosennError, match=r"'\.gif'.*\.mp4, \.png"):
        render(synth_slp, tmp_path / "out.gif", quiet=True)
    with pytest.raises(PosennError, match="not found"):
        render(tmp_path / "missing.slp", tmp_path / "out.mp4", quiet=True)
    with pytest.raises(PosennError, match="outside the video's frames 0-19"):
        render(synth_slp, tmp_path / "out.mp4", frames="10-40", quiet=True)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_labels_on_two_videos_are_refused_by_name(synth_slp, tmp_path):
    labels = sio.load_slp(str(synth_slp), open_videos=False)
    labels.videos.append(sio.Video(filename=str(synth_slp.parent / "synth.mp4"), open_backend=False))
    two = synth_slp.parent / "two.slp"  # beside the video it names
    sio.save_slp(labels, str(two), verbose=False)
    with pytest.raises(PosennError, match="holds 2 videos; render draws exactly one"):
        render(two, tmp_path / "out.mp4", quiet=True)


def test_shared_predictions_render_to_a_strip(shared_file, tmp_path):
    slp = shared_file("centered_pair_predictions.slp")
    shared_file("centered_pair_low_quality.mp4")
    image = cv2.imread(str(render(slp, tmp_path / "pair.png", frames="0-9", show_scores=True, quiet=True)))
    assert image.shape == (2 * 384, 4 * 384, 3)
    assert (np.abs(image[..., 2].astype(int) - image[..., 0]) > 100).any()  # coloured skeletons on grey
