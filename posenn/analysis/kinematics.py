"""Per animal and node: speed, acceleration, heading, path length, time moving and still.

Everything is computed by movement (its velocity, acceleration, speed, path length, vector norms
and polar conversion); nothing here differentiates by hand. Body length — the unit of every
interaction threshold — is the median distance between a tail-side and a head-side node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from posenn.analysis.poses import Poses
from posenn.errors import PosennError

HEAD_NAMES = ("nose", "snout", "head")
TAIL_NAMES = ("tailbase", "tail_base", "tail", "abdomen")


@dataclass
class Kinematics:
    """Motion of every node of every animal.

    Attributes:
        speed: `(time, keypoints, individuals)` in length unit per time unit.
        acceleration: `(time, keypoints, individuals)` magnitude of the acceleration vector.
        heading: `(time, keypoints, individuals)` direction of travel in radians, 0 along +x,
            increasing toward +y (down the image), in (-pi, pi].
        velocity: `(time, space, keypoints, individuals)`.
        moving: `(time, keypoints, individuals)` bool; speed above the still threshold.
        valid: `(time, keypoints, individuals)` bool; speed is known.
        path_length: `(keypoints, individuals)`.
        body_length: `(individuals,)` in the length unit.
        orientation: `(time, individuals)` body axis angle (tail to head), radians; NaN when no
            axis is known.
        axis: the (tail, head) nodes of the body axis, or None.
        still_speed: the speed threshold in length unit per time unit, `(individuals,)`.
    """

    speed: xr.DataArray
    acceleration: xr.DataArray
    heading: xr.DataArray
    velocity: xr.DataArray
    moving: xr.DataArray
    valid: xr.DataArray
    path_length: xr.DataArray
    body_length: xr.DataArray
    orientation: xr.DataArray
    axis: tuple[str, str] | None
    still_speed: xr.DataArray


def find_axis(nodes: list[str], axis: tuple[str, str] | None) -> tuple[str, str] | None:
    """The (tail, head) nodes of the body axis: given, or found by name, or None.

    Raises:
        PosennError: when a given node is not in the skeleton.
    """
    if axis is not None:
        missing = [node for node in axis if node not in nodes]
        if missing:
            raise PosennError(f"--axis: node(s) {', '.join(missing)} not in the skeleton; nodes: {', '.join(nodes)}.")
        return axis
    lowered = {node.lower(): node for node in nodes}
    head = next((lowered[name] for name in HEAD_NAMES if name in lowered), None)
    tail = next((lowered[name] for name in TAIL_NAMES if name in lowered), None)
    return (tail, head) if head and tail and head != tail else None


def estimate_body_length(position: xr.DataArray, axis: tuple[str, str] | None, nodes: list[str]) -> xr.DataArray:
    """Median tail-to-head distance per animal `(individuals,)`; without an axis, the median
    diagonal of the box around each animal's nodes."""
    from movement.utils.vector import compute_norm

    if axis is not None:
        tail, head = axis
        lengths = compute_norm(position.sel(keypoints=head) - position.sel(keypoints=tail))
    else:
        body = position.sel(keypoints=nodes)
        extent = body.max("keypoints") - body.min("keypoints")
        lengths = compute_norm(extent)
    return lengths.median("time", skipna=True)


def body_orientation(position: xr.DataArray, axis: tuple[str, str] | None) -> xr.DataArray:
    """Angle of the tail-to-head vector `(time, individuals)`; NaN without an axis."""
    from movement.utils.vector import cart2pol

    if axis is None:
        template = position.isel(space=0, keypoints=0, drop=True)
        return xr.full_like(template, np.nan)
    tail, head = axis
    vector = position.sel(keypoints=head) - position.sel(keypoints=tail)
    return cart2pol(vector).sel(space_pol="phi", drop=True)


def compute_kinematics(
    poses: Poses,
    axis: tuple[str, str] | None = None,
    body_length: float | None = None,
    still_speed: float = 0.2,
) -> Kinematics:
    """Speed, acceleration, heading, path length and moving time of every node of every animal.

    Args:
        poses: cleaned poses (with the `centroid` keypoint).
        axis: (tail, head) nodes of the body axis; found by node name when None.
        body_length: body length of every animal in the length unit, instead of the estimate.
        still_speed: below this speed, in body lengths per second, a node is still.

    Returns:
        The kinematics.

    Raises:
        PosennError: for an unknown axis node or a body length that is not positive.
    """
    from movement.kinematics import compute_acceleration, compute_path_length, compute_speed, compute_velocity
    from movement.utils.vector import cart2pol, compute_norm

    position = poses.position
    axis = find_axis(poses.nodes, axis)
    if body_length is not None:
        if not body_length > 0:
            raise PosennError(f"--body-length must be positive, got {body_length}.")
        lengths = xr.full_like(position.individuals, body_length, dtype=float)
    else:
        lengths = estimate_body_length(position, axis, poses.nodes)
    velocity = compute_velocity(position)
    speed = compute_speed(position)
    acceleration = compute_norm(compute_acceleration(position))
    heading = cart2pol(velocity).sel(space_pol="phi", drop=True)
    heading = heading.where(speed > 0)  # no direction of travel when standing exactly still
    threshold = still_speed * lengths * poses.units.per_second()
    valid = speed.notnull()
    moving = valid & (speed > threshold)
    path_length = compute_path_length(position, nan_policy="ffill", nan_warn_threshold=1.0)
    return Kinematics(
        speed=speed,
        acceleration=acceleration,
        heading=heading,
        velocity=velocity,
        moving=moving,
        valid=valid,
        path_length=path_length,
        body_length=lengths,
        orientation=body_orientation(position, axis),
        axis=axis,
        still_speed=threshold,
    )
