"""Skeletons drawn over video frames: an `.mp4` of a frame range, or a `.png`/`.jpg` strip of frames.

The backend of `posenn render PREDICTIONS.slp -o OUT.mp4`. Frames are decoded in order on a
background thread; each instance is drawn in one colour per track (or per instance when untracked).
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import sleap_io as sio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from posenn.errors import PosennError
from posenn.io.atomic import atomic_path
from posenn.io.labels import load_labels
from posenn.io.video import iter_frames, parse_frame_ranges, prefetch

VIDEO_SUFFIXES = (".mp4",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_FPS = 30.0
STRIP_COLUMNS = 4
VIDEO_CRF = 18  # H.264 quality: visually lossless, small files
SHIFT = 4  # OpenCV fixed-point bits: shapes are placed with 1/16 pixel precision

RGB = tuple[int, int, int]


def render(
    labels_path: Path,
    output: Path,
    frames: str | None = None,
    scale: float = 1.0,
    max_frames_in_strip: int = 8,
    show_scores: bool = False,
    quiet: bool = False,
) -> Path:
    """Draw the instances of a labels file over its video and write a video or an image strip.

    Args:
        labels_path: `.slp` with predicted or user instances on one video.
        output: `.mp4` for a video, `.png`/`.jpg`/`.jpeg` for a grid of up to 4 columns of frames.
        frames: frame ranges like "0-99,200-300"; by default every frame from the first to the
            last labeled one (video) or all labeled frames (strip).
        scale: size of the output frames relative to the source frames.
        max_frames_in_strip: number of labeled frames, evenly spread, shown in a strip.
        show_scores: write each predicted instance's score next to it.
        quiet: hide the progress bar.

    Returns:
        The output path.

    Raises:
        PosennError: for an unknown output suffix, an unreadable labels file, several videos, or
            a selection without labeled frames.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        allowed = ", ".join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)
        raise PosennError(f"{output}: unknown output type '{output.suffix}'; use one of {allowed}.")
    if scale <= 0:
        raise PosennError(f"--scale must be positive, got {scale}.")
    labels = load_labels(labels_path)
    if len(labels.videos) != 1:
        raise PosennError(
            f"{labels_path}: holds {len(labels.videos)} videos; render draws exactly one video. "
            "Split the labels per video first."
        )
    video = labels.videos[0]
    by_index = {int(lf.frame_idx): lf for lf in labels.labeled_frames if lf.instances}
    selection = parse_frame_ranges(frames, video.shape[0]) if frames else None
    labeled = sorted(set(by_index) & set(selection)) if selection else sorted(by_index)
    if not labeled:
        raise PosennError(f"{labels_path}: no labeled frames in the frames selected ({frames or 'all'}).")
    drawer = Drawer(labels, scale, show_scores)
    with atomic_path(output) as tmp:
        if suffix in VIDEO_SUFFIXES:
            indices = selection or list(range(labeled[0], labeled[-1] + 1))
            write_video(drawn_frames(video, indices, by_index, drawer, quiet), tmp, video, scale)
        else:
            picks = spread(labeled, max_frames_in_strip)
            images = drawn_frames(video, picks, by_index, drawer, quiet)
            tiles = [label_corner(image, f"frame {idx}") for idx, image in zip(picks, images)]
            if not cv2.imwrite(str(tmp), cv2.cvtColor(strip(tiles), cv2.COLOR_RGB2BGR)):
                raise PosennError(f"{output}: could not write the image.")
    return output


def spread(indices: list[int], count: int) -> list[int]:
    """Up to `count` of `indices`, evenly spaced from the first to the last."""
    positions = np.linspace(0, len(indices) - 1, max(1, count)).round().astype(int)
    return [indices[i] for i in np.unique(positions)]


def track_colour(index: int) -> RGB:
    """A bright colour for track (or instance) `index`; neighbouring indices get distant hues."""
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


