"""The predict loop: decoder threads → uint8 batches on the device → pipeline → saved chunks.

Each decoder thread reads its own run of chunks in order (one seek at its start, none per
frame). Batches never span two chunks, so a chunk's predictions do not depend on which run
predicted it: a resumed run writes what an uninterrupted one would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import sleap_io as sio
import torch

from posenn.inference.frames import to_device_batch
from posenn.inference.pipelines import Pipeline
from posenn.inference.results import BatchPrediction
from posenn.inference.store import Chunk, PredictionStore
from posenn.io.video import DecodedBatch, decode_batches, prefetch_many


def default_decoders(device: torch.device) -> int:
    """Decoder threads: two on the CPU, up to four beside a GPU.

    On the CPU a decoder waits while the networks run, so a second one costs the networks
    nothing; when the networks are fast, one decoder on one FFmpeg thread is what holds the
    loop back (2 cores, stand-in networks, 1024×1024: 808 frames/s with one, 936 with two).
    """
    cores = os.cpu_count() or 1
    if device.type == "cpu":
        return min(2, cores)
    return max(1, min(4, cores // 4))


def ffmpeg_threads(decoders: int) -> int:
    """FFmpeg threads per decoder: the cores shared out, keeping about half for everything
    else (on 2 cores one decoder on one thread ran the predict loop faster than on two)."""
    return max(1, (os.cpu_count() or 1) // (2 * decoders))


def chunk_part(prediction: BatchPrediction) -> Chunk:
    """The kept instances of a batch, flat, as (part of) a chunk."""
    valid = prediction.valid
    n = int(valid.sum())
    identities = prediction.identities[valid] if prediction.identities is not None else np.full(n, -1)
    probabilities = prediction.class_probabilities
    return Chunk(
        frame_idx=prediction.indices.astype(np.int64),
        counts=valid.sum(axis=1).astype(np.int32),
        points=prediction.points[valid].astype(np.float32),
        point_scores=prediction.point_scores[valid].astype(np.float32),
        scores=prediction.scores[valid].astype(np.float32),
        identities=identities.astype(np.int32),
        class_probabilities=None if probabilities is None else probabilities[valid].astype(np.float32),
    )


def runs(chunks: Sequence[int], n: int) -> list[list[int]]:
    """Split chunk numbers into up to `n` runs of consecutive positions, as even as possible."""
    return [part.tolist() for part in np.array_split(np.asarray(chunks, dtype=int), max(1, min(n, len(chunks)))) if len(part)]


def predict_chunks(
    pipeline: Pipeline,
    video: sio.Video,
    chunk_indices: Sequence[Sequence[int]],
    store: PredictionStore,
    device: torch.device,
    batch_size: int,
    decoders: int,
    on_frames: Callable[[int], None],
) -> None:
    """Predict every chunk the store is missing and save each as soon as it is complete.

    Args:
        pipeline: the pipeline to run.
        video: the video to read.
        chunk_indices: the frame indices of each chunk of the job.
        store: where chunks are saved.
        device: where the networks run.
        batch_size: frames per batch.
        decoders: decoder threads, each reading its own run of chunks.
        on_frames: called with the number of frames of each batch predicted.
    """
    missing = store.missing()
    if not missing:
        return

    def source(run: list[int]) -> Iterator[tuple[int, DecodedBatch]]:
        segments = [chunk_indices[k] for k in run]
        for number, decoded in decode_batches(video, segments, pipeline.channels, batch_size, ffmpeg_threads(decoders)):
            yield run[number], decoded

    parts: dict[int, list[Chunk]] = {}
    filled: dict[int, int] = {}
    sources = [source(run) for run in runs(missing, decoders)]
    for k, decoded in prefetch_many(sources, depth=2 * len(sources) + 1):
        batch = to_device_batch(decoded.indices, decoded.frames, device, decoded.sizes)
        parts.setdefault(k, []).append(chunk_part(pipeline.predict_batch(batch)))
        filled[k] = filled.get(k, 0) + len(batch)
        if filled[k] == len(chunk_indices[k]):
            store.write(k, Chunk.concatenate(parts.pop(k)))
        on_frames(len(batch))
