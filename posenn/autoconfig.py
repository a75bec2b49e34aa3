"""`posenn config`: a starting config derived from the labels.

From the labels it takes the skeleton, the frame size and channels, and the size of the animals;
from those it chooses the input scale, the Gaussian sigma, and the smallest max stride whose
receptive field covers an animal.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import sleap_io as sio

from posenn.config import Config, SkeletonConfig
from posenn.errors import PosennError
from posenn.heads.pafs import spanning_edges
from posenn.io.labels import InstanceKind, LabeledSample, labeled_samples, load_labels
from posenn.models.encoders import encoder_strides
from posenn.models.unet import UNet

# Animals larger than this (pixels, after scaling) gain little from more resolution.
TARGET_ANIMAL_SIZE = 160
# Centroid models see animals at about this size.
CENTROID_ANIMAL_SIZE = 64
# Whole-frame models (single instance, centroid) see frames whose longest side is at most this.
MAX_FRAME_SIDE = 512
# Weight of the identity cross-entropy of multi-class top-down models against the part maps.
CLASS_VECTOR_WEIGHT = 0.05
# Weight of the class maps of multi-class bottom-up models against the part maps.
CLASS_MAP_WEIGHT = 0.1
# Weight of the part affinity fields of bottom-up models against the part maps. The fields cover
# far more pixels than the maps' peaks and, weighted 1, they took the network from the maps: on
# the two-fly sample (800 steps, limbs ranked with peak values) OKS mAP 0.157 at 1, 0.211 at 0.1,
# 0.324 at 0.03, with every frame still grouped into its two flies (benchmarks/bottomup.py --cases
# changes).
FIELD_WEIGHT = 0.03
# Centered-instance crops add this fraction of the animal size (and 8 px) as margin.
CROP_MARGIN = 0.2
# Bottom-up instances need this fraction of the parts (and of the limb score) that the least
# complete labeled animals have (5th percentile over the labels): half, so an animal with a few
# parts occluded or missed stays, while fragments of stray peaks go.
GROUPING_PERCENTILE = 5
GROUPING_FRACTION = 0.5
# Bottom-up limbs longer than this percentile of their edge's labeled lengths are penalised when
# grouping. One length per edge, not the animal's span for all: on the 8-animal synthetic crowd
# (a 6000-step model) it took OKS mAP from 0.595 to 0.629 and the right count from 45.5% to 51%
# of frames; 1.2 x the percentile gave 0.619, 1.4 x 0.609.
LIMB_PERCENTILE = 99
# Bottom-up limbs shorter than this percentile of their edge's labeled lengths (at least 1 px) rank
# lower when limbs are assigned: a stray peak beside a limb's source (a leg tip's on the joint
# before it, a head's on the neck) scores along the field as well as the true part. On the two-fly
# sample (an 800-step model, held-out frames) the 5th percentile took OKS mAP from 0.476 to 0.497
# and the errors' 90th percentile from 10.2 to 8.3 px; penalising the line score itself instead,
# the 1st gave 0.481, the 5th 0.499 (a fly lost in two frames), the 10th 0.501, the 25th 0.493.
SHORT_LIMB_PERCENTILE = 5
# Bottom-up part maps at stride 4 unless the typical limb (median over edges of their longest
# labeled lengths, scaled) would span fewer than this many cells: then stride 2. Short limbs at
# stride 4 put neighbouring parts one or two cells apart. On the 8-animal synthetic crowd (limbs
# about 15 px) stride 2 gave maps from which the grouping's ceiling is the right count in 96% of
# frames against 88% at stride 4; on the two-fly sample (limbs about 24 px) stride 2 gave OKS mAP
# 0.263 against 0.337 at stride 4 (800 steps).
MIN_LIMB_CELLS = 4
# Stride of part maps and fields unless the limbs ask for finer part maps.
OUTPUT_STRIDE = 4
# Bottom-up models train on windows of this many times the largest animal's span (rounded up to
# the max stride) where animals are sparse: one whole animal, and steps cheap enough that a budget
# buys many of them (the validation mAP per step hardly changes with the window). On the two-fly
# sample (held-out frames, about 385 s of training each) windows of 1.0 x (160 px, 1370 steps)
# gave OKS mAP 0.646, 1.25 x (192 px, 1095 steps) 0.569 and 1.5 x (240 px, 800 steps) 0.533,
# against 0.585 for a top-down pair trained as long (benchmarks/bottomup.py --cases flies,topdown
# --steps 1370: 0.646 and 0.543).
TRAINING_WINDOW_SPANS = 1.0
# Where animals crowd the frames (`crowding` above `CROWDED`), a window of one span holds few of
# them and cuts its neighbours at its edges: windows of `CROWDED_WINDOW_SPANS` spans. On the
# 8-animal synthetic crowd (crowding 0.74; the flies' is 0.33) windows of 80 px (1.0 x) gave
# OKS mAP 0.613 and the right count in 63.5% of frames after 6000 steps (753 s), 0.622 and 53.0%
# after 9600 (1130 s), against 0.663 and 68.0% with 128 px (1.5 x, 6000 steps, 1208 s).
CROWDED = 0.5
CROWDED_WINDOW_SPANS = 1.5


LEFT_RIGHT_TOKENS = [("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT"), ("L", "R")]


def symmetries_from_names(node_names: list[str]) -> list[tuple[str, str]]:
    """Left/right pairs found by name: `left_eye`/`right_eye`, `wingL`/`wingR`, `legL1`/`legR1`."""
    names = set(node_names)
    pairs = []
    for name in node_names:
        for left, right in LEFT_RIGHT_TOKENS:
            start = name.find(left)
            while start >= 0:
                partner = name[:start] + right + name[start + len(left):]
                if partner in names and (name, partner) not in pairs:
                    pairs.append((name, partner))
                start = name.find(left, start + 1)
    return pairs


def declared_or_named_symmetries(skeleton: sio.Skeleton) -> list[tuple[str, str]]:
    """The skeleton's declared symmetries (ordered as the nodes), else pairs found by name."""
    order = {name: i for i, name in enumerate(skeleton.node_names)}
    declared = [tuple(sorted((n.name for n in s.nodes), key=order.get)) for s in skeleton.symmetries]
    return declared or symmetries_from_names(list(skeleton.node_names))


