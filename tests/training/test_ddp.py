"""DDP training on the CPU: two processes (gloo), validation figures gathered from both.

The end-to-end tests train a tiny model for 3 × 8 steps on 25 synthetic frames (20 for training,
5 for validation: an odd count, so that the DistributedSampler pads rank 1's share with a repeat
of sample 0). `train()` spawns the two processes itself; torchrun starts them from outside.
"""

import csv
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio
import torch
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler
from torch.utils.data import DistributedSampler

import posenn.training.run as run
from posenn.autoconfig import config_from_labels
from posenn.config import Config, save_config, with_overrides
from posenn.data.cache import FrameCache
from posenn.data.dataset import FrameDataset, SeededRandomSampler, SharedDraws, make_loader
from posenn.errors import PosennError
from posenn.inference.predictor import load_model
from posenn.synth import generate
from posenn.training.module import PoseModule
from posenn.training.validation import ValidationFrame, gather_frames, merge_frames, validation_metrics

pytestmark = pytest.mark.usefixtures("torch_single_thread")

N_VAL = 5
TINY = [
    "train.devices=2", "train.device=cpu", "train.epochs=3", "train.steps_per_epoch=8", "train.batch_size=2",
    "train.early_stopping_patience=null", "train.scheduler=none", "model.backbone.filters=4", "data.val_fraction=0.2",
]


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("ddp_synth"), animals=1, frames=25, size=64, seed=0)


def tiny_config(labels: Path, run_dir: Path, *extra: str) -> Config:
    return with_overrides(config_from_labels(labels, "single_instance", "user"), TINY + [f"train.run_dir={run_dir}", *extra])


def check_model_folder(folder: Path) -> None:
    """Two processes trained and validated; rank 0 alone wrote a complete, loadable folder."""
    assert len(sio.load_slp(str(folder / "labels_val.slp"))) == N_VAL

    with (folder / "training_log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [8, 16, 24]  # steps_per_epoch holds in each process
    losses = [float(row["train_loss"]) for row in rows]
    assert losses[-1] < 0.8 * losses[0]

    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["n_frames"] == N_VAL and metrics["n_gt_instances"] == N_VAL  # every validation frame, once

    best = torch.load(folder / "best.ckpt", map_location="cpu", weights_only=False)
    record = best["posenn_validation"]  # how the in-training figures of the best epoch were made
    assert record["world_size"] == 2 and record["ranks"] == [0, 1]
    assert record["n_frames"] == N_VAL and record["n_gt_instances"] == N_VAL  # padding repeat dropped

    loaded = load_model(folder, torch.device("cpu"))  # the folder as `posenn track` reads it
    trained = PoseModule.load_from_checkpoint(folder / "best.ckpt", map_location="cpu").model.eval()
    images = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        expected, maps = trained(images), loaded.model(images)
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_two_cpu_processes_from_python(labels, tmp_path, monkeypatch):
    """`train()` called from Python (here pytest) spawns the processes; the disk cache is shared by
    file name."""
    for name in ("MASTER_PORT", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID"):  # Lightning sets MASTER_PORT here;
        monkeypatch.delenv(name, raising=False)  # under SLURM or torchrun, train() would not spawn
    config = tiny_config(labels, tmp_path / "run", "data.cache=disk", f"data.cache_dir={tmp_path / 'cache'}")
    folder = run.train(config, quiet=True)
    check_model_folder(folder)


def test_two_cpu_processes_from_torchrun(labels, tmp_path):
    """torchrun starts both processes; each runs `train()`, Lightning starts nothing more, and only
    rank 0 writes the folder."""
    save_config(tiny_config(labels, tmp_path / "run"), tmp_path / "cfg.yaml")
    script = tmp_path / "train_script.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from posenn.config import load_config
        from posenn.training.run import train

        if __name__ == "__main__":
            train(load_config({str(tmp_path / 'cfg.yaml')!r}), quiet=True)
            print("rank", os.environ["RANK"], "returned", flush=True)
    """))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rank 0 returned" in result.stdout and "rank 1 returned" in result.stdout
    check_model_folder(tmp_path / "run")


def fake_frames(n: int, seed: int = 0) -> list[ValidationFrame]:
    """Validation frames with one animal of 3 nodes, predictions near the truth."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(n):
        truth = rng.uniform(10, 50, (1, 3, 2))
        predicted = truth + rng.normal(0, 1 + index, truth.shape)
        frames.append(ValidationFrame(index, truth, predicted, np.array([0.9]), np.array([400.0])))
    return frames


def test_gathering_drops_the_distributed_samplers_padding():
    """Each frame counts once: the figures of the gathered shards are those of one process."""
    frames = fake_frames(N_VAL)
    shards = [[frames[i] for i in DistributedSampler(range(N_VAL), num_replicas=2, rank=rank, shuffle=False)]
              for rank in range(2)]
    assert sum(map(len, shards)) == N_VAL + 1  # rank 1 repeats sample 0
    gathered, ranks = gather_frames(shards[0], gather=lambda mine: shards)
    assert ranks == [0, 1]
    assert [frame.index for frame in gathered] == list(range(N_VAL))
    nodes = ["a", "b", "c"]
    expected = validation_metrics(frames, nodes, scale=0.5)
    metrics = validation_metrics(gathered, nodes, scale=0.5)
    assert metrics["n_frames"] == N_VAL and metrics["n_gt_instances"] == N_VAL
    assert metrics["dist_p50"] == expected["dist_p50"] and metrics["oks_map"] == expected["oks_map"]
    assert validation_metrics(shards[0] + shards[1], nodes, scale=0.5)["n_frames"] == N_VAL + 1  # without merging


def test_gathering_without_a_process_group_keeps_this_process_frames():
    frames = fake_frames(3)[::-1]
    gathered, ranks = gather_frames(frames)
    assert ranks == [0] and [frame.index for frame in gathered] == [0, 1, 2]
    assert merge_frames([[], []]) == []


def test_disk_cache_pickles_by_file_name(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 1), dtype=np.uint8)
    np.save(tmp_path / "frames.npy", images)
    cache = FrameCache(np.load(tmp_path / "frames.npy", mmap_mode="r"), np.zeros((4, 1, 3, 2), np.float32), 1.0)
    data = pickle.dumps(cache)
    assert len(data) < 2000 < images.nbytes
    copy = pickle.loads(data)
    assert isinstance(copy.images, np.memmap) and Path(copy.images.filename) == tmp_path / "frames.npy"
    np.testing.assert_array_equal(copy.images, images)
    view = FrameCache(cache.images[::-1], cache.points, 1.0)  # a view is pickled by value
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view)).images, images[::-1])


