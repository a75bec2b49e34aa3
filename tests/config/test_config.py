"""Typed config: dotted overrides, key suggestions, value errors, YAML round trips, label paths."""

from pathlib import Path

import pytest
import yaml

from posenn.config import (
    Config,
    apply_overrides,
    closest_key,
    load_config,
    parse_override,
    save_config,
    valid_keys,
    validate_config,
)
from posenn.errors import PosennError


def write_yaml(path: Path, raw) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


# --- overrides ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, path, expected",
    [
        ("train.epochs=3", ("train", "epochs"), 3),
        ("train.learning_rate=5e-4", ("train", "learning_rate"), 5e-4),
        ("data.scale=0.5", ("data", "scale"), 0.5),
        ("augment.flip=horizontal", ("augment", "flip"), "horizontal"),
        ("augment.scale=[0.8, 1.2]", ("augment", "scale"), (0.8, 1.2)),
        ("data.skeleton.nodes=[head, tail]", ("data", "skeleton", "nodes"), ["head", "tail"]),
        ("train.early_stopping_patience=null", ("train", "early_stopping_patience"), None),
        ("train.precision=32", ("train", "precision"), "32"),
        ("model.backbone.upsampling=transposed", ("model", "backbone", "upsampling"), "transposed"),
        ("data.channels=3", ("data", "channels"), 3),
    ],
)
def test_dotted_override_sets_nested_value_with_yaml_typing(override, path, expected):
    raw = apply_overrides({}, [override])
    config = validate_config(raw)
    value = config
    for part in path:
        value = getattr(value, part)
    assert value == expected
    # Everything else keeps its default.
    assert config.model.sigma == Config().model.sigma


def test_override_value_is_parsed_as_yaml():
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("train.learning_rate=0.5e-3")[1] == pytest.approx(5e-4)
    # YAML 1.1 reads '1e-3' as a string; validation still turns it into the float.
    assert validate_config(apply_overrides({}, ["train.learning_rate=1e-3"])).train.learning_rate == pytest.approx(1e-3)
    assert parse_override("augment.flip=none") == (["augment", "flip"], "none")
    assert parse_override("data.scale=") == (["data", "scale"], None)
    assert parse_override("data.cache_dir=a=b") == (["data", "cache_dir"], "a=b")


def test_override_keeps_existing_values_of_the_same_section():
    raw = {"train": {"epochs": 7, "batch_size": 2}}
    config = validate_config(apply_overrides(raw, ["train.batch_size=16"]))
    assert (config.train.epochs, config.train.batch_size) == (7, 16)


def test_override_without_equals_sign_is_an_error():
    with pytest.raises(PosennError, match="key=value"):
        apply_overrides({}, ["train.epochs"])


@pytest.mark.parametrize(
    "override, unknown, hint",
    [
        ("train.epoch=3", "train.epoch", "train.epochs"),
        ("model.backbone.filter=8", "model.backbone.filter", "model.backbone.filters"),
        ("train.batchsize=8", "train.batchsize", "train.batch_size"),
        ("data.scal=0.5", "data.scal", "data.scale"),
    ],
)
def test_unknown_override_names_closest_valid_key(override, unknown, hint):
    with pytest.raises(PosennError) as info:
        apply_overrides({}, [override])
    message = str(info.value)
    assert f"'{unknown}'" in message
    assert f"Did you mean '{hint}'?" in message


def test_unknown_override_without_a_close_key_gives_no_hint():
    with pytest.raises(PosennError) as info:
        apply_overrides({}, ["zzzzzz=1"])
    assert "zzzzzz" in str(info.value)
    assert "Did you mean" not in str(info.value)


def test_closest_key_and_valid_keys():
    keys = valid_keys()
    assert {"data", "data.scale", "data.skeleton", "data.skeleton.nodes", "model.backbone.filters"} <= set(keys)
    assert closest_key("train.epoch") == "train.epochs"
    assert closest_key("model.backbone.filter") == "model.backbone.filters"
    # A right leaf in the wrong section points to the section that has it.
    assert closest_key("model.epochs") == "train.epochs"
    assert closest_key("qqqqqqqq") is None


