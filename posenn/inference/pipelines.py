"""Inference pipelines: compositions of trained heads, from frames to instances in frame pixels.

A pipeline turns one `FrameBatch` (uint8 frames on the device) into one `BatchPrediction`: every
step, from resizing to duplicate removal, works on the whole batch at once. Pipelines hold no
head maths: decoding is the heads' job, cropping is `cut_crops` / `crop_and_resize`.
"""

from __future__ import annotations

import dataclasses

import torch

from posenn.data.cache import unscale_points
from posenn.data.crops import crop_and_resize, cut_crops
from posenn.data.preprocess import to_float_images
from posenn.errors import PosennError
from posenn.heads.bottomup import BottomUpHead
from posenn.heads.identity import MulticlassBottomUpHead, MulticlassTopDownHead
from posenn.inference.frames import FrameBatch, network_input
from posenn.inference.predictor import TrainedModel
from posenn.inference.results import BatchPrediction, FramePrediction, clip_to_frames, without_duplicates
from posenn.models.model import decode_instances

__all__ = ["FramePrediction", "without_duplicates", "Pipeline", "make_pipeline"]


class WholeFramePipeline:
    """One model over the whole frame: a single-instance model (one animal), a bottom-up model
    (every animal, grouped by its part affinity fields) or a multi-class bottom-up model (every
    animal, grouped by position and named by its class maps)."""

    def __init__(self, model: TrainedModel, peak_threshold: float, duplicate_oks: float | None = None):
        self.model = model
        self.peak_threshold = peak_threshold
        self.duplicate_oks = duplicate_oks
        self.channels = model.config.data.channels
        self.scales = [model.config.data.scale]

    def predict(self, batch: FrameBatch) -> list[FramePrediction]:
        """One `FramePrediction` per frame of the batch."""
        return self.predict_batch(batch).frames()

    @torch.inference_mode()
    def predict_batch(self, batch: FrameBatch) -> BatchPrediction:
        """The instances of every frame of the batch, as arrays."""
        scale = self.scales[0]
        outputs = self.model.model(batch.images(scale, self.channels))
        centred = self.model.config.model.grid == "centre"
        if isinstance(self.model.head, MulticlassBottomUpHead):  # animals first, named once per frame like top-down's
            points, point_scores, probabilities = self.model.head.decode_animals(outputs, self.peak_threshold)
            points = clip_to_frames(unscale_points(points.numpy(), scale, centred), batch.sizes)
            prediction = BatchPrediction.from_points(batch.indices, points, point_scores.numpy())
            return prediction.with_assigned_identities(probabilities.numpy())
        points, point_scores, scores = decode_instances(self.model.head, outputs, self.peak_threshold)
        points = clip_to_frames(unscale_points(points.float().cpu().numpy(), scale, centred), batch.sizes)
        point_scores, scores = point_scores.float().cpu().numpy(), scores.float().cpu().numpy()
        return BatchPrediction.from_points(batch.indices, points, point_scores, scores, duplicate_oks=self.duplicate_oks)


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

    def predict(self, batch: FrameBatch) -> list[FramePrediction]:
        """One `FramePrediction` per frame of the batch."""
        return self.predict_batch(batch).frames()

    @torch.inference_mode()
    def predict_batch(self, batch: FrameBatch) -> BatchPrediction:
        """The instances of every frame of the batch, as arrays: centres of the whole batch in one
        pass, then all its crops in one pass; results come back from the device once."""
        centroid_scale = self.centroid.config.data.scale
        images = batch.images(centroid_scale, self.centroid.config.data.channels)
        centres, _ = self.centroid_head.decode(self.centroid.model(images), self.peak_threshold)
        centres = unscale_points(centres[:, :, 0], centroid_scale, self.centroid.config.model.grid == "centre")  # frame px
        frame_index, slot = torch.nonzero(~torch.isnan(centres[..., 0]), as_tuple=True)
        slots = (len(batch), self.centroid_head.max_instances)
        points = torch.full((*slots, self.instance.head.n_nodes, 2), float("nan"), device=centres.device)
        point_scores = torch.zeros(points.shape[:-1], device=centres.device)
        probabilities = torch.zeros((*slots, self.instance.head.n_classes), device=centres.device) if self.identified else None
        if len(frame_index):
            crop_points, crop_scores, crop_probabilities = self.predict_crops(batch, centres[frame_index, slot], frame_index)
            points[frame_index, slot] = crop_points
            point_scores[frame_index, slot] = crop_scores
            if probabilities is not None:
                probabilities[frame_index, slot] = crop_probabilities
        points = clip_to_frames(points.cpu().numpy(), batch.sizes)
        prediction = BatchPrediction.from_points(batch.indices, points, point_scores.cpu().numpy(), duplicate_oks=self.duplicate_oks)
        return prediction.with_assigned_identities(probabilities.cpu().numpy()) if probabilities is not None else prediction

    @property
    def identified(self) -> bool:
        """Whether the instance model also tells each animal's identity."""
        return isinstance(self.instance.head, MulticlassTopDownHead)

    def crops(self, batch: FrameBatch, centres: torch.Tensor, frame_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float crops `(crops, channels, s, s)` for the instance model and their origins
        `(crops, 2)` in its scaled coordinates; at scale 1 they are cut from the uint8 frames."""
        scale, size = self.instance.config.data.scale, self.instance.head.crop_size
        if scale == 1.0:
            crops, origins = cut_crops(batch.frames, centres, frame_index, size)
            return network_input(to_float_images(crops), self.channels), origins
        return crop_and_resize(batch.images(1.0, self.channels), centres, frame_index, size, scale)

    def predict_crops(
        self, batch: FrameBatch, centres: torch.Tensor, frame_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Part positions `(crops, nodes, 2)` in frame pixels, their scores `(crops, nodes)`, and
        identity probabilities `(crops, classes)` (None without identities), on the device."""
        scale = self.instance.config.data.scale
        crops, origins = self.crops(batch, centres, frame_index)
        outputs = self.instance.model(crops)
        points, scores = self.instance.head.decode(outputs, self.peak_threshold)  # (crops, 1, nodes, ...)
        points = unscale_points(points[:, 0] + origins[:, None, :], scale, self.instance.config.model.grid == "centre")
        probabilities = self.instance.head.classify(outputs).float() if self.identified else None
        return points.float(), scores[:, 0].float(), probabilities


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
