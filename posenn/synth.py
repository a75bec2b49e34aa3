"""Synthetic labeled videos of walking insect-like animals, with exact ground truth.

`generate` writes `synth.mp4` and `synth.slp` for demos and tests that need no download;
`synthesize` returns the same frames and keypoints as arrays without writing anything.

How a video is made, top to bottom in this file:

1. the skeleton: head, thorax, abdomen and six two-segment legs, with left/right symmetries;
2. each animal's look (size, darkness, abdomen markings), fixed per animal index when animals
   must be told apart (`identity=True`);
3. the motion: smooth heading changes, walks and pauses, steering away from the walls and
   periodic meetings where animals approach and walk across each other;
4. the keypoints of every animal in every frame, from its motion state;
5. the frames, drawn from the keypoints alone with anti-aliased OpenCV shapes on a textured
   background, so every keypoint sits exactly where its body part is drawn;
6. the files: an H.264 `.mp4` and a `.slp` of user instances with one track per animal.

Coordinates are in pixels with pixel centres at integer values (the SLEAP convention).
"""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import sleap_io as sio

from posenn.errors import PosennError

VIDEO_NAME = "synth.mp4"
LABELS_NAME = "synth.slp"

# --- 1. Skeleton -------------------------------------------------------------------------------

# Legs as (name, side, rest angle from the heading in degrees, knee bend in degrees, gait group).
# Side +1 is the animal's left. Tripod gait: legs of group 0 swing together, against group 1.
LEGS = [
    ("L1", +1, 45.0, -30.0, 0),
    ("R1", -1, 45.0, -30.0, 1),
    ("L2", +1, 90.0, 25.0, 1),
    ("R2", -1, 90.0, 25.0, 0),
    ("L3", +1, 135.0, 30.0, 0),
    ("R3", -1, 135.0, 30.0, 1),
]
BODY_NODES = ["head", "thorax", "abdomen"]
NODES = BODY_NODES + [f"leg{leg}_{joint}" for leg, *_ in LEGS for joint in ("knee", "tip")]
HEAD, THORAX, ABDOMEN = 0, 1, 2


def knee_index(leg: int) -> int:
    """Node index of the knee of leg number `leg` (0-5, in `LEGS` order); the tip follows it."""
    return len(BODY_NODES) + 2 * leg


def make_skeleton() -> sio.Skeleton:
    """The insect skeleton: 15 nodes, a tree rooted at the thorax, left/right symmetries."""
    edges = [["thorax", "head"], ["thorax", "abdomen"]]
    symmetries = []
    for leg, *_ in LEGS:
        edges += [["thorax", f"leg{leg}_knee"], [f"leg{leg}_knee", f"leg{leg}_tip"]]
        if leg.startswith("L"):
            mirror = "R" + leg[1:]
            symmetries += [[f"leg{leg}_{j}", f"leg{mirror}_{j}"] for j in ("knee", "tip")]
    return sio.Skeleton(nodes=NODES, edges=edges, symmetries=symmetries, name="insect")


# --- 2. Looks ----------------------------------------------------------------------------------

GOLDEN = 0.6180339887  # steps of the golden ratio spread any number of animals over a range


@dataclass(frozen=True)
class Look:
    """How one animal is drawn."""

    scale: float  # body length relative to the default (size / 5)
    level: int  # grey level of the body (the background is around 165)
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


def shared_look(rng: np.random.Generator) -> Look:
    """A look shared by all animals of an unidentified video, with a little random variation."""
    return Look(scale=rng.uniform(0.95, 1.05), level=int(rng.integers(48, 63)), stripes=0, spot=False)


def body_length(size: int) -> float:
    """Default body length in pixels, head to abdomen tip, for a frame of `size` pixels."""
    return size / 5


# --- 3. Motion ---------------------------------------------------------------------------------

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
ARRIVED = 0.5  # distance at which a waypoint or a meeting is reached, body lengths
WALL_MARGIN = 0.6  # keep the thorax this far from the frame edges, body lengths
CENTRAL = (0.3, 0.7)  # waypoints lie in this central part of the frame, fraction of its size


@dataclass
class Motion:
    """Body state of every animal in every frame."""

    centre: np.ndarray  # (frames, animals, 2) thorax position, pixels
    heading: np.ndarray  # (frames, animals) radians, 0 along +x, increasing toward +y
    turn_rate: np.ndarray  # (frames, animals) rad / s
    speed: np.ndarray  # (frames, animals) pixels / s
    gait_phase: np.ndarray  # (frames, animals) radians


def unit(angle: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 2) pointing along `angle` (...)."""
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles folded into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def central_points(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n random waypoints (n, 2) in the central part of the frame."""
    return rng.uniform(*CENTRAL, (n, 2)) * size