def box_sides(points: list[np.ndarray]) -> np.ndarray:
    """`(instances, 2)` width and height of each instance's keypoint bounding box (≥ 2 points)."""
    sides = []
    for frame_points in points:
        for instance in frame_points:
            visible = instance[~np.isnan(instance).any(axis=1)]
            if len(visible) >= 2:
                sides.append(visible.max(axis=0) - visible.min(axis=0))
    return np.array(sides).reshape(-1, 2)


def animal_size(points: list[np.ndarray]) -> float:
    """90th percentile over instances of the longer side of the keypoints' bounding box."""
    sides = box_sides(points)
    return float(np.percentile(sides.max(axis=1), 90)) if len(sides) else 0.0


def largest_animal(points: list[np.ndarray]) -> float:
    """99th percentile of bounding-box diagonals: the span of the biggest animals in any
    orientation (a percentile, so a few stray points do not double the crop)."""
    sides = box_sides(points)
    return float(np.percentile(np.hypot(sides[:, 0], sides[:, 1]), 99)) if len(sides) else 0.0


def central_node(points: list[np.ndarray]) -> int | None:
    """The node that best marks an animal's centre: among the nodes labeled almost as often as
    the most-labeled one, the nearest on average to the centre of the labeled points."""
    instances = np.concatenate([frame_points for frame_points in points if len(frame_points)])
    labeled = ~np.isnan(instances).any(axis=-1)  # (instances, nodes)
    centres = np.nanmean(instances, axis=1, keepdims=True)  # (instances, 1, 2)
    distance = np.linalg.norm(instances - centres, axis=-1)  # (instances, nodes)
    rate = labeled.mean(axis=0)
    if rate.max() == 0:
        return None
    mean_distance = np.array([np.nanmean(d) if np.any(~np.isnan(d)) else np.inf for d in distance.T])
    candidates = np.flatnonzero(rate >= 0.95 * rate.max())
    return int(candidates[np.argmin(mean_distance[candidates])])


