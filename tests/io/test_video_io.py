"""Frame reading: ordered decode matching OpenCV, channels, embedded frames, ranges, prefetch."""

import threading
import time

import cv2
import numpy as np
import pytest
import sleap_io as sio

from posenn.errors import PosennError
from posenn.io.labels import load_labels
from posenn.io.video import SEEK_GAP, decode_batches, iter_frames, open_video, parse_frame_ranges, prefetch, prefetch_many, to_channels

INDICES = [0, 1, 2, 50, 51, 150]


@pytest.fixture(scope="module")
def robot_video(shared_file):
    return sio.load_video(str(shared_file("small_robot.mp4")))


@pytest.fixture(scope="module")
def robot_reference(shared_file):
    """Frames 0..max(INDICES) decoded sequentially by cv2.VideoCapture, BGR → RGB."""
    capture = cv2.VideoCapture(str(shared_file("small_robot.mp4")))
    frames = []
    for _ in range(max(INDICES) + 1):
        ok, frame = capture.read()
        assert ok
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_iter_frames_yields_requested_frames_in_order_matching_sequential_decode(robot_video, robot_reference):
    assert INDICES[-1] - INDICES[-2] > SEEK_GAP  # exercises both the grab path and the seek path
    result = list(iter_frames(robot_video, INDICES, 3))
    assert [idx for idx, _ in result] == INDICES
    for idx, frame in result:
        assert frame.shape == (320, 560, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, robot_reference[idx])


def test_iter_frames_rgb_not_bgr(robot_video, robot_reference, shared_file):
    capture = cv2.VideoCapture(str(shared_file("small_robot.mp4")))
    _, bgr = capture.read()
    capture.release()
    (_, frame), = list(iter_frames(robot_video, [0], 3))
    assert not np.array_equal(frame, bgr)  # the robot video has colour: channel order matters
    np.testing.assert_array_equal(frame, bgr[:, :, ::-1])


def test_iter_frames_grayscale(robot_video, robot_reference):
    result = list(iter_frames(robot_video, INDICES, 1))
    assert [idx for idx, _ in result] == INDICES
    for idx, frame in result:
        assert frame.shape == (320, 560, 1)
        expected = cv2.cvtColor(robot_reference[idx], cv2.COLOR_RGB2GRAY)
        assert np.abs(frame[:, :, 0].astype(int) - expected).max() <= 1


def test_iter_frames_backwards_index_reads_the_right_frame(robot_video, robot_reference):
    result = list(iter_frames(robot_video, [51, 2], 3))
    assert [idx for idx, _ in result] == [51, 2]
    np.testing.assert_array_equal(result[0][1], robot_reference[51])
    np.testing.assert_array_equal(result[1][1], robot_reference[2])


def test_iter_frames_past_the_end_is_an_error(robot_video):
    with pytest.raises(PosennError, match="frame 170"):
        list(iter_frames(robot_video, [170], 3))


def test_iter_frames_grayscale_video(shared_file):
    video = sio.load_video(str(shared_file("centered_pair_low_quality.mp4")))
    capture = cv2.VideoCapture(str(shared_file("centered_pair_low_quality.mp4")))
    _, bgr = capture.read()
    capture.release()
    (_, gray), = list(iter_frames(video, [0], 1))
    (_, rgb), = list(iter_frames(video, [0], 3))
    assert gray.shape == (384, 384, 1) and rgb.shape == (384, 384, 3)
    np.testing.assert_array_equal(gray[:, :, 0], cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    # A grey video has equal channels, and grey equals any one of them.
    np.testing.assert_array_equal(rgb[:, :, 0], rgb[:, :, 2])
    assert np.abs(gray[:, :, 0].astype(int) - rgb[:, :, 0]).max() <= 1


def test_embedded_package_frame(shared_file):
    labels = load_labels(shared_file("minimal_instance.pkg.slp"))
    video = labels.videos[0]
    (idx, gray), = list(iter_frames(video, [0], 1))
    (_, rgb), = list(iter_frames(video, [0], 3))
    expected = np.asarray(video[0])
    assert idx == 0
    assert gray.shape == (384, 384, 1) and rgb.shape == (384, 384, 3)
    np.testing.assert_array_equal(gray, expected.reshape(384, 384, 1))
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], gray[:, :, 0])


def test_embedded_package_frame_missing_index(shared_file):
    video = load_labels(shared_file("minimal_instance.pkg.slp")).videos[0]
    with pytest.raises(PosennError, match="embedded frame 5"):
        list(iter_frames(video, [5], 1))


# --- to_channels -------------------------------------------------------------------------------


