"""Where a bottom-up model's part-map peaks lie on labeled frames (`benchmarks/bottomup.py --cases
peaks`): on a visible part of their own type, on that part where it is hidden, on its symmetric
partner, on another part, elsewhere on an animal or on the background; and how many visible
parts have a peak of their own type nearby."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import sleap_io as sio
import torch
from scipy.optimize import linear_sum_assignment

from posenn.heads.bottomup import MIN_PEAKS_PER_PART
from posenn.heads.confmaps import local_peaks
from posenn.inference.frames import to_device_batch
from posenn.inference.predictor import TrainedModel
from posenn.io.video import decode_batches, open_video

# Input pixels: a peak this close to a labeled part lies on that part.
ON_PART_PX = 4.0
# Input pixels: a peak this close to any labeled part (visible or hidden) lies on an animal.
ON_BODY_PX = 8.0
RECALL_RADII_PX = (1.0, 2.0, 4.0)
CATEGORIES = ("own part", "own part, hidden", "symmetric partner", "another part", "elsewhere on an animal", "background")
TOP_CONFUSIONS = 8


def held_out_outputs(model: TrainedModel, video: Path, frame_indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The model's part maps and fields on `video`'s frames, per batch of 8 frames (CPU)."""
    config, device = model.config, torch.device("cpu")
    decoded = decode_batches(open_video(video), [frame_indices], config.data.channels, 8)
    with torch.inference_mode():
        return [model.model(to_device_batch(batch.indices, batch.frames, device).images(config.data.scale, config.data.channels))
                for _, batch in decoded]


def nearest(point: np.ndarray, candidates: np.ndarray) -> float:
    """Distance from `(2,)` `point` to the nearest of `(n, 2)` `candidates` (NaN rows skipped)."""
    distances = np.linalg.norm(candidates - point, axis=-1)
    return float(np.nanmin(distances)) if np.any(~np.isnan(distances)) else np.inf


def peak_category(point: np.ndarray, node: int, visible: np.ndarray, hidden: np.ndarray, partner: int | None) -> str:
    """Where one peak of part `node` lies, given a frame's `(instances, nodes, 2)` visible and
    hidden labeled parts (NaN where not of that kind)."""
    if nearest(point, visible[:, node]) <= ON_PART_PX:
        return "own part"
    if nearest(point, hidden[:, node]) <= ON_PART_PX:
        return "own part, hidden"
    if partner is not None and nearest(point, visible[:, partner]) <= ON_PART_PX:
        return "symmetric partner"
    if nearest(point, visible.reshape(-1, 2)) <= ON_PART_PX:
        return "another part"
    labeled = np.where(np.isnan(visible), hidden, visible).reshape(-1, 2)
    return "elsewhere on an animal" if nearest(point, labeled) <= ON_BODY_PX else "background"


def found_within(peaks: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Distances of `(n, 2)` visible `parts` to the `(k, 2)` peaks matched to them one to one
    (nearest total distance), inf for parts left without a peak."""
    distances = np.full(len(parts), np.inf)
    if len(parts) and len(peaks):
        cost = np.linalg.norm(parts[:, None] - peaks[None], axis=-1)
        rows, cols = linear_sum_assignment(cost)
        distances[rows] = cost[rows, cols]
    return distances


def peak_rows(truth: sio.Labels, video: Path, model: TrainedModel) -> tuple[list[dict], list[dict], list[dict]]:
    """Peaks of `model`'s part maps on `truth`'s frames of `video` (its peak threshold, as many peaks per
    part as its grouping takes): one row per category of `CATEGORIES`, one per radius of
    `RECALL_RADII_PX` (share of visible parts with a peak of their type within it), and the
    `TOP_CONFUSIONS` most frequent (peak's part, part it lies on) of the "another part" peaks."""
    names = [node.name for node in truth.skeleton.nodes]
    partners = dict(truth.skeleton.symmetry_inds) | {b: a for a, b in truth.skeleton.symmetry_inds}
    head, threshold = model.head, model.config.inference.peak_threshold
    outputs = held_out_outputs(model, video, [lf.frame_idx for lf in truth])
    maps = torch.cat([maps for maps, _ in outputs])
    peaks, values = local_peaks(maps, head.output_stride, threshold, max(head.grouping.max_instances, MIN_PEAKS_PER_PART),
                                head.centred, head.refinement)
    values_by_category: dict[str, list[float]] = {category: [] for category in CATEGORIES}
    confusions: Counter[tuple[str, str]] = Counter()
    distances = []
    for frame, frame_peaks, frame_values in zip(truth, peaks.numpy(), values.numpy()):
        visible = np.stack([instance.numpy() for instance in frame.instances])
        labeled = np.stack([instance.numpy(invisible_as_nan=False) for instance in frame.instances])
        hidden = np.where(np.isnan(visible), labeled, np.nan)
        for node, (node_peaks, node_values) in enumerate(zip(frame_peaks, frame_values)):
            kept = ~np.isnan(node_peaks[:, 0])
            parts = visible[:, node][~np.isnan(visible[:, node, 0])]
            distances.append(found_within(node_peaks[kept], parts))
            for point, value in zip(node_peaks[kept], node_values[kept]):
                category = peak_category(point, node, visible, hidden, partners.get(node))
                values_by_category[category].append(float(value))
                if category == "another part":
                    on = np.linalg.norm(visible - point, axis=-1)
                    confusions[names[node], names[int(np.nanargmin(on) % len(names))]] += 1
    total = sum(len(found) for found in values_by_category.values())
    category_rows = [{"peak_lies_on": category, "peaks": len(found), "share": f"{len(found) / max(total, 1):.1%}",
                      "median_value": round(float(np.median(found)), 2) if found else "",
                      "above_0_5": f"{np.mean(np.array(found) > 0.5):.0%}" if found else ""}
                     for category, found in values_by_category.items()]
    distances = np.concatenate(distances)
    recall_rows = [{"radius_px": radius, "visible_parts": len(distances), "with_a_peak_of_their_type": f"{np.mean(distances <= radius):.1%}"}
                   for radius in RECALL_RADII_PX]
    confusion_rows = [{"peak_of": peak_of, "lies_on": lies_on, "peaks": count}
                      for (peak_of, lies_on), count in confusions.most_common(TOP_CONFUSIONS)]
    return category_rows, recall_rows, confusion_rows