def simulate_motion(animals: int, frames: int, size: int, fps: float, rng: np.random.Generator) -> Motion:
    """Walk the animals around the frame for `frames` steps of 1 / fps seconds.

    Each animal heads for its own random waypoint in the central region and picks a new one on
    arrival; every few seconds a meeting makes every animal head for the others instead, so they
    come together and walk across each other. Outside the safe box near the walls an animal
    heads for the frame centre. Drawing random numbers in the same order every step makes a
    shorter video the start of a longer one with the same seed.
    """
    body, dt = body_length(size), 1.0 / fps
    centre = central_points(rng, animals, size)
    heading = rng.uniform(-np.pi, np.pi, animals)
    turn_rate = np.zeros(animals)
    speed = np.zeros(animals)
    phase = rng.uniform(0, 2 * np.pi, animals)
    walking = np.ones(animals, dtype=bool)
    mode_left = rng.exponential(WALK_TIME, animals)
    cruise = rng.uniform(*WALK_SPEED, animals) * body
    waypoint = central_points(rng, animals, size)
    meeting, meeting_left, next_meeting = False, 0.0, rng.uniform(*MEET_EVERY)

    record = {name: [] for name in ("centre", "heading", "turn_rate", "speed", "gait_phase")}
    for _ in range(frames):
        for name, value in zip(record, (centre, heading, turn_rate, speed, phase)):
            record[name].append(value.copy())

        # Where to go: a meeting, a waypoint, or away from the walls.
        next_meeting -= dt
        if not meeting and next_meeting <= 0 and animals > 1:
            meeting, meeting_left = True, MEET_TIMEOUT
        if meeting:
            others = (centre.sum(axis=0) - centre) / (animals - 1)
            waypoint = others
            meeting_left -= dt
            closest = np.linalg.norm(centre[:, None] - centre[None], axis=-1)[np.triu_indices(animals, 1)].min()
            if closest < ARRIVED * body or meeting_left <= 0:
                meeting, next_meeting = False, rng.uniform(*MEET_EVERY)
                waypoint = central_points(rng, animals, size)
        arrived = np.linalg.norm(waypoint - centre, axis=-1) < ARRIVED * body
        waypoint[arrived] = central_points(rng, int(arrived.sum()), size)
        goal = waypoint - centre
        margin = WALL_MARGIN * body
        near_wall = ((centre < margin) | (centre > size - 1 - margin)).any(axis=-1)
        goal[near_wall] = size / 2 - centre[near_wall]

        # Turn toward the goal, less so when standing still.
        error = wrap(np.arctan2(goal[:, 1], goal[:, 0]) - heading)
        gain = TURN_GAIN * (0.2 + 0.8 * np.minimum(1.0, speed / body))
        turn_rate += dt * (gain * error - TURN_DAMPING * turn_rate)
        turn_rate += TURN_NOISE * np.sqrt(dt) * rng.standard_normal(animals)
        turn_rate = np.clip(turn_rate, -MAX_TURN, MAX_TURN)
        heading = wrap(heading + dt * turn_rate)

        # Switch between walking and pausing, then ease toward the speed of the current mode.
        mode_left -= dt
        switch = mode_left <= 0
        walking = walking ^ switch
        new_walk = rng.exponential(WALK_TIME, animals)
        new_pause = rng.uniform(*PAUSE_TIME, animals)
        new_cruise = rng.uniform(*WALK_SPEED, animals) * body
        mode_left = np.where(switch, np.where(walking, new_walk, new_pause), mode_left)
        cruise = np.where(switch & walking, new_cruise, cruise)
        speed = speed + (np.where(walking, cruise, 0.0) - speed) * min(1.0, dt / SPEED_TAU)

        centre = centre + dt * speed[:, None] * unit(heading)
        phase = phase + 2 * np.pi * dt * speed / (STRIDE * body)

    return Motion(**{name: np.array(values) for name, values in record.items()})


# --- 4. Keypoints ------------------------------------------------------------------------------

# Body plan, in body lengths. Head and abdomen centres sit on the body axis around the thorax;
# ellipse axes are (along the body, across it). Head to abdomen tip is about one body length.
HEAD_OFFSET = 0.22
ABDOMEN_OFFSET = 0.36
HEAD_AXES = (0.085, 0.075)
THORAX_AXES = (0.12, 0.085)
ABDOMEN_AXES = (0.24, 0.115)
FEMUR = 0.26
TIBIA = 0.28
LEG_WIDTH = 0.04
FOOT_RADIUS = 0.03
NECK_WIDTH = 0.07
STRIPE_WIDTH = 0.045
STRIPES_AT = (-0.45, 0.35, -0.2)  # stripe positions along the abdomen, clear of its node
SPOT_AT = 0.78  # spot position behind the abdomen node, fraction of the abdomen's half length
SPOT_RADIUS = 0.04
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


