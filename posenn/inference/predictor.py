"""Load a trained model folder and run it on batches of frames."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sleap_io as sio
import torch

from posenn.config import Config, load_config
from posenn.data.cache import resize_frame, unscale_points
from posenn.data.preprocess import to_float_images
from posenn.errors import PosennError
from posenn.heads.single_instance import SingleInstanceHead
from posenn.io.video import to_channels
from posenn.models.model import PoseModel, build_head, build_model


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; other names are checked for availability."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PosennError("--device cuda: no CUDA GPU is available on this machine.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise PosennError("--device mps: Apple MPS is not available on this machine.")
    return torch.device(name)


@dataclass
class TrainedModel:
    """A model folder loaded for inference."""

    path: Path
    config: Config
    model: PoseModel
    head: SingleInstanceHead

    @property
    def skeleton(self) -> sio.Skeleton:
        """The skeleton the model predicts, rebuilt from the config."""
        skeleton = self.config.data.skeleton
        return sio.Skeleton(nodes=list(skeleton.nodes), edges=[list(e) for e in skeleton.edges],
                            symmetries=[list(s) for s in skeleton.symmetries])


def checkpoint_path(model_dir: Path) -> Path:
    """`best.ckpt`, else `last.ckpt` of a model folder.

    Raises:
        PosennError: when the folder, its config or both checkpoints are missing.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise PosennError(f"Model folder not found: {model_dir}")
    if not (model_dir / "config.yaml").is_file():
        raise PosennError(f"{model_dir}: no config.yaml; is this a posenn model folder?")
    for name in ("best.ckpt", "last.ckpt"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise PosennError(f"{model_dir}: no checkpoint (expected best.ckpt or last.ckpt); has training run?")


def load_model(model_dir: Path, device: torch.device) -> TrainedModel:
    """Load config and weights of a model folder onto `device`, in eval mode."""
    path = checkpoint_path(model_dir)
    config = load_config(Path(model_dir) / "config.yaml")
    head = build_head(config)
    model = build_model(config, head.channels)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    except Exception as exc:
        raise PosennError(f"{path}: cannot be read as a posenn checkpoint ({exc}).") from None
    weights = {key.removeprefix("model."): value for key, value in state.items() if key.startswith("model.")}
    model.load_state_dict(weights)
    return TrainedModel(Path(model_dir), config, model.to(device).eval(), head)


@dataclass
class FrameBatch:
    """Frames preprocessed for the network.

    Attributes:
        indices: frame index of each row.
        images: `(batch, channels, height, width)` uint8, resized by the model's input scale
            and padded to the largest frame of the batch.
        sizes: `(batch, 2)` height and width of each original frame.
    """

    indices: list[int]
    images: np.ndarray
    sizes: np.ndarray


def batch_frames(frames: Iterable[tuple[int, np.ndarray]], config: Config, batch_size: int) -> Iterator[FrameBatch]:
    """Group `(frame_idx, frame)` pairs into preprocessed batches (runs on the reader thread)."""
    indices: list[int] = []
    images: list[np.ndarray] = []
    sizes: list[tuple[int, int]] = []
    for idx, frame in frames:
        indices.append(idx)
        sizes.append(frame.shape[:2])
        images.append(resize_frame(to_channels(frame, config.data.channels), config.data.scale))
        if len(indices) == batch_size:
            yield FrameBatch(indices, stack_padded(images), np.array(sizes))
            indices, images, sizes = [], [], []
    if indices:
        yield FrameBatch(indices, stack_padded(images), np.array(sizes))


def stack_padded(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stack `(height, width, channels)` frames into `(batch, channels, H, W)`, zero-padding."""
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    batch = np.zeros((len(images), images[0].shape[2], height, width), np.uint8)
    for row, image in enumerate(images):
        batch[row, :, : image.shape[0], : image.shape[1]] = image.transpose(2, 0, 1)
    return batch


@dataclass
class FramePrediction:
    """Instances found in one frame, in frame pixels.

    Attributes:
        frame_idx: index of the frame.
        points: `(instances, nodes, 2)`, NaN for parts not found.
        point_scores: `(instances, nodes)`.
        scores: `(instances,)` instance scores.
    """

    frame_idx: int
    points: np.ndarray
    point_scores: np.ndarray
    scores: np.ndarray


@torch.inference_mode()
def predict_batch(model: TrainedModel, batch: FrameBatch, device: torch.device, peak_threshold: float) -> list[FramePrediction]:
    """Run the network and the head's decoder on one batch."""
    images = to_float_images(torch.from_numpy(batch.images).to(device, non_blocking=True))
    maps = model.model(images)
    points, point_scores = model.head.decode(maps, peak_threshold)
    points = unscale_points(points.float().cpu().numpy(), model.config.data.scale)
    points = clip_to_frames(points, batch.sizes)
    point_scores = point_scores.float().cpu().numpy()
    predictions = []
    for row, idx in enumerate(batch.indices):
        found = ~np.isnan(points[row]).all(axis=(1, 2))  # (instances,)
        frame_scores = np.where(np.isnan(points[row][..., 0]), np.nan, point_scores[row])
        scores = np.nanmean(frame_scores[found], axis=1) if found.any() else np.zeros(0, np.float32)
        predictions.append(FramePrediction(idx, points[row][found], point_scores[row][found], scores))
    return predictions


def clip_to_frames(points: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Clamp `(batch, instances, nodes, 2)` points into their frames (`sizes`: `(batch, 2)` h, w).

    Peaks in the last map cells, which cover padding, would otherwise fall outside the frame.
    """
    upper = (sizes[:, ::-1] - 1).astype(points.dtype)[:, None, None, :]  # (batch, 1, 1, 2) x, y
    return np.clip(points, 0, upper)
