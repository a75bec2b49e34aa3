"""Synthetic videos on disk: `synth.mp4` and `synth.slp`, each written atomically."""

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import sleap_io as sio

from posenn.io.atomic import atomic_path
from posenn.synth.scene import Synth, synthesize
from posenn.synth.skeleton import make_skeleton

VIDEO_NAME = "synth.mp4"
LABELS_NAME = "synth.slp"
VIDEO_CRF = 12  # H.264 quality: low enough that compression barely blurs the body parts


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

    The video is recorded by file name only, so it is found next to the .slp wherever the
    folder goes. An animal entirely out of the frame gets no instance. A part under another
    animal's body keeps its position but is marked not visible, as a labeller marks it in SLEAP.
    """
    frames, size = synth.images.shape[:2]
    video = sio.Video(
        filename=VIDEO_NAME,
        open_backend=False,
        backend_metadata={
            "type": "MediaVideo",
            "shape": [frames, size, size, 1],
            "grayscale": True,
            "fps": fps,
        },
    )
    skeleton = make_skeleton()
    tracks = [sio.Track(name=name) for name in synth.track_names]
    labeled_frames = []
    for f, frame_points in enumerate(synth.points):
        instances = []
        for animal_points, hidden, track in zip(frame_points, synth.hidden[f], tracks):
            if np.isnan(animal_points).all():
                continue
            instance = sio.Instance.from_numpy(animal_points, skeleton=skeleton, track=track)
            instance.points["visible"] &= ~hidden
            instances.append(instance)
        labeled_frames.append(sio.LabeledFrame(video=video, frame_idx=f, instances=instances))
    return sio.Labels(
        labeled_frames=labeled_frames, videos=[video], skeletons=[skeleton], tracks=tracks
    )


def generate(
    out_dir: Path,
    animals: int = 2,
    frames: int = 300,
    size: int = 256,
    seed: int = 0,
    identity: bool = False,
    fps: float = 30.0,
    subtle: bool = False,
    contact_time: float = 0.0,
) -> Path:
    """Write OUT_DIR/synth.mp4 and OUT_DIR/synth.slp; return the .slp path.

    See `synthesize` for the arguments. The video is written first, so the labels never name a
    missing video.
    """
    synth = synthesize(animals, frames, size, seed, identity, fps, subtle, contact_time)
    labels = make_labels(synth, fps)
    out_dir = Path(out_dir)
    with atomic_path(out_dir / VIDEO_NAME) as temporary:
        write_video(synth.images, temporary, fps)
    with atomic_path(out_dir / LABELS_NAME) as temporary:
        sio.save_slp(labels, str(temporary), verbose=False)
    return out_dir / LABELS_NAME
