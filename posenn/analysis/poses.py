"""Predictions as a movement dataset: loading, leaving out track fragments, cleaning, units.

The poses come in through movement's SLEAP loader (one individual per track; user instances win
over predicted ones in a frame). Cleaning is movement's own: points under a confidence threshold
become gaps, gaps up to a few frames are filled by linear interpolation over time, and the
positions are smoothed with a Savitzky-Golay filter. Positions are then divided by the pixels per
millimetre when given, and time is in frames or seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sleap_io as sio
import xarray as xr

from posenn.errors import PosennError
from posenn.io.movement_log import quiet_movement

CENTROID = "centroid"  # name of the extra keypoint holding each animal's centre
DEFAULT_FPS = 30.0  # frame rate assumed for speed thresholds when none is known


@dataclass
class Cleaning:
    """How raw predictions are cleaned before any measurement.

    Attributes:
        min_score: points with a lower confidence become gaps (user-labelled points, which have
            no score, are kept).
        max_gap: gaps of at most this many frames are filled by linear interpolation.
        smooth: Savitzky-Golay window in frames (odd, >= 3), or 0 for no smoothing.
        min_presence: tracks present in less than this fraction of the frames (fragments left
            by a tracker) are left out.
    """

    min_score: float = 0.1
    max_gap: int = 5
    smooth: int = 5
    min_presence: float = 0.05


@dataclass
class Units:
    """Units of the tables: lengths in px or mm, time in frames or s.

    Attributes:
        length: "px" or "mm".
        time: "frames" or "s".
        px_per_mm: pixels per millimetre, or None for pixels.
        fps: the frame rate used (given, from the video, or None when unknown).
        frame_time: duration of one frame in the time unit.
    """

    length: str
    time: str
    px_per_mm: float | None
    fps: float | None

    @property
    def frame_time(self) -> float:
        return 1.0 / self.fps if self.time == "s" else 1.0

    def per_second(self) -> float:
        """Time units per second (to turn a threshold per second into one per time unit)."""
        return 1.0 if self.time == "s" else 1.0 / (self.fps or DEFAULT_FPS)


@dataclass
class Poses:
    """Cleaned poses of one video.

    Attributes:
        position: `(time, space, keypoints, individuals)` in the length unit; the skeleton's nodes
            and a last keypoint `centroid` (a chosen node, or the mean of the visible nodes).
        source: the predictions file.
        units: units of `position` and of its time coordinate.
        frame_size: `(height, width)` of the video in pixels, or None when unknown.
        dropped_tracks: names of the tracks left out as fragments.
        nodes: the skeleton's node names.
    """

    position: xr.DataArray
    source: Path
    units: Units
    frame_size: tuple[int, int] | None
    dropped_tracks: list[str]
    nodes: list[str]

    @property
    def animals(self) -> list[str]:
        return [str(name) for name in self.position.individuals.values]

    @property
    def frames(self) -> np.ndarray:
        """Frame index of every time step, `(time,)`."""
        return np.arange(self.position.sizes["time"])


def video_info(labels: sio.Labels, source: Path) -> tuple[float | None, tuple[int, int] | None]:
    """Frame rate and `(height, width)` of the first video as recorded in the labels file."""
    if not labels.videos:
        raise PosennError(f"{source}: holds no video; expected predictions of one video.")
    video = labels.videos[0]
    metadata = video.backend_metadata or {}
    fps = metadata.get("fps")
    shape = metadata.get("shape")
    frame_size = (int(shape[1]), int(shape[2])) if shape and len(shape) >= 3 else None
    return (float(fps) if fps else None), frame_size


def check_tracks(labels: sio.Labels, source: Path) -> None:
    """Refuse frames holding several instances that no track tells apart."""
    for frame in labels.labeled_frames:
        untracked = [inst for inst in frame.instances if inst.track is None]
        if len(untracked) > 1 or (untracked and labels.tracks):
            raise PosennError(
                f"{source}: frame {frame.frame_idx} has {len(frame.instances)} instances and "
                f"{len(untracked)} without a track; expected one track per animal. Track the "
                "predictions first (posenn track ... --tracker oks)."
            )


def load_dataset(source: Path, fps: float | None) -> xr.Dataset:
    """movement's SLEAP loader, with its log messages kept off the console."""
    from movement.io import load_poses

    quiet_movement()
    try:
        return load_poses.from_sleap_file(source, fps=fps)
    except Exception as exc:  # movement raises several types for files it cannot read
        raise PosennError(f"{source}: movement could not load the predictions ({exc}).") from None


def keep_tracks(ds: xr.Dataset, min_presence: float, source: Path) -> tuple[xr.Dataset, list[str]]:
    """Leave out individuals present in fewer than `min_presence` of the frames."""
    present = ds.position.notnull().all("space").any("keypoints").mean("time")
    keep = present.values >= min_presence
    if not keep.any():
        raise PosennError(
            f"{source}: no track is present in at least {min_presence:.0%} of the frames "
            "(--min-presence); lower it to analyse short tracks."
        )
    dropped = [str(name) for name in ds.individuals.values[~keep]]
    return ds.isel(individuals=np.flatnonzero(keep)), dropped