def crowding(points: list[np.ndarray], largest: float, frame_area: float) -> float:
    """How much of a frame the animals fill: the mean number of labeled animals per frame (frames
    with any) times the square of the largest span, over the frame's area."""
    animals = [len(frame_points) for frame_points in points if len(frame_points)]
    return float(np.mean(animals)) * largest**2 / frame_area if animals else 0.0


def window_spans(model_type: str, crowded: float) -> float:
    """Training windows of bottom-up models, in spans of the largest animal: `TRAINING_WINDOW_SPANS`,
    or `CROWDED_WINDOW_SPANS` where the frames' `crowding` is above `CROWDED` and for identity
    models (whose class maps were measured with those windows)."""
    return TRAINING_WINDOW_SPANS if model_type == "bottomup" and crowded <= CROWDED else CROWDED_WINDOW_SPANS


def training_window(largest: float, frame_side: float, max_stride: int, spans: float) -> int | None:
    """Side of the random training windows of whole-frame models: `spans` × the largest animal
    span, rounded up to the max stride; None when that is not smaller than the frame."""
    side = int(math.ceil(spans * largest / max_stride) * max_stride)
    return side if side < frame_side else None


def part_map_stride(limb_lengths: list[float], scale: float) -> int:
    """Stride of bottom-up part maps for limbs of these lengths (frame pixels): `OUTPUT_STRIDE`,
    or half of it where the median limb spans fewer than `MIN_LIMB_CELLS` cells at that stride."""
    fits = float(np.median(limb_lengths)) * scale >= MIN_LIMB_CELLS * OUTPUT_STRIDE
    return OUTPUT_STRIDE if fits else OUTPUT_STRIDE // 2


def all_instances(points: list[np.ndarray]) -> np.ndarray:
    """`(instances, nodes, 2)` the labeled instances of every frame; `(0, 0, 2)` without any."""
    frames = [frame_points for frame_points in points if len(frame_points)]
    return np.concatenate(frames) if frames else np.zeros((0, 0, 2))


def edge_lengths(
    points: list[np.ndarray], edges: list[tuple[int, int]], unlabeled: float, percentile: float = LIMB_PERCENTILE
) -> list[float]:
    """Longest (or, at a low `percentile`, shortest) limb of each edge that grouping takes without
    a penalty: the `percentile` of the edge's labeled lengths (frame pixels), `unlabeled` for an
    edge never labeled."""
    instances = all_instances(points)
    lengths = []
    for source, destination in edges:
        limbs = np.linalg.norm(instances[:, source] - instances[:, destination], axis=-1) if len(instances) else np.zeros(0)
        limbs = limbs[~np.isnan(limbs)]
        lengths.append(round(float(np.percentile(limbs, percentile)), 1) if len(limbs) else round(unlabeled, 1))
    return lengths


def grouping_defaults(points: list[np.ndarray], edges: list[tuple[int, int]]) -> tuple[int, float, float | None]:
    """Bottom-up grouping measured on the labels: fewest parts and lowest instance score an
    animal may have, and the longest limb (99th percentile, pixels; None without a labeled limb).

    The instance score of a labeled animal with perfect maps and fields is the share of its
    labeled parts and of the skeleton forest's edges whose two parts are labeled, together
    (see `grouping.GroupedInstances.scores`).
    """
    instances = all_instances(points)
    labeled = ~np.isnan(instances).any(axis=-1)  # (instances, nodes)
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    both = labeled[:, pairs[:, 0]] & labeled[:, pairs[:, 1]]  # (instances, edges)
    parts = np.percentile(labeled.sum(axis=1), GROUPING_PERCENTILE) if len(labeled) else 2
    supported = (both.sum(axis=1) + labeled.sum(axis=1)) / max(both.shape[1] + labeled.shape[1], 1)
    completeness = np.percentile(supported, GROUPING_PERCENTILE) if len(labeled) else 0.0
    lengths = np.linalg.norm(instances[:, pairs[:, 0]] - instances[:, pairs[:, 1]], axis=-1)[both]
    longest = round(float(np.percentile(lengths, 99)), 1) if len(lengths) else None
    min_points = max(2, int(GROUPING_FRACTION * parts))
    return min_points, round(float(GROUPING_FRACTION * completeness), 3), longest


