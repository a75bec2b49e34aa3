"""Rows of docs/reliability.md that no other test file checks: bad labels, unusual paths, and
outputs that cannot be written (disk full, read-only folder, a folder as the output path)."""

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio

from posenn.autoconfig import config_from_labels
from posenn.config import load_config, save_config
from posenn.errors import PosennError
from posenn.inference.predictor import read_model_folder
from posenn.io.labels import labeled_samples, load_labels
from posenn.io.slp_writer import write_predictions
from posenn.io.writers import save_labels
from posenn.synth import generate


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("reliability"), animals=2, frames=4, size=64, seed=0)


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("train:\n  epochs: 3\n  batch_size: [4\nmodel:\n  sigma: 2\n")
    with pytest.raises(PosennError, match=r"(?s)cfg\.yaml: not valid YAML.*line 3, column 15"):
        load_config(path)


def test_points_nan_empty_frames_and_one_point_instances_load(synth):
    labels = load_labels(synth)
    first, second = labels.labeled_frames[:2]
    points = first.instances[0].numpy()
    points[1:] = np.nan  # an instance with one labeled point
    first.instances[0] = sio.Instance.from_numpy(points, skeleton=labels.skeleton)
    second.instances = []  # an empty frame
    samples = labeled_samples(labels, "user", synth)
    assert len(samples) == len(labels) - 1
    assert np.isnan(samples[0].points[0, 1:]).all() and np.isfinite(samples[0].points[0, 0]).all()


def test_infinite_points_name_the_frame_and_node(synth):
    labels = load_labels(synth)
    frame = labels.labeled_frames[2]
    points = frame.instances[1].numpy()
    points[3, 0] = np.inf
    frame.instances[1] = sio.Instance.from_numpy(points, skeleton=labels.skeleton)
    node = labels.skeleton.node_names[3]
    with pytest.raises(PosennError, match=rf"synth\.slp: frame {frame.frame_idx} .*instance 1: node '{node}'.*finite"):
        labeled_samples(labels, "user", synth)


def test_paths_with_spaces_and_non_ascii_characters(synth, tmp_path):
    folder = tmp_path / "my data" / "séance ñ 実験"
    shutil.copytree(synth.parent, folder)
    config = config_from_labels(folder / synth.name, "single_instance", "user")
    save_config(config, folder / "config ü.yaml")
    loaded = load_config(folder / "config ü.yaml")
    assert Path(loaded.data.train_labels) == folder / synth.name
    labels = load_labels(loaded.data.train_labels)
    assert Path(labels.video.filename).parent == folder and labels.video[0].shape == (64, 64, 1)
    save_labels(labels, folder / "copie é.slp")
    assert len(load_labels(folder / "copie é.slp")) == len(labels)


def test_a_full_disk_while_writing_predictions_keeps_the_previous_file(synth, tmp_path):
    labels = load_labels(synth)
    output = tmp_path / "predictions.slp"
    save_labels(labels, output)
    before = output.read_bytes()

    def blocks_on_a_full_disk():
        """The predicted blocks, where writing the first one finds the disk full."""
        raise OSError(errno.ENOSPC, "No space left on device")
        yield

    with pytest.raises(PosennError, match=r"predictions\.slp: No space left on device\. The earlier file there is unchanged"):
        write_predictions(output, labels.videos, labels.skeleton, [], {}, blocks_on_a_full_disk())
    assert output.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.slp"]


def test_a_read_only_output_folder_is_a_clear_error(synth, tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)  # as root, chmod would not stop the write
    with pytest.raises(PosennError, match=r"Cannot write .*out\.slp: Read-only file system\. Nothing was written"):
        save_labels(load_labels(synth), tmp_path / "out.slp")


def test_an_output_path_that_is_a_folder_is_a_clear_error(synth, tmp_path):
    (tmp_path / "out.slp").mkdir()
    with pytest.raises(PosennError, match=r"out\.slp: it is a folder"):
        save_labels(load_labels(synth), tmp_path / "out.slp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.slp"]


def test_a_corrupt_checkpoint_names_the_file(synth, tmp_path):
    save_config(config_from_labels(synth, "single_instance", "user"), tmp_path / "config.yaml")
    (tmp_path / "best.ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(PosennError, match=r"best\.ckpt: cannot be read as a posenn checkpoint"):
        read_model_folder(tmp_path)
