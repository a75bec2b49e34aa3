"""A synthetic video in memory: motion, keypoints and frames put together."""

from dataclasses import dataclass

import numpy as np

from posenn.errors import PosennError
from posenn.synth.motion import Motion, simulate_motion
from posenn.synth.pose import body_points, hide_outside
from posenn.synth.render import Look, hidden_points, identity_look, make_background, render_frames, shared_look, subtle_look
from posenn.synth.skeleton import body_length


@dataclass
class Synth:
    """A synthetic video in memory."""

    images: np.ndarray  # (frames, size, size) uint8 grey frames
    points: np.ndarray  # (frames, animals, nodes, 2) keypoints in pixels, NaN outside the frame
    hidden: np.ndarray  # (frames, animals, nodes) bool: under the body of an animal drawn above
    looks: list[Look]  # one per animal
    motion: Motion
    track_names: list[str]  # one per animal


def check_arguments(animals: int, frames: int, size: int, fps: float, contact_time: float = 0.0) -> None:
    """Refuse values that cannot make a video, with a message naming the value."""
    if animals < 1:
        raise PosennError(f"synth: animals must be at least 1, got {animals}")
    if frames < 1:
        raise PosennError(f"synth: frames must be at least 1, got {frames}")
    if size < 64 or size % 2:
        raise PosennError(f"synth: size must be an even number of pixels >= 64, got {size}")
    if not fps > 0:
        raise PosennError(f"synth: fps must be positive, got {fps}")
    if not contact_time >= 0:
        raise PosennError(f"synth: contact_time must be 0 or more seconds, got {contact_time}")


def synthesize(
    animals: int = 2,
    frames: int = 300,
    size: int = 256,
    seed: int = 0,
    identity: bool = False,
    fps: float = 30.0,
    subtle: bool = False,
    contact_time: float = 0.0,
) -> Synth:
    """Make the frames and keypoints of a synthetic video; the same seed gives the same video.

    With `identity`, each animal has its own look, the same in every video, so identities can be
    learned; without it all animals look alike. `subtle` identities differ only in size, within
    14% (as a female and a male of one species may). Animals that meet stay together, touching
    and overlapping, for `contact_time` seconds. Background, looks, motion and sensor noise draw
    from separate random streams, so changing one never changes the others.
    """
    check_arguments(animals, frames, size, fps, contact_time)
    background_rng, look_rng, motion_rng, noise_rng = np.random.default_rng(seed).spawn(4)
    if subtle:
        looks = [subtle_look(k) for k in range(animals)]
    else:
        looks = [identity_look(k) if identity else shared_look(look_rng) for k in range(animals)]
    lengths = np.array([body_length(size) * look.scale for look in looks])
    motion = simulate_motion(animals, frames, size, fps, motion_rng, contact_time)
    points = body_points(motion, lengths)
    background = make_background(size, background_rng)
    images = render_frames(points, lengths, looks, background, noise_rng)
    return Synth(
        images=images,
        points=hide_outside(points, size),
        hidden=hidden_points(points, lengths, size),
        looks=looks,
        motion=motion,
        track_names=[f"animal_{k}" for k in range(animals)],
    )
