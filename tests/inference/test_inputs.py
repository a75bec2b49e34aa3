"""Which inputs `posenn track` takes, which a shard takes, and where their outputs go."""

from pathlib import Path

import pytest

from posenn.errors import PosennError
from posenn.inference.inputs import expand_inputs, outputs_for, parse_shard, shard


@pytest.fixture
def videos(tmp_path) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("b.mp4", "a.avi", "notes.md", "c.MOV"):
        (folder / name).write_bytes(b"")
    return folder


def test_folders_globs_lists_and_files_expand_in_order(videos, tmp_path):
    assert [p.name for p in expand_inputs([videos])] == ["a.avi", "b.mp4", "c.MOV"]
    assert [p.name for p in expand_inputs([str(videos / "*.mp4")])] == ["b.mp4"]
    listing = tmp_path / "list.txt"
    listing.write_text("# sessions\nvideos/b.mp4\n\nvideos/a.avi\n")
    assert [p.name for p in expand_inputs([listing])] == ["b.mp4", "a.avi"]
    # duplicates are dropped, the first place kept
    assert [p.name for p in expand_inputs([videos / "c.MOV", videos])] == ["c.MOV", "a.avi", "b.mp4"]


@pytest.mark.parametrize("argument, message", [("missing.mp4", "Input not found"), ("*.nothing", "no video or .slp file matches")])
def test_arguments_that_match_nothing_are_errors(tmp_path, argument, message):
    with pytest.raises(PosennError, match=message):
        expand_inputs([str(tmp_path / argument)])


def test_listed_inputs_that_are_missing_are_named(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("gone.mp4\n")
    with pytest.raises(PosennError, match="gone.mp4"):
        expand_inputs([listing])


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(PosennError, match="holds no videos"):
        expand_inputs([tmp_path])


def test_shards_split_the_inputs_without_overlap():
    inputs = [Path(f"{i}.mp4") for i in range(7)]
    parts = [shard(inputs, f"{k}/3") for k in range(3)]
    assert parts[0] == [Path("0.mp4"), Path("3.mp4"), Path("6.mp4")]
    assert sorted(sum(parts, [])) == sorted(inputs)
    assert shard(inputs, None) == inputs


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b", "0/0"])
def test_bad_shards_are_refused(text):
    with pytest.raises(PosennError, match="--shard"):
        parse_shard(text)


def test_outputs_beside_inputs_in_a_folder_or_as_named(tmp_path):
    inputs = [tmp_path / "x" / "a.mp4", tmp_path / "y" / "b.mp4"]
    assert outputs_for(inputs, None) == [tmp_path / "x" / "a.mp4.predictions.slp", tmp_path / "y" / "b.mp4.predictions.slp"]
    assert outputs_for(inputs, tmp_path / "out") == [tmp_path / "out" / "a.mp4.predictions.slp", tmp_path / "out" / "b.mp4.predictions.slp"]
    assert outputs_for(inputs[:1], tmp_path / "one.slp") == [tmp_path / "one.slp"]


def test_two_inputs_with_one_output_name_are_refused(tmp_path):
    with pytest.raises(PosennError, match="would both write"):
        outputs_for([tmp_path / "x" / "a.mp4", tmp_path / "y" / "a.mp4"], tmp_path / "out")


def test_a_file_as_the_folder_of_several_outputs_is_refused(tmp_path):
    (tmp_path / "out.slp").write_text("")
    with pytest.raises(PosennError, match="must be a folder"):
        outputs_for([tmp_path / "a.mp4", tmp_path / "b.mp4"], tmp_path / "out.slp")
