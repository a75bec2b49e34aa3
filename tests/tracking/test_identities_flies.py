"""Identities pooled along tracklets on the two real flies (named by size, posenn.tracking.naming),
with class probabilities as weak and biased as those of a multi-class top-down model after 800
steps (benchmarks/identity.py --sets flies: a female read 0.52 ± 0.08 "female", a male 0.31 ± 0.07,
and on a stretch of frames both flies read below 0.5). No training: this checks that the tracker's
tracklets on real fly motion and the pooled evidence name the flies where single frames cannot."""

import numpy as np

from posenn.heads.identity import assign_identities
from posenn.io.labels import load_labels
from posenn.tracking import FrameInstances
from posenn.tracking.identities import pooled_identities
from posenn.tracking.naming import name_tracks_by_length

NAMES = ["female", "male"]
FRAMES = [*range(100, 200), *range(300, 400)]  # two test blocks of the benchmark's split


def test_pooled_names_are_right_where_frames_are_weak_and_biased(shared_file):
    labels, _ = name_tracks_by_length(load_labels(shared_file("centered_pair_predictions.slp")), NAMES, front="head", back="abdomen")
    by_frame = {lf.frame_idx: lf for lf in labels.labeled_frames}
    generator = np.random.default_rng(0)
    frames, truth, female = [], [], []
    for frame_idx in FRAMES:
        instances = by_frame[frame_idx].instances
        frames.append(FrameInstances(frame_idx, np.stack([i.numpy() for i in instances]), np.ones(len(instances))))
        for instance in instances:
            truth.append(NAMES.index(instance.track.name))
            mean = 0.45 if instance.track.name == "female" else 0.35
            female.append(mean - (0.15 if 130 <= frame_idx < 180 else 0.0) + 0.1 * generator.standard_normal())
    truth = np.array(truth)
    probabilities = np.clip(np.array(female), 0.01, 0.99)[:, None] * [1, -1] + [0, 1]  # (detections, 2)

    counts = [len(frame.points) for frame in frames]
    per_frame = np.concatenate([assign_identities(rows) for rows in np.split(probabilities, np.cumsum(counts)[:-1])])
    assert (per_frame == truth).mean() < 0.85
    pooled = pooled_identities(iter(frames), probabilities)
    assert (pooled == truth).mean() >= 0.97, (pooled == truth).mean()
