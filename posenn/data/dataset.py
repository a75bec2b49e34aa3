"""Batches of cached frames: one indexing op per batch, no per-sample Python."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from posenn.data.cache import FrameCache


class FrameDataset(Dataset):
    """A view of some rows of a `FrameCache`.

    A batch is `{"image": (batch, channels, height, width) uint8, "points": (batch, instances,
    nodes, 2) float32}`, plus `"classes": (batch, instances) int64` for identity models and,
    when `indexed`, `"index": (batch,) int64` (the samples' positions in this dataset, which
    tell apart the samples that a DDP sampler repeats); augmentation and target encoding happen
    later, on the device.
    """

    def __init__(self, cache: FrameCache, rows: np.ndarray, indexed: bool = False):
        self.cache = cache
        self.rows = np.asarray(rows, dtype=np.int64)
        self.indexed = indexed

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
        if self.indexed:
            batch["index"] = torch.as_tensor(indices, dtype=torch.int64)
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.__getitems__([index]).items()}


def keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate function for batches that `__getitems__` already assembled."""
    return batch


class SeededRandomSampler(RandomSampler):
    """A `RandomSampler` whose draws depend only on the seed and the epoch, and whose generator
    pickles as plain bytes.

    Lightning calls `set_epoch` before each epoch, so a run resumed at any epoch draws what an
    uninterrupted run draws there, with no sampler state in the checkpoint.

    Spawned DDP processes receive the loaders pickled; torch's multiprocessing pickler fails to
    rebuild a `torch.Generator` in the new process ("unable to resize file"), but its state as
    bytes travels fine.
    """

    def __init__(self, data_source, num_samples: int | None = None, generator: torch.Generator | None = None):
        super().__init__(data_source, num_samples=num_samples, generator=generator)
        self.seed = generator.initial_seed() if generator is not None else None

    def set_epoch(self, epoch: int) -> None:
        """Reseed the draws for `epoch` (epoch 0 draws as the freshly seeded generator does)."""
        if self.generator is not None and self.seed is not None:
            self.generator.manual_seed(self.seed + epoch)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self.generator, torch.Generator):
            state["generator"] = self.generator.get_state().numpy().tobytes()
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state.get("generator"), bytes):
            generator = torch.Generator()
            generator.set_state(torch.frombuffer(bytearray(state["generator"]), dtype=torch.uint8))
            state = {**state, "generator": generator}
        self.__dict__.update(state)


class SharedDraws(Sampler[int]):
    """Random draws meant to be shared out among DDP processes.

    It yields what its `RandomSampler` yields, but it is not one: Lightning replaces a
    `RandomSampler` by a `DistributedSampler` over the whole dataset (forgetting `num_samples`),
    whereas it wraps any other sampler so that each of the N processes gets 1/N of its draws.
    """

    def __init__(self, draws: SeededRandomSampler):
        self.draws = draws

    def __iter__(self):
        return iter(self.draws)

    def __len__(self) -> int:
        return len(self.draws)

    def set_epoch(self, epoch: int) -> None:
        """Reseed the shared draws for `epoch` (Lightning's DDP wrapper passes the call on)."""
        self.draws.set_epoch(epoch)


def make_loader(
    dataset: FrameDataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    num_samples: int | None = None,
    processes: int = 1,
) -> DataLoader:
    """A DataLoader that fetches whole batches.

    When shuffling, the last partial batch is dropped, and `num_samples` (if given) sets the
    samples per epoch independently of the dataset size (small label sets repeat). `processes`:
    DDP processes that will share the loader out (Lightning gives each a distributed sampler);
    each then still gets `num_samples` samples per epoch.
    """
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if shuffle:
        draws = None if num_samples is None else num_samples * processes
        sampler = SeededRandomSampler(dataset, num_samples=draws, generator=generator)
        if draws is not None and processes > 1:
            sampler = SharedDraws(sampler)
    per_process = num_samples or math.ceil(len(dataset) / processes)  # samples each process gets
    return DataLoader(
        dataset,
        batch_size=min(batch_size, per_process),
        sampler=sampler,
        drop_last=shuffle and per_process > batch_size,
        num_workers=num_workers,
        collate_fn=keep_batch,
        persistent_workers=num_workers > 0,
    )