def test_sampler_pickles_its_generator_as_bytes():
    sampler = SeededRandomSampler(range(10), num_samples=6, generator=torch.Generator().manual_seed(3))
    copy = pickle.loads(pickle.dumps(sampler))
    assert list(copy) == list(sampler)


def test_steps_per_epoch_hold_in_every_process():
    """With `num_samples`, each of the N processes gets num_samples disjoint draws per epoch (Lightning
    wraps the sampler instead of replacing it by a DistributedSampler over the dataset)."""
    cache = FrameCache(np.zeros((7, 4, 4, 1), np.uint8), np.zeros((7, 1, 2, 2), np.float32), 1.0)
    loader = make_loader(FrameDataset(cache, np.arange(7)), batch_size=2, shuffle=True, num_samples=12, processes=2)
    assert isinstance(loader.sampler, SharedDraws) and len(loader.sampler) == 24
    # What Lightning puts in each process's loader (use_distributed_sampler=True):
    shares = [list(_get_distributed_sampler(loader, shuffle=True, overfit_batches=0, num_replicas=2, rank=rank))
              for rank in range(2)]
    assert [len(share) for share in shares] == [12, 12]
    assert loader.batch_size == 2 and loader.drop_last
    # Without num_samples each process gets half the dataset; the batch fits in that half.
    loader = make_loader(FrameDataset(cache, np.arange(3)), batch_size=4, shuffle=True, processes=2)
    assert loader.batch_size == 2 and not loader.drop_last


def test_strategy_choice(labels, monkeypatch, tmp_path):
    config = tiny_config(labels, tmp_path)
    monkeypatch.setattr(run, "launched_externally", lambda: False)
    strategy = run.ddp_strategy(config)
    assert isinstance(strategy, DDPStrategy)
    assert strategy.process_group_backend == "gloo" and strategy._start_method == "spawn"
    assert run.ddp_strategy(with_overrides(config, ["train.devices=1"])) == "auto"
    with pytest.raises(PosennError, match="num_nodes=2 needs every process started by a cluster launcher"):
        run.ddp_strategy(with_overrides(config, ["train.num_nodes=2"]))
    monkeypatch.undo()
    monkeypatch.setenv("SLURM_JOB_NAME", "posenn")
    for nodes in (1, 2):  # srun started the processes: Lightning starts nothing
        monkeypatch.setenv("SLURM_NTASKS", str(2 * nodes))
        strategy = run.ddp_strategy(with_overrides(config, [f"train.num_nodes={nodes}"]))
        assert strategy._start_method == "popen" and strategy.process_group_backend == "gloo"
    monkeypatch.setenv("SLURM_NTASKS", "1")  # sbatch without srun or --ntasks-per-node: one process only
    with pytest.raises(PosennError, match="SLURM runs 1 task"):
        run.ddp_strategy(config)


def test_spawning_needs_a_main_guard(monkeypatch, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("from posenn.training.run import train\ntrain(config)\n")
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(script), raising=False)
    with pytest.raises(PosennError, match="__name__ == .__main__."):
        run.check_main_guard()
    script.write_text("from posenn.training.run import train\nif __name__ == '__main__':\n    train(config)\n")
    run.check_main_guard()


@pytest.mark.parametrize("value, message", [(0, "1 or more devices"), ("two", "'auto'")])
def test_devices_must_be_positive_or_auto(labels, value, message):
    with pytest.raises(PosennError, match=message):
        with_overrides(config_from_labels(labels, "single_instance", "user"), [f"train.devices={value}"])
    with pytest.raises(PosennError, match="num_nodes"):
        with_overrides(config_from_labels(labels, "single_instance", "user"), ["train.num_nodes=0"])