def identity_classes(samples: list[LabeledSample], source: Path) -> list[str]:
    """The identities of identity models: the labels' track names, in order of first use.

    Instances without a track still teach the body parts, but not identities.

    Raises:
        PosennError: when no instance has a track, or when there are more tracks than animals in
            any frame (tracker fragments such as track_0 … track_26 are not identities).
    """
    names = list(dict.fromkeys(name for sample in samples for name in sample.tracks if name is not None))
    if not names:
        raise PosennError(
            f"{source}: no instance has a track. Identity models learn each animal's identity from its "
            "track name (e.g. 'male', 'female'); assign tracks in SLEAP first."
        )
    most_animals = max(len(sample.points) for sample in samples)
    if len(names) > most_animals:
        raise PosennError(
            f"{source}: {len(names)} tracks ({', '.join(names[:6])}{', …' if len(names) > 6 else ''}) but at "
            f"most {most_animals} animals in a frame. Identity models need one track per identity, the same "
            "in every frame; these look like tracker fragments. Merge them into one track per animal in SLEAP."
        )
    return names


def choose_max_stride(size: float, filters: int, convs_per_block: int, output_stride: int) -> int:
    """Smallest max stride (16–64) whose UNet receptive field covers `size` pixels."""
    for max_stride in (16, 32, 64):
        unet = UNet(1, filters, 2.0, max_stride, output_stride, convs_per_block)
        if unet.receptive_field() >= size:
            return max_stride
    return 64


def config_from_labels(labels_path: Path, model_type: str, instances: InstanceKind = "all", backbone: str = "unet") -> Config:
    """Build a starting config for `model_type` from a labels file, for the `backbone` ("unet" or
    a timm encoder name).

    Raises:
        PosennError: if the labels cannot be read or hold no instances.
    """
    labels = load_labels(labels_path)
    samples = labeled_samples(labels, instances, labels_path)
    skeleton = labels.skeleton
    _, height, width, channels = samples[0].video.shape

    config = Config()
    config.model.type = model_type
    config.model.backbone.name = backbone
    config.data.train_labels = Path(labels_path)
    config.data.instances = instances
    config.data.channels = 1 if channels == 1 else 3
    config.data.skeleton = SkeletonConfig(
        nodes=list(skeleton.node_names),
        edges=[(e.source.name, e.destination.name) for e in skeleton.edges],
        symmetries=declared_or_named_symmetries(skeleton),
    )

    if model_type == "bottomup" and not skeleton.edges:
        raise PosennError(f"{labels_path}: the skeleton has no edges; bottom-up models group parts along its edges.")
    points = [s.points for s in samples]
    size = animal_size(points)
    if size <= 0:
        raise PosennError(f"{labels_path}: no instance has two or more labeled points to size the animals.")
    largest = largest_animal(points)
    nodes = list(skeleton.node_names)
    skeleton_edges = [(nodes.index(e.source.name), nodes.index(e.destination.name)) for e in skeleton.edges]
    limbs = edge_lengths(points, skeleton_edges, largest) if model_type == "bottomup" else None
    crowded = crowding(points, largest, height * width)
    choose_resolution(config, size, largest, max(height, width), limbs, crowded)
    if model_type == "bottomup":
        inference = config.inference
        inference.min_points, inference.min_instance_score, inference.max_hop_length = grouping_defaults(
            points, spanning_edges(len(nodes), skeleton_edges)
        )
        shortest = edge_lengths(points, skeleton_edges, 1.0, SHORT_LIMB_PERCENTILE)
        inference.min_edge_length = [max(length, 1.0) for length in shortest]
        config.train.paf_weight = FIELD_WEIGHT
    if model_type in ("multiclass_bottomup", "multiclass_topdown"):
        config.model.classes = identity_classes(samples, labels_path)
    if model_type == "multiclass_topdown":
        # Cross-entropy starts near log(classes), ~50× the part-map loss: weighted 1, it drowns
        # the part maps while the classifier learns (measured on synthetic identities).
        config.train.class_weight = CLASS_VECTOR_WEIGHT
    if model_type == "multiclass_bottomup":
        # Class maps hold a peak at every part of every animal, so their loss outweighs the part
        # maps'; weighted 1, 3000 steps on synthetic identities gave OKS mAP 0.01-0.03 against
        # 0.62 at 0.1 (and 0.61 at 0.05, 0.45 at 0.2).
        config.train.class_weight = CLASS_MAP_WEIGHT
    if model_type in ("centroid", "centered_instance", "multiclass_topdown"):
        anchor = central_node(points)
        config.model.anchor_part = None if anchor is None else config.data.skeleton.nodes[anchor]
    if config.data.skeleton.symmetries:
        config.augment.flip = "horizontal"
    return config


