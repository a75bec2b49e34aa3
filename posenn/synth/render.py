"""How animals look and how frames are drawn from keypoints.

Every shape is placed by keypoints alone: ellipses are centred on the head, thorax and abdomen
nodes; each leg is a line from the thorax through its knee node to its tip node, which is the
centre of a round foot. OpenCV draws anti-aliased at 1/16 pixel precision, so the drawing
matches the keypoints to a small fraction of a pixel.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from posenn.synth.skeleton import (
    ABDOMEN,
    ABDOMEN_AXES,
    FOOT_RADIUS,
    HEAD,
    HEAD_AXES,
    LEG_WIDTH,
    LEGS,
    NECK_WIDTH,
    THORAX,
    THORAX_AXES,
    knee_index,
)

GOLDEN = 0.6180339887  # steps of the golden ratio spread any number of animals over a range
SHIFT = 4  # OpenCV draws at 1 / 2**SHIFT pixel precision with fixed-point coordinates
BACKGROUND_LEVEL = 165.0  # mean grey of the arena floor
SENSOR_NOISE = 3.0  # standard deviation of per-frame pixel noise, grey levels
HEAD_DARKER = 12  # the head is this many grey levels darker than the body
MARKING_LIGHTER = 90  # markings are this many grey levels lighter than the body
STRIPE_WIDTH = 0.045  # body lengths
STRIPES_AT = (-0.45, 0.35, -0.2)  # along the abdomen, fraction of its half length from its node
SPOT_AT = -0.78  # along the abdomen, fraction of its half length from its node
SPOT_RADIUS = 0.04  # body lengths


@dataclass(frozen=True)
class Look:
    """How one animal is drawn."""

    scale: float  # body length relative to the default (size / 5)
    level: int  # grey level of the body; the floor is around 165
    stripes: int  # light bands across the abdomen, 0-3
    spot: bool  # a light spot at the rear of the abdomen


def identity_look(k: int) -> Look:
    """The look of animal k when animals are identifiable: the same for every seed."""
    return Look(
        scale=0.85 + 0.3 * ((k * GOLDEN) % 1.0),
        level=int(30 + 70 * ((k * GOLDEN + 0.5) % 1.0)),
        stripes=k % 4,
        spot=(k // 4) % 2 == 1,
    )


SUBTLE_SIZES = (0.93, 1.07)  # body length range of subtly different identities


def subtle_look(k: int) -> Look:
    """The look of animal k when identities differ only in size (within 14%), the same for
    every seed: one grey level, no markings."""
    low, high = SUBTLE_SIZES
    return Look(scale=low + (high - low) * ((k * GOLDEN) % 1.0), level=55, stripes=0, spot=False)


def shared_look(rng: np.random.Generator) -> Look:
    """A look shared by all animals of an unidentified video, with a little random variation."""
    return Look(
        scale=rng.uniform(0.95, 1.05), level=int(rng.integers(48, 63)), stripes=0, spot=False
    )


def fixed(value: float | np.ndarray) -> int | tuple[int, ...]:
    """Pixel coordinates or lengths as OpenCV fixed-point integers."""
    scaled = np.rint(np.asarray(value) * (1 << SHIFT)).astype(int)
    return tuple(scaled.tolist()) if scaled.ndim else int(scaled)


def make_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A textured arena floor (size, size) uint8: broad shading, fine grain and a few blobs."""
    shading = cv2.resize(rng.standard_normal((6, 6)), (size, size), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), 1.0 + size / 256)
    grain /= grain.std()
    blobs = np.zeros((size, size))
    for _ in range(6):
        centre, radius = rng.uniform(0, size, 2), rng.uniform(0.03, 0.1) * size
        level = rng.uniform(-25, 25)
        cv2.circle(blobs, fixed(centre), fixed(radius), level, -1, cv2.LINE_AA, SHIFT)
    blobs = cv2.GaussianBlur(blobs, (0, 0), size / 100)
    floor = BACKGROUND_LEVEL + 15 * shading + 6 * grain + blobs
    return np.clip(np.rint(floor), 0, 255).astype(np.uint8)


def draw_ellipse(
    image: np.ndarray, centre: np.ndarray, axes: np.ndarray, direction: np.ndarray, level: int,
    line_type: int = cv2.LINE_AA,
):
    """Fill an ellipse (anti-aliased by default) with `axes` (2,) in pixels along and across
    `direction`."""
    angle = np.degrees(np.arctan2(direction[1], direction[0]))
    cv2.ellipse(image, fixed(centre), fixed(axes), angle, 0, 360, level, -1, line_type, SHIFT)


def draw_line(
    image: np.ndarray, start: np.ndarray, end: np.ndarray, width: float, level: int, line_type: int = cv2.LINE_AA
):
    """Draw a line (anti-aliased by default) with round ends centred on `start` and `end`."""
    cv2.line(image, fixed(start), fixed(end), level, max(1, round(width)), line_type, SHIFT)


def draw_disc(image: np.ndarray, centre: np.ndarray, radius: float, level: int):
    """Fill an anti-aliased disc."""
    cv2.circle(image, fixed(centre), fixed(radius), level, -1, cv2.LINE_AA, SHIFT)