def test_unknown_key_in_yaml_names_file_key_and_hint(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"train": {"epoch": 3}, "model": {"backbone": {"filter": 8}}})
    with pytest.raises(PosennError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "unknown key 'train.epoch'" in message and "Did you mean 'train.epochs'?" in message
    assert "unknown key 'model.backbone.filter'" in message and "Did you mean 'model.backbone.filters'?" in message


@pytest.mark.parametrize(
    "raw, key, value",
    [
        ({"train": {"epochs": "abc"}}, "train.epochs", "'abc'"),
        ({"augment": {"flip": "diagonal"}}, "augment.flip", "'diagonal'"),
        ({"data": {"channels": 2}}, "data.channels", "2"),
        ({"data": {"scale": -1}}, "data.scale", "-1"),
        ({"train": {"optimizer": "sgd"}}, "train.optimizer", "'sgd'"),
        ({"model": {"type": "topdown"}}, "model.type", "'topdown'"),
    ],
)
def test_wrong_type_or_literal_names_key_and_value(raw, key, value):
    with pytest.raises(PosennError) as info:
        validate_config(raw, source="my.yaml")
    message = str(info.value)
    assert message.startswith("my.yaml: ")
    assert f"'{key}' = {value}" in message


def test_wrong_value_given_as_override_names_key_and_value(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {})
    with pytest.raises(PosennError) as info:
        load_config(path, ["augment.flip=sideways"])
    assert "'augment.flip' = 'sideways'" in str(info.value)
    assert "horizontal" in str(info.value)  # what is allowed


def test_assignment_is_validated():
    config = Config()
    with pytest.raises(ValueError):
        config.train.epochs = 0


# --- files -------------------------------------------------------------------------------------


def test_save_then_load_round_trip_equals(tmp_path):
    labels = tmp_path / "run" / "labels" / "train.slp"
    config = validate_config(
        apply_overrides(
            {},
            [
                f"data.train_labels={labels}",
                "data.scale=0.5",
                "data.skeleton.nodes=[a, b, c]",
                "data.skeleton.edges=[[a, b], [b, c]]",
                "data.skeleton.symmetries=[[a, c]]",
                "augment.scale=[0.7, 1.3]",
                "augment.flip=both",
                "augment.flip_pairs=[[a, c]]",
                "train.epochs=12",
                "train.devices=auto",
                "model.backbone.max_stride=32",
            ],
        )
    )
    path = tmp_path / "run" / "config.yaml"
    save_config(config, path)
    loaded = load_config(path)
    assert loaded == config
    assert loaded.data.skeleton.edges == [("a", "b"), ("b", "c")]
    # Label paths are stored relative to the config's folder.
    stored = yaml.safe_load(path.read_text())
    assert stored["data"]["train_labels"] == "labels/train.slp"
    assert stored["data"]["val_labels"] is None
    # No temporary files left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.yaml"]


def test_round_trip_with_labels_outside_the_config_folder(tmp_path):
    """Label paths stored as '../data/x.slp' must load back as the same (normalised) path."""
    labels = tmp_path / "data" / "labels.slp"
    config = validate_config({"data": {"train_labels": str(labels), "val_labels": str(tmp_path / "data" / "val.slp")}})
    path = tmp_path / "configs" / "config.yaml"
    save_config(config, path)
    loaded = load_config(path)
    assert loaded.data.train_labels.resolve() == labels.resolve()
    assert loaded == config


def test_default_config_round_trip(tmp_path):
    save_config(Config(), tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == Config()


def test_relative_label_paths_resolve_against_yaml_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    write_yaml(folder / "c.yaml", {"data": {"train_labels": "labels/train.slp", "val_labels": "val.slp"}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "project" / "c.yaml")
    assert config.data.train_labels == folder.resolve() / "labels" / "train.slp"
    assert config.data.val_labels == folder.resolve() / "val.slp"
    assert config.data.train_labels.is_absolute()


def test_absolute_label_path_is_kept(tmp_path):
    absolute = tmp_path / "somewhere" / "train.slp"
    path = write_yaml(tmp_path / "c.yaml", {"data": {"train_labels": str(absolute)}})
    assert load_config(path).data.train_labels == absolute


def test_relative_label_path_given_as_override_is_relative_to_working_dir(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    path = write_yaml(tmp_path / "cfg" / "c.yaml", {})
    monkeypatch.chdir(tmp_path)
    config = load_config(path, ["data.train_labels=labels.slp"])
    assert config.data.train_labels == Path("labels.slp")


def test_yaml_values_and_overrides_combine(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"train": {"epochs": 5, "batch_size": 2}, "data": {"scale": 0.25}})
    config = load_config(path, ["train.epochs=9"])
    assert (config.train.epochs, config.train.batch_size, config.data.scale) == (9, 2, 0.25)


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == Config()


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: {epochs: 3\n  : :\n")
    with pytest.raises(PosennError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "YAML" in str(info.value)


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("42\n", "int"), ("just text\n", "str")])
def test_non_mapping_yaml_names_the_file_and_type(tmp_path, text, kind):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(PosennError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert kind in str(info.value)


def test_missing_config_file_names_the_file(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(PosennError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


def test_empty_section_means_defaults(tmp_path):
    """A section whose keys are all commented out (`train:` alone, YAML null) takes the defaults,
    in the file and when an override later sets one of its keys."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  # epochs: 3\ndata:\n  scale: 0.5\n")
    config = load_config(path)
    assert config.train == Config().train
    assert config.data.scale == 0.5
    assert load_config(path, ["train.epochs=3"]).train.epochs == 3


def test_with_overrides_copies_and_validates():
    from posenn.config import Config, with_overrides

    config = Config()
    config.data.skeleton.nodes = ["a", "b"]
    changed = with_overrides(config, ["augment.rotation=180", "train.run_dir=/tmp/run", "train.early_stopping_patience=null"])
    assert changed.augment.rotation == 180.0 and str(changed.train.run_dir) == "/tmp/run"
    assert changed.train.early_stopping_patience is None
    assert changed.data.skeleton.nodes == ["a", "b"] and config.augment.rotation == 15.0
    with pytest.raises(PosennError, match="Did you mean 'train.epochs'"):
        with_overrides(config, ["train.epoch=3"])