def test_to_channels_conversions():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    gray2d = rng.integers(0, 256, (5, 7), dtype=np.uint8)

    same = to_channels(rgb, 3)
    assert same is rgb

    gray = to_channels(rgb, 1)
    assert gray.shape == (5, 7, 1) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray[:, :, 0], cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    # The input is read as RGB: pure red gets the red weight 0.299 (BGR order would give 0.114).
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert to_channels(red, 1)[0, 0, 0] == 76  # 0.299 * 255

    g1 = to_channels(gray2d, 1)
    assert g1.shape == (5, 7, 1)
    np.testing.assert_array_equal(g1[:, :, 0], gray2d)

    g3 = to_channels(gray2d, 3)
    assert g3.shape == (5, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(g3[:, :, c], gray2d)

    g3b = to_channels(gray2d[:, :, None], 3)
    np.testing.assert_array_equal(g3b, g3)


# --- parse_frame_ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0-3,7,9-10", [0, 1, 2, 3, 7, 9, 10]),
        ("7, 0-1", [0, 1, 7]),
        ("2-4,3-5", [2, 3, 4, 5]),
        ("5", [5]),
        ("4-4", [4]),
        ("0-19", list(range(20))),
        (None, list(range(20))),
        ("", list(range(20))),
    ],
)
def test_parse_frame_ranges(text, expected):
    assert parse_frame_ranges(text, 20) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("5-2", "'5-2' is not a frame index"),
        ("x", "'x' is not a frame index"),
        ("1-2-3", "'1-2-3'"),
        ("1,,2", "''"),
        ("-3", "'-3'"),
        ("3-", "'3-'"),
        ("0-20", "outside the video's frames 0-19"),
        ("25", "outside"),
    ],
)
def test_parse_frame_ranges_errors(text, fragment):
    with pytest.raises(PosennError) as info:
        parse_frame_ranges(text, 20)
    assert "--frames" in str(info.value)
    assert fragment in str(info.value)


# --- prefetch ----------------------------------------------------------------------------------


def test_prefetch_yields_all_items_in_order():
    items = list(range(200))
    assert list(prefetch(iter(items), depth=3)) == items
    assert list(prefetch([])) == []


def test_prefetch_produces_on_another_thread():
    threads = []

    def produce():
        for i in range(5):
            threads.append(threading.get_ident())
            yield i

    assert list(prefetch(produce())) == [0, 1, 2, 3, 4]
    assert set(threads) and threading.get_ident() not in threads


def test_prefetch_reraises_producer_exception_after_earlier_items():
    def produce():
        yield 1
        yield 2
        raise PosennError("broken frame 3")

    received = []
    with pytest.raises(PosennError, match="broken frame 3"):
        for item in prefetch(produce(), depth=1):
            received.append(item)
    assert received == [1, 2]


def test_prefetch_stops_producer_when_consumer_stops_early():
    produced = []

    def produce():
        for i in range(10_000):
            produced.append(i)
            yield i

    stream = prefetch(produce(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    time.sleep(0.05)
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count < 100


# --- open_video --------------------------------------------------------------------------------


def test_open_video_ok(shared_file):
    assert open_video(shared_file("small_robot.mp4")).shape == (166, 320, 560, 3)


def test_open_video_text_file_with_video_suffix(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_text("this is not a video\n")
    with pytest.raises(PosennError, match="cannot be decoded") as info:
        open_video(path)
    assert str(path) in str(info.value)


def test_open_video_missing(tmp_path):
    path = tmp_path / "missing.mp4"
    with pytest.raises(PosennError, match="not found") as info:
        open_video(path)
    assert str(path) in str(info.value)


def test_media_frames_on_undecodable_file(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_text("this is not a video\n")
    video = sio.Video(filename=str(path), open_backend=False)
    with pytest.raises(PosennError, match="cannot open the video"):
        list(iter_frames(video, [0], 3))


# --- decode_batches ------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_batches_never_span_segments_and_hold_the_frames(robot_video, channels):
    segments = [list(range(0, 10)), list(range(10, 13)), [40, 41, 150]]
    batches = list(decode_batches(robot_video, segments, channels, batch_size=4))
    assert [(number, batch.indices.tolist()) for number, batch in batches] == [
        (0, [0, 1, 2, 3]), (0, [4, 5, 6, 7]), (0, [8, 9]), (1, [10, 11, 12]), (2, [40, 41, 150])]
    expected = dict(iter_frames(robot_video, [i for segment in segments for i in segment], channels))
    for _, batch in batches:
        assert batch.frames.shape == (len(batch.indices), 320, 560, channels)
        assert batch.sizes.tolist() == [[320, 560]] * len(batch.indices)
        for frame, idx in zip(batch.frames, batch.indices.tolist()):
            np.testing.assert_array_equal(frame, expected[idx])


def test_several_sources_are_merged_and_errors_reach_the_consumer():
    def failing():
        yield "a"
        raise ValueError("decoder broke")

    assert sorted(prefetch_many([iter([1, 2]), iter([3])])) == [1, 2, 3]
    with pytest.raises(ValueError, match="decoder broke"):
        list(prefetch_many([failing(), iter(range(100))], depth=2))
