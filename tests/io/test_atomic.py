"""Atomic writes: a temporary file beside the target, renamed on success, deleted on error."""

import pytest

from posenn.io.atomic import atomic_path, write_text_atomic


def test_atomic_path_renames_on_success_and_keeps_suffix(tmp_path):
    target = tmp_path / "sub" / "out.slp"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent  # same folder: the rename is atomic
        assert tmp.name.endswith(".slp") and tmp != target
        tmp.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.slp"]


def test_atomic_path_error_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_write_text_atomic_replaces_content(tmp_path):
    target = tmp_path / "a" / "b" / "c.yaml"
    write_text_atomic(target, "x: 1\n")
    write_text_atomic(target, "x: 2\n")
    assert target.read_text() == "x: 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["c.yaml"]
