"""Imperfect detections made from exact labels: what a tracker gets from a real model."""

from __future__ import annotations

import numpy as np
import sleap_io as sio


def noisy_detections(
    truth: sio.Labels, noise: float = 1.5, drop_rate: float = 0.03, gap: tuple[int, int] | None = (100, 120), seed: int = 0
) -> sio.Labels:
    """Untracked `PredictedInstance`s: ground truth plus noise, in shuffled order, with dropouts.

    Args:
        truth: labels with one instance per animal per frame.
        noise: standard deviation of the Gaussian noise added to every coordinate, in pixels.
        drop_rate: probability that a detection is missing in a frame.
        gap: frames `[start, stop)` in which the first animal is not detected at all.
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    n_nodes = len(truth.skeleton.nodes)
    frames = []
    for lf in truth.labeled_frames:
        instances = []
        for index, instance in enumerate(lf.instances):
            in_gap = gap is not None and index == 0 and gap[0] <= lf.frame_idx < gap[1]
            if in_gap or rng.random() < drop_rate:
                continue
            points = instance.numpy() + rng.normal(0, noise, size=(n_nodes, 2))
            instances.append(
                sio.PredictedInstance.from_numpy(points, skeleton=truth.skeleton, point_scores=np.full(n_nodes, 0.9), score=0.9)
            )
        rng.shuffle(instances)
        frames.append(sio.LabeledFrame(video=lf.video, frame_idx=lf.frame_idx, instances=instances))
    return sio.Labels(labeled_frames=frames, videos=truth.videos, skeletons=truth.skeletons)
