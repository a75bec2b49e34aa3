"""Batches of cached frames: one indexing op per batch, no per-sample Python."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from posenn.data.cache import FrameCache


class FrameDataset(Dataset):
    """A view of some rows of a `FrameCache`.

    A batch is `{"image": (batch, channels, height, width) uint8, "points": (batch, instances,
    nodes, 2) float32}`, plus `"classes": (batch, instances) int64` for identity models;
    augmentation and target encoding happen later, on the device.
    """

    def __init__(self, cache: FrameCache, rows: np.ndarray):
        self.cache = cache
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Fetch a whole batch at once (PyTorch's DataLoader calls this when it exists)."""
        rows = self.rows[np.asarray(indices)]
        order = np.argsort(rows)  # read a disk memmap front to back
        images = np.empty((len(rows),) + self.cache.images.shape[1:], np.uint8)
        images[order] = self.cache.images[rows[order]]
        batch = {
            "image": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "points": torch.from_numpy(self.cache.points[rows]),
        }
        if self.cache.classes is not None:
            batch["classes"] = torch.from_numpy(self.cache.classes[rows])
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.__getitems__([index]).items()}


def keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate function for batches that `__getitems__` already assembled."""
    return batch


def make_loader(
    dataset: FrameDataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    num_samples: int | None = None,
) -> DataLoader:
    """A DataLoader that fetches whole batches.

    When shuffling, the last partial batch is dropped, and `num_samples` (if given) sets the
    samples per epoch independently of the dataset size (small label sets repeat).
    """
    generator = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, num_samples=num_samples, generator=generator) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=min(batch_size, num_samples or len(dataset)),
        sampler=sampler,
        drop_last=shuffle and (num_samples or len(dataset)) > batch_size,
        num_workers=num_workers,
        collate_fn=keep_batch,
        persistent_workers=num_workers > 0,
    )
