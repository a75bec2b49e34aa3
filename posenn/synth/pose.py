"""Keypoints of every animal in every frame, from its motion state."""

import numpy as np

from posenn.synth.motion import Motion, unit
from posenn.synth.skeleton import (
    ABDOMEN,
    ABDOMEN_OFFSET,
    FEMUR,
    HEAD,
    HEAD_OFFSET,
    LEGS,
    NODES,
    THORAX,
    TIBIA,
    knee_index,
)

SWING = np.radians(14.0)  # leg swing amplitude
HEAD_YAW = 0.08  # head turn per rad / s of turning, s
ABDOMEN_BEND = 0.12  # abdomen bend per rad / s of turning, s


def body_points(motion: Motion, lengths: np.ndarray) -> np.ndarray:
    """Keypoints (frames, animals, nodes, 2) of animals with body `lengths` (animals,) in pixels.

    The head leans into turns and the abdomen swings out of them; legs swing back and forth
    with the gait phase in a tripod gait.
    """
    length = lengths[None, :, None]
    heading, turn = motion.heading, motion.turn_rate
    thorax = motion.centre
    points = np.empty(thorax.shape[:2] + (len(NODES), 2))
    points[:, :, THORAX] = thorax
    head_angle = heading + np.clip(HEAD_YAW * turn, -0.3, 0.3)
    points[:, :, HEAD] = thorax + HEAD_OFFSET * length * unit(head_angle)
    abdomen_angle = heading + np.pi - np.clip(ABDOMEN_BEND * turn, -0.4, 0.4)
    points[:, :, ABDOMEN] = thorax + ABDOMEN_OFFSET * length * unit(abdomen_angle)
    for leg, (_, side, rest, bend, group) in enumerate(LEGS):
        swing = SWING * np.sin(motion.gait_phase + np.pi * group)
        femur_angle = heading - side * (np.radians(rest) - swing)
        tibia_angle = femur_angle - side * np.radians(bend)
        knee = thorax + FEMUR * length * unit(femur_angle)
        points[:, :, knee_index(leg)] = knee
        points[:, :, knee_index(leg) + 1] = knee + TIBIA * length * unit(tibia_angle)
    return points


def hide_outside(points: np.ndarray, size: int) -> np.ndarray:
    """Copy of `points` (..., 2) with points outside the frame set to NaN (not labeled)."""
    inside = ((points >= 0) & (points <= size - 1)).all(axis=-1)
    return np.where(inside[..., None], points, np.nan)