# --- 5. Frames ---------------------------------------------------------------------------------

SHIFT = 4  # OpenCV draws at 1 / 2**SHIFT pixel precision with fixed-point coordinates
BACKGROUND_LEVEL = 165.0
SENSOR_NOISE = 3.0  # standard deviation of per-frame pixel noise, grey levels


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
        centre = rng.uniform(0, size, 2)
        radius = rng.uniform(0.03, 0.1) * size
        cv2.circle(blobs, fixed(centre), fixed(radius), rng.uniform(-25, 25), -1, cv2.LINE_AA, SHIFT)
    blobs = cv2.GaussianBlur(blobs, (0, 0), size / 100)
    floor = BACKGROUND_LEVEL + 15 * shading + 6 * grain + blobs
    return np.clip(np.rint(floor), 0, 255).astype(np.uint8)


def draw_ellipse(image: np.ndarray, centre: np.ndarray, axes: tuple[float, float], angle: float, level: int):
    """Fill an anti-aliased ellipse; `axes` in pixels along and across `angle` (radians)."""
    cv2.ellipse(image, fixed(centre), fixed(axes), np.degrees(angle), 0, 360, level, -1, cv2.LINE_AA, SHIFT)


def draw_line(image: np.ndarray, start: np.ndarray, end: np.ndarray, width: float, level: int):
    """Draw an anti-aliased line with round ends, centred on `start` and `end`."""
    cv2.line(image, fixed(start), fixed(end), level, max(1, round(width)), cv2.LINE_AA, SHIFT)


def draw_markings(image: np.ndarray, abdomen: np.ndarray, axis: np.ndarray, length: float, look: Look):
    """Light stripes across the abdomen and a light spot at its rear; `axis` points forward.

    Positions along the abdomen are fractions of its half length, so stripes keep clear of the
    abdomen node and of each other at any size.
    """
    along, across = ABDOMEN_AXES[0] * length, ABDOMEN_AXES[1] * length
    normal = np.array([-axis[1], axis[0]])
    light = min(255, look.level + 90)
    for u in STRIPES_AT[: look.stripes]:
        half_width = 0.95 * across * np.sqrt(1 - u**2)
        middle = abdomen + u * along * axis
        draw_line(image, middle - half_width * normal, middle + half_width * normal, STRIPE_WIDTH * length, light)
    if look.spot:
        cv2.circle(image, fixed(abdomen - SPOT_AT * along * axis), fixed(SPOT_RADIUS * length), light, -1, cv2.LINE_AA, SHIFT)


def draw_animal(image: np.ndarray, points: np.ndarray, length: float, look: Look):
    """Draw one animal from its keypoints (nodes, 2) into `image` (H, W) uint8, in place.

    Ellipses are centred on the head, thorax and abdomen nodes; each leg is a line from the
    thorax through its knee node to its tip node, which is the centre of a round foot.
    Legs go first so the body covers their roots.
    """
    head, thorax, abdomen = points[HEAD], points[THORAX], points[ABDOMEN]
    for leg in range(len(LEGS)):
        knee, tip = points[knee_index(leg)], points[knee_index(leg) + 1]
        draw_line(image, thorax, knee, LEG_WIDTH * length, look.level)
        draw_line(image, knee, tip, LEG_WIDTH * length, look.level)
        cv2.circle(image, fixed(tip), fixed(FOOT_RADIUS * length), look.level, -1, cv2.LINE_AA, SHIFT)

    def angle(vector: np.ndarray) -> float:
        return float(np.arctan2(vector[1], vector[0]))

    abdomen_axis = (thorax - abdomen) / np.linalg.norm(thorax - abdomen)
    draw_ellipse(image, abdomen, tuple(length * np.array(ABDOMEN_AXES)), angle(abdomen_axis), look.level)
    draw_markings(image, abdomen, abdomen_axis, length, look)
    draw_line(image, thorax, head, NECK_WIDTH * length, look.level)
    draw_ellipse(image, thorax, tuple(length * np.array(THORAX_AXES)), angle(head - abdomen), look.level)
    draw_ellipse(image, head, tuple(length * np.array(HEAD_AXES)), angle(head - thorax), max(0, look.level - 12))


