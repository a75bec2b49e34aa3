"""How the animals move: smooth turns, walks and pauses, wall avoidance, and meetings.

Each animal heads for its own random waypoint in the central part of the frame and picks a new
one on arrival. Every few seconds a meeting makes every animal head for the others instead, so
they come together and walk across each other. An animal about to leave the safe box along the
walls heads for the frame centre. Heading follows a damped, noisy controller, so it turns
smoothly; speed eases between a cruising speed and standstill; the gait phase advances with the
distance walked, so legs stop when the animal pauses.
"""

from dataclasses import dataclass, fields

import numpy as np

from posenn.synth.skeleton import body_length

# Speeds and times are in body lengths and seconds, so motion looks the same at any size and fps.
WALK_SPEED = (0.8, 2.0)  # cruising speed range, body lengths / s
WALK_TIME = 2.5  # mean duration of a walk, s
PAUSE_TIME = (0.3, 1.2)  # range of pause durations, s
SPEED_TAU = 0.25  # time constant of speeding up and slowing down, s
TURN_GAIN = 6.0  # angular acceleration per radian of heading error, 1 / s^2
TURN_DAMPING = 4.0  # 1 / s
TURN_NOISE = 3.0  # random angular acceleration, rad / s^1.5
MAX_TURN = 4.0  # rad / s
STRIDE = 0.5  # distance walked per gait cycle, body lengths
MEET_EVERY = (2.0, 5.0)  # range of times between meetings, s
MEET_TIMEOUT = 4.0  # a meeting ends after this long even if the animals did not meet, s
CONTACT_SPEED = 0.15  # top speed of animals in contact, body lengths / s
ARRIVED = 0.5  # distance at which a waypoint or a meeting is reached, body lengths
WALL_MARGIN = 0.6  # keep the thorax this far from the frame edges, body lengths
LOOK_AHEAD = 0.8  # turn away from a wall this long before reaching it, s
CENTRAL = (0.3, 0.7)  # waypoints lie in this central part of the frame, fraction of its size


@dataclass
class Motion:
    """Body state of every animal in every frame."""

    centre: np.ndarray  # (frames, animals, 2) thorax position, pixels
    heading: np.ndarray  # (frames, animals) radians, 0 along +x, increasing toward +y
    turn_rate: np.ndarray  # (frames, animals) rad / s
    speed: np.ndarray  # (frames, animals) pixels / s
    gait_phase: np.ndarray  # (frames, animals) radians


@dataclass
class Walkers:
    """The changing state of all animals during the simulation, one row per animal."""

    centre: np.ndarray  # (animals, 2) thorax position, pixels
    heading: np.ndarray  # (animals,) radians
    turn_rate: np.ndarray  # (animals,) rad / s
    speed: np.ndarray  # (animals,) pixels / s
    gait_phase: np.ndarray  # (animals,) radians
    walking: np.ndarray  # (animals,) bool; False while pausing
    mode_left: np.ndarray  # (animals,) time until switching between walking and pausing, s
    cruise: np.ndarray  # (animals,) speed of the current walk, pixels / s
    waypoint: np.ndarray  # (animals, 2) where each animal is going, pixels


@dataclass
class Meetings:
    """When the animals next head for each other."""

    active: bool
    time_left: float  # before the active meeting gives up, s
    next_in: float  # until the next meeting starts, s
    contact_left: float | None = None  # once the animals met: how much longer they stay together, s


def unit(angle: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 2) pointing along `angle` (...)."""
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles folded into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def central_points(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n random waypoints (n, 2) in the central part of the frame."""
    return rng.uniform(*CENTRAL, (n, 2)) * size


def start(animals: int, size: int, rng: np.random.Generator) -> tuple[Walkers, Meetings]:
    """Animals at rest at random places and headings in the central part of the frame."""
    walkers = Walkers(
        centre=central_points(rng, animals, size),
        heading=rng.uniform(-np.pi, np.pi, animals),
        turn_rate=np.zeros(animals),
        speed=np.zeros(animals),
        gait_phase=rng.uniform(0, 2 * np.pi, animals),
        walking=np.ones(animals, dtype=bool),
        mode_left=rng.exponential(WALK_TIME, animals),
        cruise=rng.uniform(*WALK_SPEED, animals) * body_length(size),
        waypoint=central_points(rng, animals, size),
    )
    return walkers, Meetings(active=False, time_left=0.0, next_in=rng.uniform(*MEET_EVERY))


