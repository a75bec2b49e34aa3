"""Inference pipelines: compositions of trained heads, from frames to instances in frame pixels.

A pipeline names the input scales it needs (frames are resized on the reader thread) and turns
one `FrameBatch` into one `FramePrediction` per frame. Pipelines hold no head maths: decoding is
the heads' job, cropping is `crop_and_resize`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from posenn.data.cache import unscale_points
from posenn.data.crops import crop_and_resize
from posenn.errors import PosennError
from posenn.inference.duplicates import remove_duplicates
from posenn.inference.predictor import FrameBatch, TrainedModel, to_device_images
from posenn.heads.bottomup import BottomUpHead
from posenn.heads.identity import MulticlassBottomUpHead, MulticlassTopDownHead, assign_identities
from posenn.models.model import decode_instances


@dataclass
class FramePrediction:
    """Instances found in one frame, in frame pixels.

    Attributes:
        frame_idx: index of the frame.
        points: `(instances, nodes, 2)`, NaN for parts not found.
        point_scores: `(instances, nodes)`.
        scores: `(instances,)` instance scores.
        identities: `(instances,)` index into the model's classes, -1 for none; None for models
            without identities.
        class_probabilities: `(instances, classes)` of top-down identity models, before the
            identities are assigned.
    """

    frame_idx: int
    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray
    identities: np.ndarray | None = None
    class_probabilities: np.ndarray | None = None

    def subset(self, keep: np.ndarray) -> FramePrediction:
        """The instances selected by `keep` (a boolean mask or indices)."""
        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[keep]

        return FramePrediction(
            self.frame_idx, self.points[keep], self.point_scores[keep], self.scores[keep],
            pick(self.identities), pick(self.class_probabilities),
        )

    def with_assigned_identities(self) -> FramePrediction:
        """Identities from the class probabilities, each at most once per frame (Hungarian).

        An identity model knows every animal, so instances left without an identity (more
        detections than identities: a stray or duplicate detection) are dropped.
        """
        identities = assign_identities(self.class_probabilities)
        return dataclasses.replace(self, identities=identities).subset(identities >= 0)


def clip_to_frames(points: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Clamp `(batch, ..., 2)` points into their frames (`sizes`: `(batch, 2)` height, width).

    Peaks in the last map cells, which cover padding, would otherwise fall outside the frame.
    """
    upper = (sizes[:, ::-1] - 1).astype(points.dtype)
    return np.clip(points, 0, upper.reshape((len(sizes),) + (1,) * (points.ndim - 2) + (2,)))


def instance_scores(points: np.ndarray, point_scores: np.ndarray) -> np.ndarray:
    """Mean score of the found points of each `(instances, nodes, 2)` instance."""
    found = ~np.isnan(points[..., 0])
    total = np.where(found, point_scores, 0.0).sum(axis=-1)
    return (total / np.maximum(found.sum(axis=-1), 1)).astype(np.float32)


def frame_prediction(
    frame_idx: int, points: np.ndarray, point_scores: np.ndarray, class_probabilities: np.ndarray | None = None
) -> FramePrediction:
    """Keep the instances with at least one found point."""
    found = ~np.isnan(points).all(axis=(1, 2))
    scores = instance_scores(points, point_scores)
    return FramePrediction(frame_idx, points, point_scores, scores, class_probabilities=class_probabilities).subset(found)


def without_duplicates(prediction: FramePrediction, min_oks: float | None) -> FramePrediction:
    """Drop instances whose OKS with a better-scored one exceeds `min_oks` (None keeps all)."""
    if min_oks is None:
        return prediction
    return prediction.subset(remove_duplicates(prediction.points, prediction.scores, min_oks))


class WholeFramePipeline:
    """One model over the whole frame: a single-instance model (one animal), or a bottom-up
    model (every animal, grouped by its part affinity fields)."""

    def __init__(self, model: TrainedModel, peak_threshold: float, duplicate_oks: float | None = None):
        self.model = model
        self.peak_threshold = peak_threshold
        self.duplicate_oks = duplicate_oks
        self.channels = model.config.data.channels
        self.scales = [model.config.data.scale]

    @torch.inference_mode()
    def predict(self, batch: FrameBatch, device: torch.device) -> list[FramePrediction]:
        scale = self.scales[0]
        outputs = self.model.model(to_device_images(batch, scale, self.channels, device))
        points, point_scores, scores = decode_instances(self.model.head, outputs, self.peak_threshold)
        points = clip_to_frames(unscale_points(points.float().cpu().numpy(), scale), batch.sizes)
        point_scores, scores = point_scores.float().cpu().numpy(), scores.float().cpu().numpy()
        # A multi-class bottom-up model returns one instance per identity, in identity order.
        identities = np.arange(points.shape[1]) if isinstance(self.model.head, MulticlassBottomUpHead) else None
        predictions = []
        for row, idx in enumerate(batch.indices):
            found = ~np.isnan(points[row]).all(axis=(1, 2))
            prediction = FramePrediction(idx, points[row], point_scores[row], scores[row], identities).subset(found)
            predictions.append(without_duplicates(prediction, self.duplicate_oks))
        return predictions


