"""Multi-class bottom-up decoding on the two real flies (named by size, posenn.tracking.naming):
maps drawn from the labels, with class maps that only lean towards the right fly and are noisy,
come back as whole flies with the right names. No training: this checks the grouping of 24 parts
into animals (flies that touch, legs that cross) and the pooling of class evidence per animal.
(Giving each part the identity whose class map is highest there, as the decoder did before,
names 4% of these flies right: their parts are scrambled between the two.)"""

import numpy as np
import pytest
import torch

from posenn.heads.identity import MulticlassBottomUpHead
from posenn.io.labels import load_labels
from posenn.tracking.naming import name_tracks_by_length

pytestmark = pytest.mark.usefixtures("torch_single_thread")

NAMES = ["female", "male"]
EVERY = 10  # frames: 110 of the 1,100
LEAN = 0.05  # the class map of the fly's own identity reads 0.5 + LEAN at its parts, the other 0.5 - LEAN
NOISE = 0.1  # standard deviation of the noise added to the class maps


def fly_poses(path) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]], tuple[int, int]]:
    """Every `EVERY`-th frame with both flies: poses `(frames, 2, nodes, 2)`, identities
    `(frames, 2)`, the skeleton's edges and the frame shape."""
    labels, _ = name_tracks_by_length(load_labels(path), NAMES, front="head", back="abdomen")
    skeleton = labels.skeletons[0]
    nodes = skeleton.node_names
    edges = [(nodes.index(e.source.name), nodes.index(e.destination.name)) for e in skeleton.edges]
    poses, identities = [], []
    for lf in sorted(labels.labeled_frames, key=lambda lf: lf.frame_idx)[::EVERY]:
        if len(lf.instances) == 2:
            poses.append(np.stack([instance.numpy() for instance in lf.instances]))
            identities.append([NAMES.index(instance.track.name) for instance in lf.instances])
    video = labels.videos[0]
    return np.array(poses, np.float32), np.array(identities), edges, tuple(video.shape[1:3])


def test_flies_come_back_whole_and_named_from_weak_noisy_class_maps(shared_file):
    poses, identities, edges, shape = fly_poses(shared_file("centered_pair_predictions.slp"))
    assert len(poses) >= 100
    head = MulticlassBottomUpHead(poses.shape[2], 2, sigma=2.75, output_stride=4, edges=tuple(edges))
    maps, class_maps = head.encode(torch.from_numpy(poses), shape, torch.from_numpy(identities))
    generator = torch.Generator().manual_seed(0)
    leaning = 0.5 * class_maps.sum(dim=1, keepdim=True) + LEAN * (class_maps - class_maps.flip(1))
    noisy = leaning + NOISE * torch.randn(class_maps.shape, generator=generator)
    points, _, _ = head.decode((maps, noisy), peak_threshold=0.2)

    right = 0
    for frame in range(len(poses)):
        for animal, identity in enumerate(identities[frame]):
            distances = np.linalg.norm(points[frame, identity].numpy() - poses[frame, animal], axis=-1)
            found = ~np.isnan(distances)
            right += bool(found.any() and distances[found].mean() < 2.0)  # the whole fly, under its own name
    assert right / identities.size >= 0.97, right / identities.size