def render_frames(
    points: np.ndarray, lengths: np.ndarray, looks: list[Look], background: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Frames (frames, H, W) uint8 of animals with keypoints (frames, animals, nodes, 2).

    Animals are drawn in index order (later ones on top) on `background` (H, W), then every
    frame gets fresh sensor noise.
    """
    frames = np.empty((len(points),) + background.shape, dtype=np.uint8)
    for f, frame_points in enumerate(points):
        image = background.copy()
        for animal_points, length, look in zip(frame_points, lengths, looks):
            draw_animal(image, animal_points, length, look)
        noise = SENSOR_NOISE * rng.standard_normal(background.shape, dtype=np.float32)
        frames[f] = np.clip(image + noise + 0.5, 0, 255).astype(np.uint8)
    return frames


# --- Arrays without files ----------------------------------------------------------------------


@dataclass
class Synth:
    """A synthetic video in memory."""

    images: np.ndarray  # (frames, size, size) uint8 grey frames
    points: np.ndarray  # (frames, animals, nodes, 2) keypoints in pixels, NaN outside the frame
    looks: list[Look]  # per animal
    motion: Motion
    track_names: list[str]  # per animal


def check_arguments(animals: int, frames: int, size: int, fps: float):
    """Refuse values that cannot make a video, with a message naming the value."""
    if animals < 1:
        raise PosennError(f"synth: animals must be at least 1, got {animals}")
    if frames < 1:
        raise PosennError(f"synth: frames must be at least 1, got {frames}")
    if size < 64 or size % 2:
        raise PosennError(f"synth: size must be an even number of pixels, at least 64, got {size}")
    if not fps > 0:
        raise PosennError(f"synth: fps must be positive, got {fps}")


def synthesize(
    animals: int = 2, frames: int = 300, size: int = 256, seed: int = 0, identity: bool = False, fps: float = 30.0
) -> Synth:
    """Make the frames and keypoints of a synthetic video; the same seed gives the same video."""
    check_arguments(animals, frames, size, fps)
    background_rng, look_rng, motion_rng, noise_rng = np.random.default_rng(seed).spawn(4)
    looks = [identity_look(k) if identity else shared_look(look_rng) for k in range(animals)]
    lengths = np.array([body_length(size) * look.scale for look in looks])
    motion = simulate_motion(animals, frames, size, fps, motion_rng)
    points = body_points(motion, lengths)
    images = render_frames(points, lengths, looks, make_background(size, background_rng), noise_rng)
    names = [f"animal_{k}" for k in range(animals)]
    return Synth(images=images, points=hide_outside(points, size), looks=looks, motion=motion, track_names=names)


# --- 6. Files ----------------------------------------------------------------------------------

VIDEO_CRF = 12  # H.264 quality: low enough that compression barely blurs the body parts


def replace_atomically(path: Path, write) -> None:
    """Call `write(temporary_path)` on a temporary file next to `path`, then rename it to `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_video(images: np.ndarray, path: Path, fps: float) -> None:
    """Encode grey frames (frames, H, W) uint8 as H.264 in `path`; H and W must be even."""
    height, width = images.shape[1:]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        pix_fmt_in="gray",
        fps=fps,
        quality=None,
        macro_block_size=1,
        output_params=["-crf", str(VIDEO_CRF), "-preset", "superfast"],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for image in images:
        writer.send(np.ascontiguousarray(image))
    writer.close()


def make_labels(synth: Synth, fps: float) -> sio.Labels:
    """User instances for every animal in every frame, each on its animal's track.

    The video is recorded by file name only, so sleap-io finds it next to the .slp wherever
    the folder goes. An animal entirely out of the frame gets no instance.
    """
    frames, size = synth.images.shape[:2]
    video = sio.Video(
        filename=VIDEO_NAME,
        open_backend=False,
        backend_metadata={"type": "MediaVideo", "shape": [frames, size, size, 1], "grayscale": True, "fps": fps},
    )
    skeleton = make_skeleton()
    tracks = [sio.Track(name=name) for name in synth.track_names]
    labeled_frames = []
    for f, frame_points in enumerate(synth.points):
        instances = [
            sio.Instance.from_numpy(animal_points, skeleton=skeleton, track=track)
            for animal_points, track in zip(frame_points, tracks)
            if not np.isnan(animal_points).all()
        ]
        labeled_frames.append(sio.LabeledFrame(video=video, frame_idx=f, instances=instances))
    return sio.Labels(labeled_frames=labeled_frames, videos=[video], skeletons=[skeleton], tracks=tracks)


def generate(
    out_dir: Path,
    animals: int = 2,
    frames: int = 300,
    size: int = 256,
    seed: int = 0,
    identity: bool = False,
    fps: float = 30.0,
) -> Path:
    """Write OUT_DIR/synth.mp4 and OUT_DIR/synth.slp; return the .slp path.

    With `identity`, each animal has its own look, the same in every video, so identities can be
    learned; without it all animals look alike. The video is written first so the labels never
    point at a missing video.
    """
    synth = synthesize(animals=animals, frames=frames, size=size, seed=seed, identity=identity, fps=fps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = make_labels(synth, fps)
    replace_atomically(out_dir / VIDEO_NAME, lambda path: write_video(synth.images, path, fps))
    slp_path = out_dir / LABELS_NAME
    replace_atomically(slp_path, lambda path: sio.save_slp(labels, str(path), verbose=False))
    return slp_path
