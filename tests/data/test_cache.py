"""Frame cache: resized frames and points, memory or disk, reuse, padding of mixed sizes."""

import cv2
import numpy as np
import pytest

from posenn.data.cache import build_cache, resize_frame, scale_points, unscale_points
from posenn.io.labels import labeled_samples, load_labels
from posenn.io.video import iter_frames, to_channels


@pytest.fixture(scope="module")
def robot_samples(shared_file):
    labels = load_labels(shared_file("small_robot_minimal.slp"))
    return labeled_samples(labels, "user")


@pytest.fixture(scope="module")
def robot_frames(robot_samples):
    video = robot_samples[0].video
    return dict(iter_frames(video, [s.frame_idx for s in robot_samples], 3))


def test_scale_points_maps_pixel_centres():
    points = np.array([[0.0, 0.0], [9.0, 3.0], [-0.5, -0.5]], np.float32)
    np.testing.assert_allclose(scale_points(points, 0.5), (points + 0.5) * 0.5 - 0.5)
    # The outer edge of the frame (-0.5) stays the outer edge at any scale.
    np.testing.assert_allclose(scale_points(points, 0.25)[2], [-0.5, -0.5])
    # Scaling by 0.5 maps pixels 0,1 (centre 0.5) onto resized pixel 0.
    assert scale_points(np.array([0.5]), 0.5)[0] == pytest.approx(0.0)
    np.testing.assert_allclose(unscale_points(scale_points(points, 0.37), 0.37), points, atol=1e-5)


def test_memory_cache_at_half_scale(robot_samples, robot_frames):
    cache = build_cache(robot_samples, channels=3, scale=0.5)
    assert cache.scale == 0.5
    assert len(cache) == 2
    assert isinstance(cache.images, np.ndarray) and not isinstance(cache.images, np.memmap)
    assert cache.images.shape == (2, 160, 280, 3) and cache.images.dtype == np.uint8
    assert cache.points.shape == (2, 1, 2, 2) and cache.points.dtype == np.float32
    for row, sample in enumerate(robot_samples):
        np.testing.assert_allclose(cache.points[row], (sample.points + 0.5) * 0.5 - 0.5, rtol=1e-6)
        frame = robot_frames[sample.frame_idx]
        expected = cv2.resize(frame, (280, 160), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(cache.images[row], expected)


def test_cache_at_full_scale_is_the_decoded_frame(robot_samples, robot_frames):
    cache = build_cache(robot_samples, channels=1, scale=1.0)
    assert cache.images.shape == (2, 320, 560, 1)
    for row, sample in enumerate(robot_samples):
        np.testing.assert_array_equal(cache.points[row], sample.points)
        gray = to_channels(robot_frames[sample.frame_idx], 1)
        assert np.abs(cache.images[row].astype(int) - gray).max() <= 1


def test_cache_keeps_sample_order_and_duplicates(robot_samples, robot_frames):
    samples = [robot_samples[1], robot_samples[0], robot_samples[1]]
    cache = build_cache(samples, channels=3, scale=0.25)
    assert cache.images.shape == (3, 80, 140, 3)
    for row, sample in enumerate(samples):
        expected = cv2.resize(robot_frames[sample.frame_idx], (140, 80), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(cache.images[row], expected)
        np.testing.assert_allclose(cache.points[row], scale_points(sample.points, 0.25))


def test_disk_cache_is_written_and_reused(robot_samples, tmp_path):
    cache_dir = tmp_path / "cache"
    calls = []
    first = build_cache(robot_samples, channels=3, scale=0.5, cache_dir=cache_dir, on_frame=lambda: calls.append(1))
    assert len(calls) == 2
    files = sorted(cache_dir.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npy" and ".partial" not in files[0].name
    assert isinstance(first.images, np.memmap)
    memory = build_cache(robot_samples, channels=3, scale=0.5)
    np.testing.assert_array_equal(np.asarray(first.images), memory.images)

    mtime = files[0].stat().st_mtime_ns
    calls.clear()
    second = build_cache(robot_samples, channels=3, scale=0.5, cache_dir=cache_dir, on_frame=lambda: calls.append(1))
    assert calls == []  # nothing decoded again
    assert isinstance(second.images, np.memmap)
    assert files[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(np.asarray(second.images), memory.images)
    np.testing.assert_array_equal(second.points, memory.points)

    # Another scale is another file.
    build_cache(robot_samples, channels=3, scale=0.25, cache_dir=cache_dir)
    assert len(list(cache_dir.glob("*.npy"))) == 2


def test_mixed_frame_sizes_are_zero_padded(robot_samples, robot_frames, shared_file):
    package = labeled_samples(load_labels(shared_file("minimal_instance.pkg.slp")), "user")
    samples = [robot_samples[0], package[0]]
    cache = build_cache(samples, channels=1, scale=0.5)
    # robot 320×560 → 160×280; package 384×384 → 192×192; common size 192×280.
    assert cache.images.shape == (2, 192, 280, 1)
    robot = resize_frame(to_channels(robot_frames[robot_samples[0].frame_idx], 1), 0.5)
    np.testing.assert_array_equal(cache.images[0, :160, :280], robot)
    assert not cache.images[0, 160:].any()
    pkg_frame = np.asarray(package[0].video[0]).reshape(384, 384, 1)
    expected = cv2.resize(pkg_frame, (192, 192), interpolation=cv2.INTER_AREA).reshape(192, 192, 1)
    np.testing.assert_array_equal(cache.images[1, :192, :192], expected)
    assert not cache.images[1, :, 192:].any()
    # Points: robot has 1 instance, package 2: NaN padded to 2 instances.
    assert cache.points.shape == (2, 2, 2, 2)
    assert np.isnan(cache.points[0, 1]).all()
    np.testing.assert_allclose(cache.points[1], scale_points(package[0].points, 0.5))


def test_resize_frame_keeps_channel_axis():
    frame = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10, 1)
    assert resize_frame(frame, 1.0) is frame
    small = resize_frame(frame, 0.5)
    assert small.shape == (3, 5, 1)
    big = resize_frame(frame, 1.5)
    assert big.shape == (9, 15, 1)
    np.testing.assert_array_equal(big[..., 0], cv2.resize(frame[..., 0], (15, 9), interpolation=cv2.INTER_LINEAR))