def clean(ds: xr.Dataset, cleaning: Cleaning) -> xr.DataArray:
    """Confidence filter, gap interpolation and smoothing, all by movement."""
    from movement.filtering import filter_by_confidence, interpolate_over_time, savgol_filter

    confidence = ds.confidence.fillna(np.inf)  # user-labelled points carry no score
    position = filter_by_confidence(ds.position, confidence, threshold=cleaning.min_score)
    if cleaning.max_gap > 0:
        position = interpolate_over_time(position, method="linear", max_gap=cleaning.max_gap)
    if cleaning.smooth:
        # 'nearest' edges: SciPy's default polynomial fit at the edges refuses NaNs there
        position = savgol_filter(position, window=cleaning.smooth, polyorder=2, mode="nearest")
    return position


def add_centroid(position: xr.DataArray, centroid_node: str | None) -> xr.DataArray:
    """Append the keypoint `centroid`: the chosen node, or the mean of the visible nodes."""
    if centroid_node is None:
        centre = position.mean("keypoints", skipna=True)
    else:
        centre = position.sel(keypoints=centroid_node, drop=True)
    centre = centre.expand_dims(keypoints=[CENTROID]).transpose(*position.dims)
    return xr.concat([position, centre], dim="keypoints")


def check_options(cleaning: Cleaning, px_per_mm: float | None, fps: float | None) -> None:
    """Refuse option values that cannot work, naming the option."""
    if cleaning.smooth and (cleaning.smooth < 3 or cleaning.smooth % 2 == 0):
        raise PosennError(f"--smooth must be 0 or an odd number of frames >= 3, got {cleaning.smooth}.")
    if cleaning.max_gap < 0:
        raise PosennError(f"--max-gap must be >= 0 frames, got {cleaning.max_gap}.")
    if not 0 <= cleaning.min_presence <= 1:
        raise PosennError(f"--min-presence must be a fraction in [0, 1], got {cleaning.min_presence}.")
    if px_per_mm is not None and not px_per_mm > 0:
        raise PosennError(f"--px-per-mm must be positive, got {px_per_mm}.")
    if fps is not None and not fps > 0:
        raise PosennError(f"--fps must be positive, got {fps}.")


def load_poses(
    source: Path,
    cleaning: Cleaning | None = None,
    px_per_mm: float | None = None,
    fps: float | None = None,
    seconds: bool = False,
    centroid_node: str | None = None,
) -> Poses:
    """Load and clean the predictions of one video.

    Args:
        source: predictions `.slp` (or a SLEAP analysis `.h5`), one track per animal.
        cleaning: confidence threshold, gap filling, smoothing, fragment removal.
        px_per_mm: pixels per millimetre; lengths are in mm when given, else in pixels.
        fps: frame rate; overrides the video's and puts time in seconds.
        seconds: time in seconds at the video's frame rate.
        centroid_node: node used as each animal's centre (default: mean of the visible nodes).

    Returns:
        The cleaned poses with a `centroid` keypoint.

    Raises:
        PosennError: for a missing or unreadable file, untracked animals, an unknown node, no
            track long enough, seconds without a known frame rate, or bad option values.
    """
    cleaning = cleaning or Cleaning()
    source = Path(source)
    check_options(cleaning, px_per_mm, fps)
    if not source.is_file():
        raise PosennError(f"Predictions file not found: {source}")
    try:
        labels = sio.load_file(str(source), open_videos=False)
    except Exception as exc:  # sleap-io raises many types for a bad file
        raise PosennError(f"{source}: not a readable SLEAP predictions file ({exc}).") from None
    if not labels.labeled_frames:
        raise PosennError(f"{source}: holds no instances; expected predictions.")
    check_tracks(labels, source)
    nodes = list(labels.skeleton.node_names)
    if centroid_node is not None and centroid_node not in nodes:
        raise PosennError(f"--centroid: node '{centroid_node}' is not in the skeleton of {source}; nodes: {', '.join(nodes)}.")
    video_fps, frame_size = video_info(labels, source)
    rate = fps or video_fps
    in_seconds = seconds or fps is not None
    if in_seconds and rate is None:
        raise PosennError(f"{source}: the video's frame rate is not recorded; give it with --fps.")
    ds = load_dataset(source, rate if in_seconds else None)
    ds, dropped = keep_tracks(ds, cleaning.min_presence, source)
    position = add_centroid(clean(ds, cleaning), centroid_node)
    if px_per_mm is not None:
        position = position / px_per_mm
    position = position.astype(np.float64)
    units = Units(
        length="mm" if px_per_mm else "px", time="s" if in_seconds else "frames", px_per_mm=px_per_mm, fps=rate
    )
    return Poses(position, source, units, frame_size, dropped, nodes)
