"""Predictions saved in chunks: round trips, whole files only, other jobs' chunks never mixed in."""

import numpy as np
import pytest

from posenn.errors import PosennError
from posenn.inference.store import Chunk, PredictionStore, chunk_spans


def chunk(frames: list[int], counts: list[int], nodes: int = 3, seed: int = 0) -> Chunk:
    rng = np.random.default_rng(seed)
    n = sum(counts)
    return Chunk(
        np.array(frames, np.int64), np.array(counts, np.int32), rng.uniform(0, 99, (n, nodes, 2)).astype(np.float32),
        rng.uniform(0, 1, (n, nodes)).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32), np.arange(n, dtype=np.int32) - 1,
    )


def test_chunk_spans_cover_the_frames_once():
    spans = chunk_spans(10, 4)
    assert [(s.start, s.stop) for s in spans] == [(0, 4), (4, 8), (8, 10)]
    assert chunk_spans(0, 4) == []


def test_chunks_round_trip_and_missing_ones_are_listed(tmp_path):
    store = PredictionStore(tmp_path / "parts", {"job": 1}, n_chunks=3)
    assert store.missing() == [0, 1, 2]
    written = chunk([10, 11, 12], [2, 0, 1])
    store.write(1, written)
    assert store.missing() == [0, 2]
    read = store.read(1)
    for name in ("frame_idx", "counts", "points", "point_scores", "scores", "identities"):
        np.testing.assert_array_equal(getattr(read, name), getattr(written, name))
    assert read.frame_rows().tolist() == [0, 0, 2]
    assert not list((tmp_path / "parts").glob(".*tmp*"))  # no temporary file left behind


def test_same_job_keeps_its_chunks_and_another_job_starts_over(tmp_path):
    PredictionStore(tmp_path / "parts", {"job": 1}, 2).write(0, chunk([0], [1]))
    assert PredictionStore(tmp_path / "parts", {"job": 1}, 2).missing() == [1]
    assert PredictionStore(tmp_path / "parts", {"job": 2}, 2).missing() == [0, 1]


def test_concatenated_parts_keep_their_order():
    whole = Chunk.concatenate([chunk([0, 1], [1, 2], seed=1), chunk([2], [1], seed=2)])
    assert whole.frame_idx.tolist() == [0, 1, 2] and whole.counts.tolist() == [1, 2, 1]
    assert whole.points.shape == (4, 3, 2)


def test_an_unreadable_chunk_is_an_error_and_is_removed(tmp_path):
    store = PredictionStore(tmp_path / "parts", {"job": 1}, 1)
    store.path(0).write_bytes(b"not a chunk")
    with pytest.raises(PosennError, match="unreadable saved predictions"):
        store.read(0)
    assert store.missing() == [0]


def test_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PosennError, match="cannot write predictions"):
        PredictionStore(blocker / "parts", {"job": 1}, 1)
