"""Batches of cached frames: whole-batch indexing, loaders, samples per epoch."""

import numpy as np
import pytest
import torch

from posenn.data.cache import FrameCache, build_cache
from posenn.data.dataset import FrameDataset, make_loader
from posenn.io.labels import labeled_samples, load_labels

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def synthetic_cache(n: int = 7, height: int = 9, width: int = 11, channels: int = 3) -> FrameCache:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, height, width, channels), dtype=np.uint8)
    points = rng.uniform(0, 9, (n, 2, 4, 2)).astype(np.float32)
    points[0, 1] = np.nan
    # Tag every row so it can be recognised in a batch.
    images[:, 0, 0, 0] = np.arange(n)
    return FrameCache(images, points, 1.0)


def test_getitems_returns_uint8_nchw_and_matching_points():
    cache = synthetic_cache()
    rows = np.array([6, 2, 4, 0, 5])
    dataset = FrameDataset(cache, rows)
    assert len(dataset) == 5
    batch = dataset.__getitems__([3, 0, 1, 0])
    assert set(batch) == {"image", "points"}
    image, points = batch["image"], batch["points"]
    assert image.dtype == torch.uint8 and image.shape == (4, 3, 9, 11)
    assert image.is_contiguous()
    assert points.dtype == torch.float32 and points.shape == (4, 2, 4, 2)
    expected_rows = rows[[3, 0, 1, 0]]
    np.testing.assert_array_equal(image.numpy(), cache.images[expected_rows].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(points.numpy(), cache.points[expected_rows])


def test_getitem_single_sample():
    cache = synthetic_cache()
    dataset = FrameDataset(cache, np.arange(7))
    item = dataset[2]
    assert item["image"].shape == (3, 9, 11)
    np.testing.assert_array_equal(item["image"].numpy(), cache.images[2].transpose(2, 0, 1))
    np.testing.assert_array_equal(item["points"].numpy(), cache.points[2])


def test_dataset_on_real_cache_from_disk(shared_file, tmp_path):
    samples = labeled_samples(load_labels(shared_file("small_robot_minimal.slp")), "user")
    cache = build_cache(samples, channels=1, scale=0.5, cache_dir=tmp_path)
    assert isinstance(cache.images, np.memmap)
    dataset = FrameDataset(cache, np.array([1, 0]))
    batch = dataset.__getitems__([0, 1])
    assert batch["image"].shape == (2, 1, 160, 280)
    np.testing.assert_array_equal(batch["image"][0, 0].numpy(), np.asarray(cache.images[1, :, :, 0]))
    np.testing.assert_array_equal(batch["image"][1, 0].numpy(), np.asarray(cache.images[0, :, :, 0]))
    np.testing.assert_allclose(batch["points"].numpy(), cache.points[[1, 0]])


def test_loader_without_shuffle_visits_rows_in_order():
    cache = synthetic_cache()
    dataset = FrameDataset(cache, np.array([4, 1, 6, 3, 0]))
    loader = make_loader(dataset, batch_size=2, shuffle=False)
    batches = list(loader)
    assert [len(b["image"]) for b in batches] == [2, 2, 1]  # nothing dropped without shuffling
    tags = torch.cat([b["image"][:, 0, 0, 0] for b in batches]).tolist()
    assert tags == [4, 1, 6, 3, 0]


@pytest.mark.parametrize("rows", [[0, 2, 4, 5, 6, 1], [0, 2, 4]], ids=["rows>=batch", "rows<batch"])
@pytest.mark.parametrize("num_samples, batch_size", [(12, 4), (20, 5), (8, 8)])
def test_loader_num_samples_sets_samples_per_epoch(num_samples, batch_size, rows):
    """`num_samples` fixes the epoch: num_samples / batch_size batches of batch_size, whatever the
    number of rows (small label sets repeat), as training's steps_per_epoch relies on."""
    cache = synthetic_cache()
    dataset = FrameDataset(cache, np.array(rows))
    loader = make_loader(dataset, batch_size=batch_size, shuffle=True, seed=1, num_samples=num_samples)
    for _ in range(2):  # every epoch
        batches = list(loader)
        tags = torch.cat([b["image"][:, 0, 0, 0] for b in batches]).tolist()
        assert len(tags) == num_samples
        assert [len(b["image"]) for b in batches] == [batch_size] * (num_samples // batch_size)
        assert set(tags) <= set(rows)
        for b in batches:
            tags_b = b["image"][:, 0, 0, 0].long().numpy()
            np.testing.assert_array_equal(b["points"].numpy(), cache.points[tags_b])


@pytest.mark.parametrize("shuffle", [False, True])
def test_loader_without_num_samples_batch_is_capped_by_dataset_size(shuffle):
    dataset = FrameDataset(synthetic_cache(), np.array([0, 1]))
    loader = make_loader(dataset, batch_size=8, shuffle=shuffle)
    batches = list(loader)
    assert [len(b["image"]) for b in batches] == [2]
    assert sorted(batches[0]["image"][:, 0, 0, 0].tolist()) == [0, 1]


def test_loader_shuffle_drops_last_partial_batch():
    dataset = FrameDataset(synthetic_cache(), np.arange(7))
    loader = make_loader(dataset, batch_size=3, shuffle=True)
    batches = list(loader)
    assert [len(b["image"]) for b in batches] == [3, 3]
    tags = torch.cat([b["image"][:, 0, 0, 0] for b in batches]).tolist()
    assert len(set(tags)) == 6  # without num_samples each row at most once


def test_loader_shuffle_is_seeded():
    dataset = FrameDataset(synthetic_cache(), np.arange(7))

    def order(seed):
        loader = make_loader(dataset, batch_size=7, shuffle=True, seed=seed, num_samples=7)
        return torch.cat([b["image"][:, 0, 0, 0] for b in loader]).tolist()

    assert order(3) == order(3)
    assert sorted(order(3)) != order(3) or sorted(order(4)) != order(4)