def choose_resolution(
    config: Config, size: float, largest: float, frame_side: int, limbs: list[float] | None = None, crowded: float = 0.0
) -> None:
    """Set scale, output stride, sigma, max stride (and crop size, or the fields of bottom-up
    models) for animals of `size` px (the largest spanning `largest` px).

    Centroid models see animals small (about 64 px): they only need to find centres. Pose
    models see them at up to 160 px; a centered-instance crop holds the largest animal with a
    margin, rounded up to the max stride. Bottom-up models train on windows as wide as the largest
    animal's span, wider where the frames are `crowded` (see `window_spans`), their part maps'
    stride follows `limbs` (each edge's longest labeled limb, frame pixels, see `edge_lengths` and `part_map_stride`; `OUTPUT_STRIDE` where not given,
    and then the largest animal's span bounds every limb), their fields are drawn at `OUTPUT_STRIDE` in bands at least two cells wide, and limbs
    longer than those lengths are penalised when grouping.
    """
    model = config.model
    target = CENTROID_ANIMAL_SIZE if model.type == "centroid" else TARGET_ANIMAL_SIZE
    scale = min(1.0, target / size)
    if model.type in ("single_instance", "centroid", "bottomup", "multiclass_bottomup"):
        scale = min(scale, MAX_FRAME_SIDE / frame_side)
    config.data.scale = round(scale, 3)
    scaled_size = size * config.data.scale
    model.output_stride = OUTPUT_STRIDE
    model.sigma = round(float(np.clip(scaled_size / 40, 2.5, 5.0)), 2)
    backbone = model.backbone
    if backbone.name == "unet":
        backbone.max_stride = choose_max_stride(scaled_size, backbone.filters, backbone.convs_per_block, model.output_stride)
        multiple = backbone.max_stride
    else:  # a timm encoder: its deepest features up to stride 32; inputs padded to its own deepest stride
        strides = encoder_strides(backbone.name, config.data.channels)
        backbone.max_stride = max(stride for stride in strides if stride <= 32)
        multiple = max(strides)
    if model.type in ("centered_instance", "multiclass_topdown"):
        span = largest * config.data.scale * (1 + CROP_MARGIN) + 8
        model.crop_size = int(math.ceil(span / multiple) * multiple)
    if model.type in ("bottomup", "multiclass_bottomup"):
        spans = window_spans(model.type, crowded)
        config.train.random_crop = training_window(largest * config.data.scale, frame_side * config.data.scale, multiple, spans)
    if model.type == "bottomup":
        model.paf_stride = OUTPUT_STRIDE
        model.paf_width = round(max(2.0 * model.paf_stride, 2.5 * model.sigma), 1)
        config.inference.max_edge_length = round(largest, 1) if limbs is None else limbs
        if limbs is not None:
            model.output_stride = part_map_stride(limbs, config.data.scale)