class Drawer:
    """Draws the instances of a labeled frame on an image, in output pixels."""

    def __init__(self, labels: sio.Labels, scale: float, show_scores: bool):
        self.edges = [tuple(edge) for edge in labels.skeleton.edge_inds]
        self.track_index = {track: i for i, track in enumerate(labels.tracks)}
        self.scale = scale
        self.show_scores = show_scores

    def colours(self, frame: sio.LabeledFrame) -> list[RGB]:
        """Colour of each instance: by its track's index in the labels, else by its position."""
        return [track_colour(self.track_index.get(inst.track, i)) for i, inst in enumerate(frame.instances)]

    def draw(self, image: np.ndarray, frame: sio.LabeledFrame) -> np.ndarray:
        """Resize `image` (RGB) by the scale and draw every instance of `frame` on it."""
        height, width = image.shape[:2]
        out_size = output_size(height, width, self.scale)
        if out_size != (height, width):
            interpolation = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, out_size[::-1], interpolation=interpolation)
        factors = np.array([out_size[1] / width, out_size[0] / height])
        thickness = max(1, round(min(out_size) / 200))
        for instance, colour in zip(frame.instances, self.colours(frame)):
            points = (instance.numpy()[:, :2] + 0.5) * factors - 0.5  # pixel centres stay centred
            self.draw_instance(image, points, colour, thickness)
            self.write_name(image, instance, points, colour, thickness)
        return image

    def draw_instance(self, image: np.ndarray, points: np.ndarray, colour: RGB, thickness: int) -> None:
        """Edges between visible nodes, then a filled circle on every visible node."""
        fixed = np.nan_to_num(points * (1 << SHIFT)).round().astype(np.int64)
        visible = ~np.isnan(points).any(axis=1)
        for a, b in self.edges:
            if visible[a] and visible[b]:
                cv2.line(image, tuple(fixed[a]), tuple(fixed[b]), colour, thickness, cv2.LINE_AA, SHIFT)
        for point in fixed[visible]:
            cv2.circle(image, tuple(point), (thickness + 1) << SHIFT, colour, -1, cv2.LINE_AA, SHIFT)

    def write_name(
        self, image: np.ndarray, instance: sio.Instance, points: np.ndarray, colour: RGB, thickness: int
    ) -> None:
        """Track name (and score when asked) just above the instance's top-left corner."""
        parts = [instance.track.name] if instance.track is not None else []
        if self.show_scores and isinstance(instance, sio.PredictedInstance):
            parts.append(f"{instance.score:.2f}")
        visible = points[~np.isnan(points).any(axis=1)]
        if not parts or not len(visible):
            return
        x, y = visible.min(axis=0)
        put_text(image, " ".join(parts), (int(x), int(y) - 4 * thickness), colour, thickness)


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """`(height, width)` of a scaled frame, rounded to even numbers as H.264 requires."""
    return 2 * max(1, round(height * scale / 2)), 2 * max(1, round(width * scale / 2))


def put_text(image: np.ndarray, text: str, origin: tuple[int, int], colour: RGB, thickness: int) -> None:
    """Text outlined in black, legible on any background."""
    font_scale = 0.4 * thickness
    for fill, width in (((0, 0, 0), thickness + 2), (colour, thickness)):
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, fill, width, cv2.LINE_AA)


def label_corner(image: np.ndarray, text: str) -> np.ndarray:
    """Write `text` in the top-left corner of `image`."""
    thickness = max(1, round(min(image.shape[:2]) / 200))
    put_text(image, text, (4 * thickness, 14 * thickness), (255, 255, 255), thickness)
    return image


def strip(tiles: list[np.ndarray]) -> np.ndarray:
    """Tiles side by side, wrapped into rows of at most `STRIP_COLUMNS`; empty cells are black."""
    columns = min(STRIP_COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    height, width = tiles[0].shape[:2]
    grid = np.zeros((rows * height, columns * width, 3), np.uint8)
    for i, tile in enumerate(tiles):
        row, column = divmod(i, columns)
        grid[row * height : (row + 1) * height, column * width : (column + 1) * width] = tile
    return grid


class FrameRateColumn(ProgressColumn):
    """Frames per second of a rich progress task."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f} frames/s" if task.speed else "- frames/s", style="cyan")


def drawn_frames(
    video: sio.Video, indices: list[int], by_index: dict[int, sio.LabeledFrame], drawer: Drawer, quiet: bool
) -> Iterator[np.ndarray]:
    """Read `indices` in order and yield each frame drawn (plain but scaled when unlabeled)."""
    empty = sio.LabeledFrame(video=video, frame_idx=-1)
    columns = (TextColumn("[bold]Rendering"), BarColumn(), MofNCompleteColumn(), FrameRateColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet, transient=True) as progress:
        task = progress.add_task("render", total=len(indices))
        for idx, image in prefetch(iter_frames(video, indices, channels=3)):
            yield drawer.draw(np.ascontiguousarray(image), by_index.get(idx, empty))
            progress.advance(task)


def write_video(images: Iterator[np.ndarray], path: Path, video: sio.Video, scale: float) -> None:
    """Encode RGB frames as H.264 (yuv420p) at the source fps, or 30 when the video has none."""
    height, width = output_size(video.shape[1], video.shape[2], scale)
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=video.fps or DEFAULT_FPS,
        quality=None,
        macro_block_size=1,
        pix_fmt_out="yuv420p",
        output_params=["-crf", str(VIDEO_CRF), "-preset", "fast"],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    try:
        for image in images:
            writer.send(image)
    finally:
        writer.close()
