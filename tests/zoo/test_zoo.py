"""The zoo's index, downloads and `zoo:NAME` references, on a pair served through `file://` URLs."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from posenn.cli import app
from posenn.errors import PosennError
from posenn.inference.predictor import load_model, model_files, read_model_folder
from posenn.inference.run import TrackOptions, track
from posenn.training.init_from import initialize_from
from posenn.zoo.fetch import fetch, sha256_of
from posenn.zoo.refs import model_dir, model_dirs
from posenn.zoo.registry import find_model, zoo_models


def same_files(a: Path, b: Path) -> bool:
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    return names == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file()) and all(
        (a / name).read_bytes() == (b / name).read_bytes() for name in names
    )


def test_fetch_downloads_once_into_the_cache(zoo_index, pair_source, tmp_path, entry):
    served = tmp_path / "served"
    shutil.copytree(pair_source, served)
    zoo_index([entry("pair", served)])
    folder = fetch("pair", quiet=True)
    assert folder == tmp_path / "cache" / "pair"
    assert same_files(folder, pair_source)
    shutil.rmtree(served)  # the source is gone: the cached, checked files are used
    assert fetch("pair", quiet=True) == folder
    assert not list(folder.rglob(".*tmp*"))


def test_checksum_mismatch_keeps_nothing(zoo_index, pair_source, tmp_path, entry):
    bad = entry("pair", pair_source)
    bad["files"][0]["sha256"] = "0" * 64
    zoo_index([bad])
    with pytest.raises(PosennError, match=r"sha256 [0-9a-f]{64}, expected 0{64}; it was not kept"):
        fetch("pair", quiet=True)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_missing_file_offline_says_which_file_to_put_where(zoo_index, pair_source, tmp_path, entry):
    gone = entry("pair", pair_source)
    gone["files"][1]["url"] = (tmp_path / "nowhere" / "best.ckpt").as_uri()
    zoo_index([gone])
    target = tmp_path / "cache" / "pair" / gone["files"][1]["path"]
    with pytest.raises(PosennError, match="cannot download") as error:
        fetch("pair", quiet=True)
    assert f"put it at {target} (sha256 {gone['files'][1]['sha256']})" in str(error.value)


def test_unknown_name_suggests_close_ones(zoo_index, pair_source, entry):
    zoo_index([entry("fly-pair", pair_source)])
    with pytest.raises(PosennError, match=r"zoo:fly-piar: no such model in the zoo\. Did you mean fly-pair\?"):
        find_model("fly-piar")
    with pytest.raises(PosennError, match="no part 'tail'; its parts are centroid, centered_instance"):
        model_dirs(["zoo:fly-pair/tail"])


def test_files_beside_a_local_index_are_checked_in_place(zoo_index, pair_source, tmp_path, entry):
    shutil.copytree(pair_source, tmp_path / "models" / "local")
    zoo_index([entry("local", pair_source, urls=False)])
    assert fetch("local", quiet=True) == tmp_path / "models" / "local"
    weights = tmp_path / "models" / "local" / "centroid" / "best.ckpt"
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(PosennError, match=r"centroid/best.ckpt has sha256 .* the file is damaged"):
        fetch("local", quiet=True)


def test_relative_urls_resolve_against_the_index(zoo_index, pair_source, tmp_path, entry):
    shutil.copytree(pair_source, tmp_path / "files")
    relative = entry("rel", pair_source)
    for file in relative["files"]:
        file["url"] = f"files/{file['path']}"
    zoo_index([relative])
    assert same_files(fetch("rel", quiet=True), pair_source)


def test_bad_indexes_are_named(zoo_index, pair_source, monkeypatch, entry):
    zoo_index([entry("pair", pair_source, model_type="sideways")])
    with pytest.raises(PosennError, match=r"index.json: models.0.model_type: Input should be"):
        zoo_models()
    first = zoo_index([entry("pair", pair_source)], "first.json")
    second = zoo_index([entry("pair", pair_source)], "second.json")
    monkeypatch.setenv("POSENN_ZOO_INDEX", f"{first}{os.pathsep}{second}")
    with pytest.raises(PosennError, match=r"'pair' is listed twice: in .*first.json and in .*second.json"):
        zoo_models()


def test_names_work_wherever_model_folders_do(zoo_index, pair_source, synth_clip, tmp_path, entry):
    zoo_index([entry("pair", pair_source)])
    cached = fetch("pair", quiet=True)
    assert model_dirs(["zoo:pair"]) == [cached / "centroid", cached / "centered_instance"]
    assert model_dir("zoo:pair/centroid") == cached / "centroid"
    with pytest.raises(PosennError, match="zoo:pair holds 2 models; name one of them here: zoo:pair/centroid, zoo:pair/centered_instance"):
        model_dir("zoo:pair")
    assert model_files(Path("zoo:pair/centroid")) == [cached / "centroid" / "config.yaml", cached / "centroid" / "best.ckpt"]
    assert load_model(Path("zoo:pair/centered_instance"), torch.device("cpu")).path == cached / "centered_instance"

    options = TrackOptions(quiet=True, peak_threshold=0.0, max_instances=2)
    by_name = track(synth_clip, [Path("zoo:pair")], tmp_path / "by_name.slp", options)
    by_folder = track(synth_clip, [pair_source / "centroid", pair_source / "centered_instance"], tmp_path / "by_folder.slp", options)
    assert len(by_name.labeled_frames) == len(by_folder.labeled_frames) == 12
    for a, b in zip(by_name.labeled_frames, by_folder.labeled_frames):
        np.testing.assert_array_equal(np.stack([i.numpy() for i in a.instances]), np.stack([i.numpy() for i in b.instances]))


def test_init_from_a_zoo_model_keeps_its_weights(zoo_index, pair_source, entry):
    zoo_index([entry("pair", pair_source)])
    config, model = read_model_folder(pair_source / "centered_instance")
    for parameter in model.parameters():
        torch.nn.init.zeros_(parameter)
    report = initialize_from(model, config, Path("zoo:pair/centered_instance"))
    _, source = read_model_folder(pair_source / "centered_instance")
    assert not report.fresh
    for (key, ours), theirs in zip(model.state_dict().items(), source.state_dict().values()):
        assert torch.equal(ours, theirs), key


def test_cli_lists_describes_fetches_and_exports(zoo_index, pair_source, tmp_path, monkeypatch, entry):
    zoo_index([entry("pair", pair_source)])
    runner = CliRunner()
    listing = runner.invoke(app, ["zoo", "list"])
    assert listing.exit_code == 0, listing.output
    assert "pair" in listing.output and "OKS mAP 0.5, error p50 (px) 1.25" in listing.output and "CC0" in listing.output
    card = runner.invoke(app, ["zoo", "info", "zoo:pair"])
    assert card.exit_code == 0 and "zoo:pair/centroid" in card.output and sha256_of(pair_source / "centroid" / "best.ckpt")[:16] in card.output
    fetched = runner.invoke(app, ["zoo", "fetch", "pair", "-q"])
    assert fetched.exit_code == 0 and not fetched.output
    unknown = runner.invoke(app, ["zoo", "info", "nope"])
    assert unknown.exit_code == 2 and "zoo:nope: no such model" in unknown.output
    monkeypatch.chdir(tmp_path)
    exported = runner.invoke(app, ["export", "zoo:pair/centroid", "--height", "96"])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "pair-centroid.onnx").is_file()


def test_packaged_index_is_valid_and_its_files_check_out(monkeypatch):
    monkeypatch.delenv("POSENN_ZOO_INDEX", raising=False)
    index = json.loads((Path(__file__).parents[2] / "posenn" / "zoo" / "index.json").read_text())
    models = zoo_models()
    assert sorted(models) == sorted(model["name"] for model in index["models"])
    for name, (model, _) in models.items():
        assert model.packaged and model.size <= 10_000_000, name
        folder = fetch(name, quiet=True)
        for part in model.parts:
            config, _ = read_model_folder(folder / part)
            assert config.data.skeleton.nodes == model.nodes
