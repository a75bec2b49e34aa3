"""Crops for centered-instance models: training pre-crops, the centre cut, and inference crops.

The inference crop (`crop_and_resize` on the full-resolution frame) must show the network what
the training path showed it: the frame resized by `resize_frame`, pre-cropped around the scaled
centre by `instance_crops`, cut by `center_crop`.
"""

import numpy as np
import pytest
import torch

from posenn.data.cache import FrameCache, resize_frame, scale_points
from posenn.data.crops import center_crop, crop_and_resize, instance_crops, precrop_size, random_animal_crops

pytestmark = pytest.mark.usefixtures("torch_single_thread")

NAN = np.nan


def reference_centroid(instance: np.ndarray, anchor: int | None) -> np.ndarray:
    labeled = ~np.isnan(instance).any(axis=-1)
    if anchor is not None and labeled[anchor]:
        return instance[anchor].astype(np.float64)
    return instance[labeled].astype(np.float64).mean(axis=0)


def padded_window(frame: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """`frame[y0:y0+size, x0:x0+size]` with zeros outside the frame."""
    pad = 2 * size
    padded = np.zeros((frame.shape[0] + 2 * pad, frame.shape[1] + 2 * pad, frame.shape[2]), frame.dtype)
    padded[pad:-pad, pad:-pad] = frame
    return padded[y0 + pad : y0 + pad + size, x0 + pad : x0 + pad + size]


# --- precrop_size -------------------------------------------------------------------------------


@pytest.mark.parametrize("crop, expected", [(16, 24), (32, 48), (33, 50), (64, 96), (100, 150), (192, 288)])
def test_precrop_size_is_even_and_has_margin(crop, expected):
    size = precrop_size(crop)
    assert size == expected
    assert size % 2 == 0 and size >= 1.5 * crop


# --- instance_crops -----------------------------------------------------------------------------


@pytest.fixture
def two_frames() -> FrameCache:
    """Frame 0: two animals (one at the left edge) and an empty row; frame 1: one animal whose
    anchor (node 0) is missing, and padding. Pixel values encode their position."""
    height, width, channels = 90, 120, 3
    ys, xs, cs = np.mgrid[0:height, 0:width, 0:channels]
    images = np.stack([(xs + 3 * ys + 40 * f + 11 * cs) % 250 for f in range(2)]).astype(np.uint8)
    points = np.full((2, 3, 4, 2), NAN, np.float32)
    points[0, 0] = [[60.2, 44.7], [62.3, 47.1], [55.0, 40.0], [66.0, 52.5]]  # animal A
    points[0, 1] = [[4.6, 80.2], [1.2, 84.9], [NAN, NAN], [8.0, 76.0]]  # animal B, at the edge
    points[1, 0] = [[NAN, NAN], [95.4, 27.6], [88.0, 33.0], [101.0, 30.1]]  # animal D, no anchor
    images[0, 47, 62] = 255  # bright pixels under node 1 of A, B and D
    images[0, 85, 1] = 255
    images[1, 28, 95] = 255
    return FrameCache(images, points, 0.5)


@pytest.mark.parametrize("anchor", [None, 0])
def test_instance_crops_cut_each_animal_from_its_frame(two_frames, anchor):
    cache = two_frames
    crop_size = 32
    size = precrop_size(crop_size)  # 48
    crops, frame_rows = instance_crops(cache, anchor, crop_size)

    # One crop per animal with a centre, in frame order: A, B (frame 0), D (frame 1).
    assert frame_rows.tolist() == [0, 0, 1]
    assert crops.images.shape == (3, size, size, 3) and crops.images.dtype == np.uint8
    assert crops.points.shape == (3, 3, 4, 2)
    assert crops.scale == cache.scale
    animals = [(0, 0), (0, 1), (1, 0)]
    for i, (row, instance) in enumerate(animals):
        centre = reference_centroid(cache.points[row, instance], anchor)
        x0, y0 = np.round(centre - size / 2).astype(int)
        # Pixels: the frame's, at the integer origin, zero outside the frame.
        np.testing.assert_array_equal(crops.images[i], padded_window(cache.images[row], x0, y0, size))
        # The bright pixel under node 1 lands where node 1's (rounded) position says.
        bx, by = np.round(cache.points[row, instance, 1]).astype(int)
        assert (crops.images[i, by - y0, bx - x0] == 255).all()
        # Points: shifted by the origin, centred animal first, the others after in their order.
        order = [instance] + [j for j in range(3) if j != instance]
        np.testing.assert_allclose(crops.points[i], cache.points[row, order] - [x0, y0], atol=1e-5)
        # The centred animal's centre sits within half a pixel of the pre-crop's middle.
        assert np.abs(reference_centroid(crops.points[i, 0], anchor) - size / 2).max() <= 0.5 + 1e-5

    # B is 4–5 px from the left edge: its pre-crop is zero-padded on the left.
    x0 = int(np.round(reference_centroid(cache.points[0, 1], anchor)[0] - size / 2))
    assert x0 < 0
    assert (crops.images[1, :, : -x0] == 0).all()
    assert (crops.images[1, :, -x0] != 0).any()
    # D has no anchor: with an anchor set, it is centred on the mean of its labeled points.
    np.testing.assert_allclose(
        reference_centroid(cache.points[1, 0], anchor), cache.points[1, 0, 1:].astype(np.float64).mean(axis=0)
    )


def test_instance_crops_with_the_anchor_centre_on_the_anchor(two_frames):
    crops, _ = instance_crops(two_frames, 0, 32)
    # A and B have node 0: it lands within half a pixel of the middle (24, 24).
    assert np.abs(crops.points[:2, 0, 0] - 24).max() <= 0.5
    # Without anchor, A's node 0 is not at the middle (its centre is the mean).
    crops, _ = instance_crops(two_frames, None, 32)
    assert np.abs(crops.points[0, 0, 0] - 24).max() > 0.5


# --- center_crop --------------------------------------------------------------------------------


@pytest.mark.parametrize("precrop, size", [(48, 32), (48, 31), (50, 33), (24, 16), (32, 32)])
def test_center_crop_slices_the_middle_and_moves_points(precrop, size):
    images = torch.arange(2 * 3 * precrop * precrop, dtype=torch.float32).view(2, 3, precrop, precrop)
    offset = (precrop - size) // 2
    inside = [[offset + 0.0, offset + 0.0], [offset - 0.4, offset + size - 0.6], [precrop / 2, precrop / 2]]
    outside = [[offset - 0.6, precrop / 2], [precrop / 2, offset + size - 0.4], [-3.0, -3.0]]
    points = torch.tensor([[inside, outside], [outside, inside]], dtype=torch.float32)
    cropped, moved = center_crop(images, points, size)
    assert cropped.shape == (2, 3, size, size)
    torch.testing.assert_close(cropped, images[..., offset : offset + size, offset : offset + size])
    torch.testing.assert_close(moved[0, 0], points[0, 0] - offset)
    torch.testing.assert_close(moved[1, 1], points[1, 1] - offset)
    assert torch.isnan(moved[0, 1]).all() and torch.isnan(moved[1, 0]).all()
    # The pre-crop's pixel at the point comes out at the moved point.
    assert cropped[0, 1, int(moved[0, 0, 2, 1]), int(moved[0, 0, 2, 0])] == images[0, 1, precrop // 2, precrop // 2]


# --- crop_and_resize versus the training path ---------------------------------------------------


def training_crop(frame: np.ndarray, centre: np.ndarray, crop_size: int, scale: float) -> tuple[torch.Tensor, np.ndarray]:
    """The training path for one animal whose centre is `centre` (frame px): resize → pre-crop →
    centre cut. Returns the float crop `(channels, crop, crop)` in [0, 1] and its origin (the
    scaled coordinate of crop pixel (0, 0))."""
    resized = resize_frame(frame, scale)
    scaled_centre = scale_points(centre.astype(np.float64), scale)
    cache = FrameCache(resized[None], scaled_centre.astype(np.float32)[None, None, None], scale)
    crops, _ = instance_crops(cache, None, crop_size)
    images = torch.from_numpy(np.ascontiguousarray(crops.images)).permute(0, 3, 1, 2).float() / 255
    cropped, points = center_crop(images, torch.from_numpy(crops.points), crop_size)
    origin = scaled_centre - points[0, 0, 0].double().numpy()
    return cropped[0], origin


def smooth_frame(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """A low-frequency uint8 image (sums of sinusoids with periods ≥ 25 px)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for _ in range(channels):
        plane = np.zeros((height, width))
        for _ in range(3):
            fx, fy = rng.uniform(-1 / 25, 1 / 25, 2)
            plane += np.sin(2 * np.pi * (fx * xs + fy * ys) + rng.uniform(0, 2 * np.pi))
        planes.append(127.5 + 40 * plane)
    return np.clip(np.round(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


def inference_crops(frames: list[np.ndarray], centres: np.ndarray, rows: list[int], crop_size: int, scale: float):
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    return crop_and_resize(batch, torch.tensor(centres, dtype=torch.float32), torch.tensor(rows), crop_size, scale)


@pytest.mark.parametrize("scale", [1.0, 0.75, 0.5])
def test_crop_and_resize_matches_training_crops(scale):
    """Random centres whose crops lie inside the frame, on 160×200 frames (exact at these scales)."""
    rng = np.random.default_rng(int(scale * 100))
    height, width = 160, 200
    if scale == 1.0:  # any image: the crop is a copy
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)]
        tolerance = 1e-4
    else:
        frames = [smooth_frame(rng, height, width, 3) for _ in range(2)]
        tolerance = 1.5 / 255 if scale == 0.5 else 0.02  # 0.5: both average 2×2 blocks (uint8 rounding)
    for frame in frames:
        assert resize_frame(frame, scale).shape == (round(height * scale), round(width * scale), 3)
    crop_size = 32
    n = 24
    margin = crop_size / 2 + 2
    scaled = rng.uniform([margin, margin], [width * scale - margin, height * scale - margin], (n, 2))
    centres = (scaled + 0.5) / scale - 0.5  # frame px
    rows = rng.integers(0, 2, n).tolist()

    crops, origins = inference_crops(frames, centres, rows, crop_size, scale)
    assert crops.shape == (n, 3, crop_size, crop_size) and origins.shape == (n, 2)
    expected_origins = np.round(scale_points(centres, scale) - crop_size / 2)
    np.testing.assert_array_equal(origins.numpy(), expected_origins)
    for i in range(n):
        expected, origin = training_crop(frames[rows[i]], centres[i], crop_size, scale)
        np.testing.assert_allclose(origin, expected_origins[i], atol=1e-3)
        difference = (crops[i] - expected).abs().max().item()
        assert difference < tolerance, f"crop {i}: max difference {difference:.4f} at scale {scale}"


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_crop_and_resize_is_zero_outside_the_frame_like_training_precrops(scale):
    """Near the frame's edge, training pre-crops are zero outside the frame; the inference crop
    of the same animal must be too (no border pixels repeated)."""
    height, width = 80, 96
    frame = np.full((height, width, 1), 128, np.uint8)
    crop_size = 32
    for centre in ([5.0, 40.0], [48.0, 3.0], [92.0, 77.0]):
        centre = np.array(centre)
        expected, origin = training_crop(frame, centre, crop_size, scale)
        crops, origins = inference_crops([frame], centre[None], [0], crop_size, scale)
        np.testing.assert_array_equal(origins[0].numpy(), origin)
        # Crop pixel j shows scaled coordinate origin + j; the frame covers [0, size - 1].
        coordinates = origin[:, None] + np.arange(crop_size)  # (2, crop) scaled x, y of crop pixels
        cols_in = (coordinates[0] >= 0) & (coordinates[0] <= round(width * scale) - 1)
        rows_in = (coordinates[1] >= 0) & (coordinates[1] <= round(height * scale) - 1)
        assert (expected[0][np.ix_(rows_in, cols_in)] == 128 / 255).all()
        assert (expected[0][~rows_in] == 0).all() and (expected[0][:, ~cols_in] == 0).all()
        got = crops[0, 0].numpy()
        wrong = np.abs(got - expected[0].numpy()) > 1e-4
        columns = (origin[0] + np.flatnonzero(wrong.any(axis=0))).astype(int).tolist()
        rows = (origin[1] + np.flatnonzero(wrong.any(axis=1))).astype(int).tolist()
        values = np.unique(np.round(got[wrong] * 255)).tolist()
        assert not wrong.any(), (
            f"centre {centre.tolist()} at scale {scale}: the inference crop holds {values} (/255) where the "
            f"training pre-crop holds 0, at scaled frame columns {columns} / rows {rows}"
        )


def blob_frame(height: int, width: int, point: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    blob = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma**2))
    return np.round(255 * blob).astype(np.uint8)[..., None]


def weighted_centre(image: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return np.array([(image * xs).sum(), (image * ys).sum()]) / image.sum()


POINTS = [(20.3, 15.8), (70.6, 47.2), (118.4, 83.7)]  # left-top, middle, right-bottom


@pytest.mark.parametrize("scale", [1.0, 0.75, 0.5])
@pytest.mark.parametrize("size", [(96, 128), (97, 131)])
@pytest.mark.parametrize("point", POINTS)
def test_crop_and_resize_puts_a_point_at_its_scaled_coordinates(point, size, scale):
    """A blob at frame point p appears in the inference crop at `scale_points(p) - origin`."""
    height, width = size
    point = np.array(point)
    frame = blob_frame(height, width, point)
    crops, origins = inference_crops([frame], point[None] + [3.7, -2.2], [0], 48, scale)
    found = weighted_centre(crops[0, 0].numpy())
    expected = scale_points(point, scale) - origins[0].numpy()
    assert np.abs(found - expected).max() < 0.1, (found, expected)


@pytest.mark.parametrize("scale", [1.0, 0.75, 0.5])
@pytest.mark.parametrize("size", [(96, 128), (97, 131)])
@pytest.mark.parametrize("point", POINTS)
def test_training_crop_puts_a_point_at_its_scaled_coordinates(point, size, scale):
    """A blob at frame point p appears in the training crop at `scale_points(p) - origin`, where
    the labels say it is: the image and the keypoints are resized alike."""
    height, width = size
    point = np.array(point)
    frame = blob_frame(height, width, point)
    crop, origin = training_crop(frame, point + [3.7, -2.2], 48, scale)
    found = weighted_centre(crop[0].numpy())
    expected = scale_points(point, scale) - origin
    assert np.abs(found - expected).max() < 0.1, (
        f"{width}×{height} frame at scale {scale} (resized to {resize_frame(frame, scale).shape[1::-1]}): blob at "
        f"{found.round(3).tolist()}, labels say {expected.round(3).tolist()}"
    )


def test_random_animal_crops_cut_windows_around_an_animal():
    torch.manual_seed(0)
    images = torch.zeros(3, 1, 120, 160)
    points = torch.full((3, 2, 2, 2), float("nan"))
    points[0, 0] = torch.tensor([[30.0, 40.0], [34.0, 44.0]])
    points[1, 1] = torch.tensor([[120.0, 90.0], [124.0, 94.0]])  # frame 2 has no animal
    for frame, (x, y) in enumerate([(30, 40), (120, 90)]):
        images[frame, 0, y, x] = 1.0  # a bright pixel on the first part
    windows, moved = random_animal_crops(images, points, 48)
    assert windows.shape == (3, 1, 48, 48)
    for frame in range(2):
        labeled = moved[frame][~torch.isnan(moved[frame, :, 0, 0])]
        x, y = labeled[0, 0].round().long().tolist()
        assert windows[frame, 0, y, x] == pytest.approx(1.0, abs=1e-5)  # points moved with the pixels
        assert abs(x - 23.5) <= 12.5 and abs(y - 23.5) <= 12.5  # within a quarter window of the centre
    assert torch.isnan(moved[2]).all()
