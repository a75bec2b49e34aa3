"""The top-down pipeline's geometry: frames with known poses → ideal maps → decode → the poses.

Stand-in networks return ideal maps: each frame has 3 channels, a Gaussian blob at every
animal's centre (channel 0) and at its two parts (channels 1, 2). The centroid "network" returns
channel 0, the instance "network" channels 1–2 of its crop, both at output stride 1. What the
pipeline must get right is everything else: scales, crops, and coordinates back in the frame.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from posenn.config import Config, SkeletonConfig
from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.centroid import CentroidHead
from posenn.inference.pipelines import TopDownPipeline
from posenn.inference.frames import make_batch
from posenn.inference.predictor import TrainedModel

SIGMA = 3.0


class Channels(nn.Module):
    """A stand-in network that returns some channels of its input."""

    def __init__(self, channels: slice):
        super().__init__()
        self.channels = channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, self.channels]


def stand_in(model_type: str, scale: float, head, channels: slice) -> TrainedModel:
    config = Config()
    config.model.type = model_type
    config.data.scale = scale
    config.data.channels = 3
    config.data.skeleton = SkeletonConfig(nodes=["A", "B"], edges=[("A", "B")])
    return TrainedModel(Path("stand-in"), config, Channels(channels), head)


def draw_blobs(height: int, width: int, centres: np.ndarray) -> np.ndarray:
    """`(height, width)` uint8 image with a unit Gaussian at each `(n, 2)` centre."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width))
    for x, y in centres:
        image = np.maximum(image, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * SIGMA**2)))
    return np.round(image * 255).astype(np.uint8)


def random_frame(rng: np.random.Generator, height: int, width: int, animals: int) -> tuple[np.ndarray, np.ndarray]:
    """A 3-channel frame and the `(animals, 2, 2)` poses drawn in it, animals ≥ 90 px apart."""
    centres: list[np.ndarray] = []
    while len(centres) < animals:
        centre = rng.uniform([12, 12], [width - 13, height - 13])
        if all(np.linalg.norm(centre - other) > 90 for other in centres):
            centres.append(centre)
    offsets = rng.uniform(-18, 18, size=(animals, 2))
    poses = np.stack([np.array(centres) + offsets, np.array(centres) - offsets], axis=1)  # (animals, 2, 2)
    frame = np.stack(
        [draw_blobs(height, width, poses.mean(axis=1)), draw_blobs(height, width, poses[:, 0]), draw_blobs(height, width, poses[:, 1])],
        axis=-1,
    )
    return frame, poses


@pytest.mark.parametrize("centroid_scale, instance_scale", [(0.5, 1.0), (0.5, 0.75), (1.0, 1.0)])
def test_pipeline_returns_the_drawn_poses(centroid_scale, instance_scale):
    rng = np.random.default_rng(7)
    centroid = stand_in("centroid", centroid_scale, CentroidHead(SIGMA * centroid_scale, 1, None, 8), slice(0, 1))
    instance = stand_in(
        "centered_instance", instance_scale, CenteredInstanceHead(2, SIGMA * instance_scale, 1, crop_size=64), slice(1, 3)
    )
    pipeline = TopDownPipeline(centroid, instance, peak_threshold=0.3)
    frames = [random_frame(rng, 240, 320, animals) for animals in (1, 2, 3)]
    batch = make_batch([(i, frame) for i, (frame, _) in enumerate(frames)])

    predictions = pipeline.predict(batch)

    for prediction, (_, poses) in zip(predictions, frames):
        assert len(prediction.points) == len(poses)
        order = [np.argmin(np.linalg.norm(prediction.points[:, 0] - pose[0], axis=1)) for pose in poses]
        errors = np.linalg.norm(prediction.points[order] - poses, axis=-1)
        assert errors.max() < 0.35, errors
        assert (prediction.scores > 0.9).all()


def test_frames_without_animals_give_no_instances():
    centroid = stand_in("centroid", 0.5, CentroidHead(SIGMA * 0.5, 1, None, 8), slice(0, 1))
    instance = stand_in("centered_instance", 1.0, CenteredInstanceHead(2, SIGMA, 1, crop_size=64), slice(1, 3))
    pipeline = TopDownPipeline(centroid, instance, peak_threshold=0.3)
    batch = make_batch([(0, np.zeros((96, 128, 3), np.uint8))])
    (prediction,) = pipeline.predict(batch)
    assert prediction.points.shape == (0, 2, 2) and prediction.scores.shape == (0,)


def test_max_instances_keeps_the_strongest_centres():
    rng = np.random.default_rng(3)
    frame, poses = random_frame(rng, 240, 320, 3)
    frame[..., 0] = (frame[..., 0] * 0.6).astype(np.uint8)  # all centres weaker ...
    strongest = poses[0].mean(axis=0)
    frame[..., 0] = np.maximum(frame[..., 0], draw_blobs(240, 320, strongest[None]))  # ... but one
    centroid = stand_in("centroid", 1.0, CentroidHead(SIGMA, 1, None, 8), slice(0, 1))
    instance = stand_in("centered_instance", 1.0, CenteredInstanceHead(2, SIGMA, 1, crop_size=64), slice(1, 3))
    pipeline = TopDownPipeline(centroid, instance, peak_threshold=0.3, max_instances=1)
    (prediction,) = pipeline.predict(make_batch([(0, frame)]))
    assert len(prediction.points) == 1
    np.testing.assert_allclose(prediction.points[0], poses[0], atol=0.35)