class TopDownPipeline:
    """Centres on the (scaled) frame → crops of the full-resolution frame → part maps per crop.

    Each model keeps its own input scale. All crops of a batch go through the instance model
    together.
    """

    def __init__(
        self,
        centroid: TrainedModel,
        instance: TrainedModel,
        peak_threshold: float,
        max_instances: int | None = None,
        duplicate_oks: float | None = None,
    ):
        self.centroid = centroid
        self.instance = instance
        self.peak_threshold = peak_threshold
        self.centroid_head = centroid.head
        if max_instances is not None:
            self.centroid_head = dataclasses.replace(centroid.head, max_instances=max_instances)
        self.duplicate_oks = duplicate_oks
        self.channels = instance.config.data.channels
        self.scales = sorted({centroid.config.data.scale, 1.0})

    @torch.inference_mode()
    def predict(self, batch: FrameBatch, device: torch.device) -> list[FramePrediction]:
        frames = to_device_images(batch, 1.0, self.channels, device)  # full resolution, for crops
        centroid_scale, centroid_channels = self.centroid.config.data.scale, self.centroid.config.data.channels
        images = frames
        if (centroid_scale, centroid_channels) != (1.0, self.channels):
            images = to_device_images(batch, centroid_scale, centroid_channels, device)
        centres, _ = self.centroid_head.decode(self.centroid.model(images), self.peak_threshold)
        centres = (centres[:, :, 0] + 0.5) / centroid_scale - 0.5  # (batch, max_instances, 2) frame px
        frame_index, slot = torch.nonzero(~torch.isnan(centres[..., 0]), as_tuple=True)
        n_nodes = self.instance.head.n_nodes
        points = np.full((len(batch.indices), self.centroid_head.max_instances, n_nodes, 2), np.nan, np.float32)
        point_scores = np.zeros(points.shape[:-1], np.float32)
        probabilities = None
        if self.identified:
            probabilities = np.zeros(points.shape[:2] + (self.instance.head.n_classes,), np.float32)
        if len(frame_index):
            crop_points, crop_scores, crop_probabilities = self.predict_crops(frames, centres[frame_index, slot], frame_index)
            rows, slots = frame_index.cpu().numpy(), slot.cpu().numpy()
            points[rows, slots] = crop_points
            point_scores[rows, slots] = crop_scores
            if probabilities is not None:
                probabilities[rows, slots] = crop_probabilities
        points = clip_to_frames(points, batch.sizes)
        predictions = []
        for row, idx in enumerate(batch.indices):
            frame_probabilities = None if probabilities is None else probabilities[row]
            prediction = without_duplicates(frame_prediction(idx, points[row], point_scores[row], frame_probabilities), self.duplicate_oks)
            predictions.append(prediction.with_assigned_identities() if self.identified else prediction)
        return predictions

    @property
    def identified(self) -> bool:
        """Whether the instance model also tells each animal's identity."""
        return isinstance(self.instance.head, MulticlassTopDownHead)

    def predict_crops(
        self, frames: torch.Tensor, centres: torch.Tensor, frame_index: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Part positions `(crops, nodes, 2)` in frame pixels, their scores `(crops, nodes)`, and
        identity probabilities `(crops, classes)` (None without identities), from `(frames,
        channels, h, w)` full-resolution float frames."""
        scale = self.instance.config.data.scale
        crops, origins = crop_and_resize(frames, centres, frame_index, self.instance.head.crop_size, scale)
        outputs = self.instance.model(crops)
        points, scores = self.instance.head.decode(outputs, self.peak_threshold)  # (crops, 1, nodes, ...)
        points = unscale_points(points[:, 0] + origins[:, None, :], scale)
        probabilities = self.instance.head.classify(outputs).cpu().numpy() if self.identified else None
        return points.float().cpu().numpy(), scores[:, 0].float().cpu().numpy(), probabilities


Pipeline = WholeFramePipeline | TopDownPipeline


def with_grouping(model: TrainedModel, **options: float | int | None) -> TrainedModel:
    """A bottom-up model whose grouping options (see `GroupingOptions`) are changed where the
    given value is not None; other models are returned as they are."""
    if not isinstance(model.head, BottomUpHead):
        return model
    changes = {name: value for name, value in options.items() if value is not None}
    grouping = dataclasses.replace(model.head.grouping, **changes)
    return dataclasses.replace(model, head=dataclasses.replace(model.head, grouping=grouping))


def make_pipeline(
    models: list[TrainedModel], peak_threshold: float, max_instances: int | None, duplicate_oks: float | None
) -> Pipeline:
    """The pipeline that the model types call for.

    Raises:
        PosennError: for a combination of models that does not make a pipeline.
    """
    by_type = {model.config.model.type: model for model in models}
    types = sorted(by_type)
    if len(models) == 1 and types == ["single_instance"]:
        return WholeFramePipeline(models[0], peak_threshold)
    if len(models) == 1 and types == ["bottomup"]:
        return WholeFramePipeline(with_grouping(models[0], max_instances=max_instances), peak_threshold, duplicate_oks)
    if len(models) == 1 and types == ["multiclass_bottomup"]:
        return WholeFramePipeline(models[0], peak_threshold)
    for instance_type in ("centered_instance", "multiclass_topdown"):
        if len(models) == 2 and types == sorted(["centroid", instance_type]):
            return TopDownPipeline(by_type["centroid"], by_type[instance_type], peak_threshold, max_instances, duplicate_oks)
    listed = ", ".join(f"{model.path} ({model.config.model.type})" for model in models)
    raise PosennError(
        f"Models {listed} do not make a pipeline: give one single_instance, bottomup or multiclass_bottomup "
        "model, or a centroid and a centered_instance (or multiclass_topdown) model (-m CENTROID -m CENTERED)."
    )
