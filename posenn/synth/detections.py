"""Imperfect detections made from exact labels: what a tracker gets from a real model.

`noisy_detections` turns labels with one instance per animal per frame into untracked, noisy,
shuffled detections with random drop-outs and stretches in which one animal is not detected.
`HARD_CASE` holds the settings of the tracking test bed (4 px noise, 10% drops, 30 gaps of 20
frames), and `identities_by_proximity` gives a real sample without clean tracks (the fly
predictions) the identities to score a tracker against.
"""

from __future__ import annotations

import numpy as np
import sleap_io as sio

from posenn.errors import PosennError

# The hard case of the tracking test bed: 4 px noise per coordinate, 10% of the detections
# dropped at random, and 30 stretches of 20 frames in which one animal is not detected.
HARD_CASE = {"noise": 4.0, "drop_rate": 0.1, "gap": None, "gaps": 30, "gap_length": 20}


def gap_mask(frames: int, animals: int, gaps: int, gap_length: int, rng: np.random.Generator) -> np.ndarray:
    """Where animals are hidden: `gaps` stretches of `gap_length` frames, one animal each.

    The stretches never overlap in time (so at most one animal is hidden at once) and are spread
    at random over the video: the free frames are cut into `gaps + 1` random spacings.

    Args:
        frames: number of frames.
        animals: number of animals.
        gaps: number of stretches.
        gap_length: frames per stretch.
        rng: random generator.

    Returns:
        `(frames, animals)` bool, True where the animal is hidden.

    Raises:
        PosennError: if the stretches do not fit in the video.
    """
    hidden = np.zeros((frames, animals), dtype=bool)
    free = frames - gaps * gap_length
    if gaps and (free < 0 or gap_length < 1):
        raise PosennError(f"detections: {gaps} gaps of {gap_length} frames do not fit in {frames} frames")
    if not gaps or not animals:
        return hidden
    spacings = rng.multinomial(free, np.full(gaps + 1, 1.0 / (gaps + 1)))[:-1]
    starts = np.cumsum(spacings) + gap_length * np.arange(gaps)
    for start, animal in zip(starts.tolist(), rng.integers(0, animals, gaps).tolist()):
        hidden[start : start + gap_length, animal] = True
    return hidden


def noisy_detections(
    truth: sio.Labels,
    noise: float = 1.5,
    drop_rate: float = 0.03,
    gap: tuple[int, int] | None = (100, 120),
    seed: int = 0,
    gaps: int = 0,
    gap_length: int = 20,
) -> sio.Labels:
    """Untracked `PredictedInstance`s: ground truth plus noise, in shuffled order, with dropouts.

    Parts marked not visible keep their labeled position (a pose model places every part), so
    a part under another animal is detected where it is.

    Animal k is the instance on the k-th track of `truth` (the k-th instance of the frame when
    it has no track); frames are taken in the order of `truth.labeled_frames`.

    Args:
        truth: labels with one instance per animal per frame.
        noise: standard deviation of the Gaussian noise added to every coordinate, in pixels.
        drop_rate: probability that a detection is missing in a frame.
        gap: frames `[start, stop)` in which the first animal is not detected at all.
        seed: random seed.
        gaps: number of further stretches of `gap_length` frames in which one animal, drawn at
            random, is not detected (see `gap_mask`); they count frames by position in
            `truth.labeled_frames`.
        gap_length: frames per stretch.

    Raises:
        PosennError: if the gaps do not fit in the video.
    """
    rng = np.random.default_rng(seed)
    n_nodes = len(truth.skeleton.nodes)
    animals = max([len(truth.tracks)] + [len(lf.instances) for lf in truth.labeled_frames])
    hidden = gap_mask(len(truth.labeled_frames), animals, gaps, gap_length, rng)
    frames = []
    for position, lf in enumerate(truth.labeled_frames):
        instances = []
        for index, instance in enumerate(lf.instances):
            animal = truth.tracks.index(instance.track) if instance.track in truth.tracks else index
            in_gap = hidden[position, animal] or (gap is not None and index == 0 and gap[0] <= lf.frame_idx < gap[1])
            if in_gap or rng.random() < drop_rate:
                continue
            points = instance.numpy(invisible_as_nan=False) + rng.normal(0, noise, size=(n_nodes, 2))
            instances.append(
                sio.PredictedInstance.from_numpy(points, skeleton=truth.skeleton, point_scores=np.full(n_nodes, 0.9), score=0.9)
            )
        rng.shuffle(instances)
        frames.append(sio.LabeledFrame(video=lf.video, frame_idx=lf.frame_idx, instances=instances))
    return sio.Labels(labeled_frames=frames, videos=truth.videos, skeletons=truth.skeletons)


def identities_by_proximity(predictions: sio.Labels, animals: int) -> tuple[sio.Labels, np.ndarray]:
    """Ground truth with `animals` tracks from predictions of a clip where they are always seen.

    In each frame the `animals` best-scoring predicted instances are the animals (the rest are
    spurious); consecutive frames are linked by the assignment with the least total mean point
    distance. This is right only where the animals never come close enough for that assignment
    to be in doubt, which the returned margins show.

    Args:
        predictions: one video's predicted instances, at least `animals` in every frame.
        animals: number of animals.

    Returns:
        Labels of user instances, `animals` per frame in track order, on tracks `animal_0`, ...,
        and the `(frames - 1,)` margins of the links between consecutive frames: how much the
        next-best assignment adds to the total mean point distance, in pixels.

    Raises:
        PosennError: if a frame has fewer than `animals` predicted instances.
    """
    from itertools import permutations

    tracks = [sio.Track(name=f"animal_{k}") for k in range(animals)]
    frames, margins, previous = [], [], None
    for lf in sorted(predictions.labeled_frames, key=lambda frame: frame.frame_idx):
        predicted = sorted(lf.predicted_instances, key=lambda inst: -inst.score)[:animals]
        if len(predicted) < animals:
            raise PosennError(f"identities: frame {lf.frame_idx} has {len(predicted)} predicted instances, need {animals}")
        points = np.array([inst.numpy() for inst in predicted], dtype=float)  # (animals, nodes, 2)
        if previous is not None:
            costs = sorted(
                (float(np.nansum(np.nanmean(np.linalg.norm(points[list(order)] - previous, axis=-1), axis=-1))), order)
                for order in permutations(range(animals))
            )
            points = points[list(costs[0][1])]
            margins.append(costs[1][0] - costs[0][0] if len(costs) > 1 else np.inf)
        previous = points
        instances = [sio.Instance.from_numpy(p, skeleton=predictions.skeleton, track=t) for p, t in zip(points, tracks)]
        frames.append(sio.LabeledFrame(video=lf.video, frame_idx=lf.frame_idx, instances=instances))
    truth = sio.Labels(labeled_frames=frames, videos=predictions.videos, skeletons=predictions.skeletons, tracks=tracks)
    return truth, np.array(margins)
