"""What pipelines return: the instances of a batch of frames as arrays, and of one frame."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from posenn.heads.identity import assign_identities
from posenn.inference.duplicates import duplicate_free, remove_duplicates


def instance_scores(points: np.ndarray, point_scores: np.ndarray) -> np.ndarray:
    """Mean score of the found points of each `(..., nodes, 2)` instance → `(...)`."""
    found = ~np.isnan(points[..., 0])
    total = np.where(found, point_scores, 0.0).sum(axis=-1)
    return (total / np.maximum(found.sum(axis=-1), 1)).astype(np.float32)


def clip_to_frames(points: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Clamp `(batch, ..., 2)` points into their frames (`sizes`: `(batch, 2)` height, width).

    Peaks in the last map cells, which cover padding, would otherwise fall outside the frame.
    """
    upper = (sizes[:, ::-1] - 1).astype(points.dtype)
    return np.clip(points, 0, upper.reshape((len(sizes),) + (1,) * (points.ndim - 2) + (2,)))


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
        class_probabilities: `(instances, classes)` of identity models, before the identities
            are assigned.
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


def without_duplicates(prediction: FramePrediction, min_oks: float | None) -> FramePrediction:
    """Drop instances whose OKS with a better-scored one exceeds `min_oks` (None keeps all)."""
    if min_oks is None:
        return prediction
    return prediction.subset(remove_duplicates(prediction.points, prediction.scores, min_oks))


@dataclass
class BatchPrediction:
    """The instances of a batch of frames, in frame pixels, as fixed-size arrays.

    Attributes:
        indices: `(batch,)` frame indices.
        points: `(batch, slots, nodes, 2)`, NaN for parts not found.
        point_scores: `(batch, slots, nodes)`.
        scores: `(batch, slots)` instance scores.
        valid: `(batch, slots)` bool: the slot holds an instance that is kept.
        identities: `(batch, slots)` index into the model's classes, -1 for none; None for
            models without identities.
        class_probabilities: `(batch, slots, classes)` of identity models; None for others.
    """

    indices: np.ndarray
    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    identities: np.ndarray | None = None
    class_probabilities: np.ndarray | None = None

    @classmethod
    def from_points(
        cls, indices: np.ndarray, points: np.ndarray, point_scores: np.ndarray, scores: np.ndarray | None = None,
        identities: np.ndarray | None = None, duplicate_oks: float | None = None,
    ) -> BatchPrediction:
        """Keep the slots with at least one found point (and no better duplicate); `scores`
        default to the mean score of the found points."""
        valid = ~np.isnan(points).all(axis=(2, 3))
        scores = instance_scores(points, point_scores) if scores is None else scores
        if duplicate_oks is not None:
            valid = duplicate_free(points, scores, valid, duplicate_oks)
        return cls(indices, points, point_scores, scores, valid, identities)

    def with_assigned_identities(self, probabilities: np.ndarray) -> BatchPrediction:
        """Identities from `(batch, slots, classes)` probabilities, each once per frame
        (Hungarian over the valid slots); slots left without one are dropped."""
        identities = np.full(self.valid.shape, -1, np.int64)
        for row in np.flatnonzero(self.valid.any(axis=1)):
            slots = np.flatnonzero(self.valid[row])
            identities[row, slots] = assign_identities(probabilities[row, slots])
        return dataclasses.replace(
            self, identities=identities, valid=self.valid & (identities >= 0), class_probabilities=probabilities
        )

    def frames(self) -> list[FramePrediction]:
        """One `FramePrediction` per frame, with its kept instances in slot order."""
        return [
            FramePrediction(
                int(idx), self.points[row][keep], self.point_scores[row][keep], self.scores[row][keep],
                None if self.identities is None else self.identities[row][keep],
                None if self.class_probabilities is None else self.class_probabilities[row][keep],
            )
            for row, (idx, keep) in enumerate(zip(self.indices, self.valid))
        ]
