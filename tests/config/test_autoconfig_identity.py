"""`posenn config` for identity models: identities from track names, clear errors otherwise."""

import numpy as np
import pytest
import sleap_io as sio

from posenn.autoconfig import config_from_labels
from posenn.data.cache import build_cache
from posenn.data.crops import instance_crops
from posenn.errors import PosennError
from posenn.io.labels import labeled_samples, load_labels
from posenn.models.model import build_head
from posenn.synth import generate


@pytest.fixture(scope="module")
def identified(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("identity"), animals=3, frames=4, size=128, seed=0, identity=True)


@pytest.mark.parametrize("model_type", ["multiclass_bottomup", "multiclass_topdown"])
def test_identities_are_the_track_names(identified, model_type):
    config = config_from_labels(identified, model_type, "user")
    assert config.model.classes == ["animal_0", "animal_1", "animal_2"]
    head = build_head(config)
    assert head.n_classes == 3
    if model_type == "multiclass_topdown":
        assert config.model.crop_size and config.model.anchor_part == "thorax"
    # The identity loss is weighted down so the part maps still learn (see autoconfig).
    assert config.train.class_weight == {"multiclass_topdown": 0.05, "multiclass_bottomup": 0.1}[model_type]


def test_labels_without_tracks_are_a_clear_error(shared_file):
    with pytest.raises(PosennError, match="no instance has a track"):
        config_from_labels(shared_file("dance.mp4.labels.slp"), "multiclass_bottomup", "predicted")


def test_tracker_fragments_are_not_identities(shared_file):
    """The fly predictions carry 27 track fragments for 2 flies (and a few stray instances)."""
    with pytest.raises(PosennError, match=r"27 tracks .* at most 5 animals in a frame"):
        config_from_labels(shared_file("centered_pair_predictions.slp"), "multiclass_topdown", "predicted")


def test_instances_without_a_track_have_no_class(identified, tmp_path):
    labels = load_labels(identified)
    labels.labeled_frames[1].instances[2].track = None
    samples = labeled_samples(labels, "user")
    assert samples[1].tracks == ["animal_0", "animal_1", None]
    cache = build_cache(samples, 1, 1.0, class_names=["animal_0", "animal_1", "animal_2"])
    np.testing.assert_array_equal(cache.classes[:2], [[0, 1, 2], [0, 1, -1]])
    crops, rows = instance_crops(cache, anchor=1, crop_size=48)
    np.testing.assert_array_equal(crops.classes[rows == 1][:, 0], [0, 1, -1])  # the centred animal first


def test_split_files_keep_the_tracks(identified, tmp_path):
    from posenn.training.run import save_split

    labels = load_labels(identified)
    samples = labeled_samples(labels, "user")
    save_split(samples, [0, 2], labels.skeleton, tmp_path / "split.slp")
    saved = sio.load_slp(str(tmp_path / "split.slp"))
    assert sorted(track.name for track in saved.tracks) == ["animal_0", "animal_1", "animal_2"]
    assert [inst.track.name for inst in saved.labeled_frames[1].instances] == ["animal_0", "animal_1", "animal_2"]