def draw_markings(
    image: np.ndarray, abdomen: np.ndarray, forward: np.ndarray, length: float, look: Look
):
    """Light stripes across the abdomen and a light spot at its rear, clear of its node."""
    half_length, half_width = np.array(ABDOMEN_AXES) * length
    across = np.array([-forward[1], forward[0]])
    light = min(255, look.level + MARKING_LIGHTER)
    for u in STRIPES_AT[: look.stripes]:
        middle = abdomen + u * half_length * forward
        reach = 0.95 * half_width * np.sqrt(1 - u**2) * across
        draw_line(image, middle - reach, middle + reach, STRIPE_WIDTH * length, light)
    if look.spot:
        draw_disc(image, abdomen + SPOT_AT * half_length * forward, SPOT_RADIUS * length, light)


def draw_body(image: np.ndarray, points: np.ndarray, length: float, level: int, line_type: int):
    """Draw the body (abdomen, neck, thorax and head, no legs) of one animal in one grey level,
    with the shapes of `draw_animal`."""
    head, thorax, abdomen = points[HEAD], points[THORAX], points[ABDOMEN]
    parts = ((abdomen, ABDOMEN_AXES, thorax - abdomen), (thorax, THORAX_AXES, head - abdomen), (head, HEAD_AXES, head - thorax))
    for centre, axes, direction in parts:
        draw_ellipse(image, centre, np.array(axes) * length, direction, level, line_type)
    draw_line(image, thorax, head, NECK_WIDTH * length, level, line_type)


def hidden_points(points: np.ndarray, lengths: np.ndarray, size: int) -> np.ndarray:
    """Which keypoints lie under the body of an animal drawn above their own.

    A labeller marks such a part "not visible": the animal on top hides it. Legs are thin and
    hide nothing; an animal never hides its own parts.

    Args:
        points: (frames, animals, nodes, 2) keypoints in pixels, as drawn by `render_frames`.
        lengths: (animals,) body lengths in pixels.
        size: frame width and height in pixels.

    Returns:
        (frames, animals, nodes) bool, True where the part is covered by a later animal's body.
    """
    frames, animals, nodes = points.shape[:3]
    hidden = np.zeros((frames, animals, nodes), dtype=bool)
    if animals < 2:
        return hidden
    pixels = np.rint(points).astype(np.int64)
    inside = ((pixels >= 0) & (pixels < size)).all(axis=-1)
    pixels = np.clip(pixels, 0, size - 1)
    owner = np.zeros((size, size), dtype=np.uint16)
    for f in range(frames):
        owner[:] = 0
        for k in range(animals):
            draw_body(owner, points[f, k], lengths[k], k + 1, cv2.LINE_8)
        on_top = owner[pixels[f, ..., 1], pixels[f, ..., 0]].astype(int)  # (animals, nodes)
        hidden[f] = inside[f] & (on_top > np.arange(1, animals + 1)[:, None])
    return hidden


def draw_animal(image: np.ndarray, points: np.ndarray, length: float, look: Look):
    """Draw one animal with keypoints (nodes, 2) and body `length` into `image` (H, W) uint8.

    Legs go first so the body covers their roots; the head goes last.
    """
    head, thorax, abdomen = points[HEAD], points[THORAX], points[ABDOMEN]
    leg_width = LEG_WIDTH * length
    for leg in range(len(LEGS)):
        knee, tip = points[knee_index(leg)], points[knee_index(leg) + 1]
        draw_line(image, thorax, knee, leg_width, look.level)
        draw_line(image, knee, tip, leg_width, look.level)
        draw_disc(image, tip, FOOT_RADIUS * length, look.level)
    forward = (thorax - abdomen) / np.linalg.norm(thorax - abdomen)
    draw_ellipse(image, abdomen, np.array(ABDOMEN_AXES) * length, forward, look.level)
    draw_markings(image, abdomen, forward, length, look)
    draw_line(image, thorax, head, NECK_WIDTH * length, look.level)
    draw_ellipse(image, thorax, np.array(THORAX_AXES) * length, head - abdomen, look.level)
    head_level = max(0, look.level - HEAD_DARKER)
    draw_ellipse(image, head, np.array(HEAD_AXES) * length, head - thorax, head_level)


def render_frames(
    points: np.ndarray,
    lengths: np.ndarray,
    looks: list[Look],
    background: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Frames (frames, H, W) uint8 of animals with keypoints (frames, animals, nodes, 2).

    `lengths` (animals,) are body lengths in pixels. Animals are drawn in index order (later
    ones on top) on `background` (H, W), then every frame gets fresh sensor noise.
    """
    frames = np.empty((len(points),) + background.shape, dtype=np.uint8)
    for f, frame_points in enumerate(points):
        image = background.copy()
        for animal_points, length, look in zip(frame_points, lengths, looks):
            draw_animal(image, animal_points, length, look)
        noise = SENSOR_NOISE * rng.standard_normal(background.shape, dtype=np.float32)
        frames[f] = np.clip(image + noise + 0.5, 0, 255).astype(np.uint8)
    return frames