def update_meetings(
    walkers: Walkers, meetings: Meetings, size: int, dt: float, rng: np.random.Generator, contact_time: float = 0.0
) -> None:
    """Start, run or end a meeting; during one, each animal's waypoint is the others' centre.

    A meeting ends when two animals come within `ARRIVED` body lengths, `contact_time` seconds
    later (they crawl into each other meanwhile, touching and overlapping: see `walk_or_pause`),
    or after `MEET_TIMEOUT` if they never met.
    """
    animals = len(walkers.centre)
    meetings.next_in -= dt
    if not meetings.active and meetings.next_in <= 0 and animals > 1:
        meetings.active, meetings.time_left = True, MEET_TIMEOUT
    if not meetings.active:
        return
    centre = walkers.centre
    walkers.waypoint = (centre.sum(axis=0) - centre) / (animals - 1)
    meetings.time_left -= dt
    distances = np.linalg.norm(centre[:, None] - centre[None], axis=-1)
    closest = distances[np.triu_indices(animals, 1)].min()
    if closest < ARRIVED * body_length(size) and meetings.contact_left is None:
        meetings.contact_left = contact_time
    if meetings.contact_left is not None:
        meetings.contact_left -= dt
        over = meetings.contact_left < 0
    else:
        over = meetings.time_left <= 0
    if over:
        meetings.active, meetings.next_in, meetings.contact_left = False, rng.uniform(*MEET_EVERY), None
        walkers.waypoint = central_points(rng, animals, size)


def goal_angles(walkers: Walkers, size: int, rng: np.random.Generator, contact: bool = False) -> np.ndarray:
    """Directions (animals,) to head for: the waypoint, or the frame centre near a wall.

    An animal that reached its waypoint gets a new one, except in `contact`, where the
    waypoints are the other animals and reaching them is the point.
    """
    body = body_length(size)
    arrived = np.linalg.norm(walkers.waypoint - walkers.centre, axis=-1) < ARRIVED * body
    arrived &= not contact
    walkers.waypoint[arrived] = central_points(rng, int(arrived.sum()), size)
    goal = walkers.waypoint - walkers.centre
    ahead = walkers.centre + LOOK_AHEAD * walkers.speed[:, None] * unit(walkers.heading)
    margin = WALL_MARGIN * body
    near_wall = ((ahead < margin) | (ahead > size - 1 - margin)).any(axis=-1)
    goal[near_wall] = size / 2 - walkers.centre[near_wall]
    return np.arctan2(goal[:, 1], goal[:, 0])


def steer(walkers: Walkers, goal: np.ndarray, body: float, dt: float, rng: np.random.Generator):
    """Turn toward the `goal` angles (animals,), with noise; standing animals turn less."""
    error = wrap(goal - walkers.heading)
    gain = TURN_GAIN * (0.2 + 0.8 * np.minimum(1.0, walkers.speed / body))
    turn_rate = walkers.turn_rate + dt * (gain * error - TURN_DAMPING * walkers.turn_rate)
    turn_rate += TURN_NOISE * np.sqrt(dt) * rng.standard_normal(len(turn_rate))
    walkers.turn_rate = np.clip(turn_rate, -MAX_TURN, MAX_TURN)
    walkers.heading = wrap(walkers.heading + dt * walkers.turn_rate)


def walk_or_pause(walkers: Walkers, body: float, dt: float, rng: np.random.Generator, contact: bool = False):
    """Switch between walking and pausing when the current mode is over; ease the speed (at most
    `CONTACT_SPEED` while the animals are in `contact`)."""
    animals = len(walkers.speed)
    walkers.mode_left = walkers.mode_left - dt
    switch = walkers.mode_left <= 0
    walkers.walking = walkers.walking ^ switch
    walk_time = rng.exponential(WALK_TIME, animals)
    pause_time = rng.uniform(*PAUSE_TIME, animals)
    cruise = rng.uniform(*WALK_SPEED, animals) * body
    new_mode_left = np.where(walkers.walking, walk_time, pause_time)
    walkers.mode_left = np.where(switch, new_mode_left, walkers.mode_left)
    walkers.cruise = np.where(switch & walkers.walking, cruise, walkers.cruise)
    target = np.where(walkers.walking, walkers.cruise, 0.0)
    if contact:
        target = np.minimum(target, CONTACT_SPEED * body)
    walkers.speed = walkers.speed + (target - walkers.speed) * min(1.0, dt / SPEED_TAU)


def advance(walkers: Walkers, body: float, dt: float):
    """Move each animal along its heading and its legs along the gait cycle."""
    walkers.centre = walkers.centre + dt * walkers.speed[:, None] * unit(walkers.heading)
    walkers.gait_phase = walkers.gait_phase + 2 * np.pi * dt * walkers.speed / (STRIDE * body)


def simulate_motion(
    animals: int, frames: int, size: int, fps: float, rng: np.random.Generator, contact_time: float = 0.0
) -> Motion:
    """Walk the animals around the frame for `frames` steps of 1 / fps seconds; animals that
    meet stay together for `contact_time` seconds (see `update_meetings`).

    Random numbers are drawn in the same order every step, so a shorter video is the start of a
    longer one with the same seed.
    """
    body, dt = body_length(size), 1.0 / fps
    walkers, meetings = start(animals, size, rng)
    recorded = {field.name: [] for field in fields(Motion)}
    for _ in range(frames):
        for name, values in recorded.items():
            values.append(getattr(walkers, name).copy())
        update_meetings(walkers, meetings, size, dt, rng, contact_time)
        contact = meetings.contact_left is not None
        steer(walkers, goal_angles(walkers, size, rng, contact), body, dt, rng)
        walk_or_pause(walkers, body, dt, rng, contact)
        advance(walkers, body, dt)
    return Motion(**{name: np.array(values) for name, values in recorded.items()})
