"""Frames resized on the device match training's OpenCV preprocessing; crops cut from uint8
frames match interpolated ones; batched duplicate removal matches the per-frame rule."""

import cv2
import numpy as np
import pytest
import torch

from posenn.data.cache import resize_frame
from posenn.data.crops import crop_and_resize, cut_crops
from posenn.evaluation.matching import DEFAULT_SIGMA, oks_matrix
from posenn.inference.duplicates import duplicate_free
from posenn.inference.frames import FrameBatch, area_weights, make_batch, resize_on_device, to_device_batch


def random_frames(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Smooth random uint8 frames (noise blurred, as in real video)."""
    noise = rng.uniform(0, 255, shape).astype(np.float32)
    return np.stack([cv2.GaussianBlur(frame, (7, 7), 2).reshape(frame.shape) for frame in noise]).round().astype(np.uint8)


@pytest.mark.parametrize("scale", [0.25, 0.5, 0.375, 0.438, 0.7, 1.5])
def test_device_resize_matches_opencv(scale):
    frames = random_frames(np.random.default_rng(0), (2, 96, 128, 3))
    expected = np.stack([resize_frame(frame, scale) for frame in frames]).astype(np.float32)
    resized = resize_on_device(torch.from_numpy(frames).permute(0, 3, 1, 2).float(), scale)
    resized = torch.round(resized).permute(0, 2, 3, 1).numpy()
    assert resized.shape == expected.shape
    assert np.abs(resized - expected).max() <= 1.0


def test_area_weights_average_what_each_output_pixel_covers():
    weights = area_weights(10, 0.4, torch.device("cpu"))  # 4 outputs, each covering 2.5 inputs
    assert weights.shape == (4, 10)
    np.testing.assert_allclose(weights.sum(dim=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(weights[0, :3], [0.4, 0.4, 0.2], atol=1e-6)


def test_cpu_and_device_paths_give_the_same_images():
    frames = random_frames(np.random.default_rng(1), (3, 64, 80, 1))
    on_cpu = to_device_batch(np.arange(3), frames, torch.device("cpu"))
    as_device = FrameBatch(on_cpu.indices, on_cpu.frames, on_cpu.sizes)  # no host copy: the GPU path
    for scale in (0.5, 0.3):
        np.testing.assert_allclose(on_cpu.images(scale, 1), as_device.images(scale, 1), atol=1 / 255 + 1e-6)
    assert on_cpu.images(1.0, 3).shape == (3, 3, 64, 80)  # grey frames spread to three channels


def test_batches_of_frames_of_different_sizes_are_padded():
    batch = make_batch([(4, np.full((10, 12, 3), 9, np.uint8)), (5, np.full((8, 16), 7, np.uint8))])
    assert batch.frames.shape == (2, 3, 10, 16)
    assert batch.sizes.tolist() == [[10, 12], [8, 16]]
    assert batch.frames[1, :, 8:].sum() == 0 and batch.frames[1, 0, 0, 0] == 7
    assert batch.indices.tolist() == [4, 5]


def test_uint8_crops_equal_interpolated_crops_at_scale_one():
    frames = torch.from_numpy(random_frames(np.random.default_rng(2), (2, 50, 70, 2))).permute(0, 3, 1, 2)
    centres = torch.tensor([[3.4, 5.6], [60.2, 44.9], [30.0, 20.0]])  # two reach past the edges
    frame_index = torch.tensor([0, 1, 1])
    interpolated, origins = crop_and_resize(frames.float(), centres, frame_index, 16, 1.0)
    cut, cut_origins = cut_crops(frames, centres, frame_index, 16)
    assert cut.dtype == torch.uint8 and cut.shape == (3, 2, 16, 16)
    torch.testing.assert_close(cut.float(), interpolated, atol=1e-2, rtol=0)
    torch.testing.assert_close(cut_origins, origins)


def kept_one_by_one(points: np.ndarray, scores: np.ndarray, max_oks: float) -> list[int]:
    """The duplicate rule frame by frame, from the evaluation's OKS (the reference)."""
    similarity = oks_matrix(points, points, np.full(points.shape[1], DEFAULT_SIGMA))
    similarity = np.nan_to_num(np.maximum(similarity, similarity.T))
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(similarity[index, other] <= max_oks for other in kept):
            kept.append(int(index))
    return sorted(kept)


def test_batched_duplicate_removal_matches_each_frame():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 200, (6, 1, 5, 2))
    points = base + rng.normal(0, 1, (6, 5, 5, 2)) * rng.choice([0.5, 40.0], (6, 5, 1, 1))  # some near-copies
    points[rng.uniform(size=points.shape[:3]) < 0.2] = np.nan
    scores = rng.uniform(0, 1, (6, 5))
    valid = rng.uniform(size=(6, 5)) < 0.8
    keep = duplicate_free(points, scores, valid, 0.5)
    for row in range(6):
        slots = np.flatnonzero(valid[row])
        expected = slots[kept_one_by_one(points[row, slots], scores[row, slots], 0.5)]
        assert np.flatnonzero(keep[row]).tolist() == expected.tolist()
    assert keep.sum() < valid.sum()  # the near-copies were dropped
