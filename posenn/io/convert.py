"""`posenn convert`: poses between formats, through sleap-io (and movement for DeepLabCut CSV).

Predictions (`.slp`, or SLEAP analysis `.h5`) go out to:

- `.nwb`: NWB with ndx-pose (see `posenn.io.nwb`), timestamps from the video's frame rate,
  `--fps`, or a file with one timestamp per video frame;
- `.h5`: SLEAP analysis HDF5 (sleap-io);
- `.csv`: DeepLabCut-style CSV with one column group per track (movement's writer).

Labels come in from DeepLabCut (a `CollectedData_*.csv`, or a project's `config.yaml`/folder),
COCO keypoints (`.json`) and Lightning Pose (`CollectedData.csv`, DeepLabCut's layout) and go out to
`.slp` (or `.pkg.slp`, with the images embedded) for training and for the SLEAP GUI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sleap_io as sio

from posenn.errors import PosennError
from posenn.io.atomic import atomic_path
from posenn.io.movement_log import quiet_movement
from posenn.io.nwb import write_nwb
from posenn.io.tracks import TrackArrays, track_arrays, video_length

INPUT_FORMATS = ("auto", "slp", "analysis", "dlc", "coco", "lp")
OUTPUTS = ".nwb, .h5 (SLEAP analysis), .csv (DeepLabCut-style), .slp or .pkg.slp"


def input_format(source: Path, given: str) -> str:
    """The format of `source`: given, or from its name.

    Raises:
        PosennError: for an unknown format name or a file whose format cannot be told.
    """
    if given not in INPUT_FORMATS:
        raise PosennError(f"--from: unknown format '{given}'; expected one of {', '.join(INPUT_FORMATS)}.")
    if given != "auto":
        return given
    name = source.name.lower()
    if source.is_dir() or name.endswith((".yaml", ".yml")):
        return "dlc"
    for suffix, kind in ((".slp", "slp"), (".h5", "analysis"), (".csv", "dlc"), (".json", "coco")):
        if name.endswith(suffix):
            return kind
    raise PosennError(f"{source}: cannot tell the format from the name; give --from ({', '.join(INPUT_FORMATS[1:])}).")


def read_input(source: Path, kind: str) -> sio.Labels:
    """Load `source` through sleap-io.

    Raises:
        PosennError: when the file is missing or the reader fails.
    """
    if not source.exists():
        raise PosennError(f"Input not found: {source}")
    readers = {
        "slp": lambda: sio.load_slp(str(source), open_videos=False),
        "analysis": lambda: sio.load_analysis_h5(str(source)),
        "coco": lambda: sio.load_coco(str(source)),
        "lp": lambda: sio.load_dlc(str(source), config=False),
        "dlc": lambda: sio.load_dlc_project(str(source)) if source.is_dir() or source.suffix in (".yaml", ".yml") else sio.load_dlc(str(source)),
    }
    try:
        labels = readers[kind]()
    except PosennError:
        raise
    except Exception as exc:  # each reader raises its own types for a bad file
        raise PosennError(f"{source}: not a readable {kind} file ({type(exc).__name__}: {exc}).") from None
    if not labels.labeled_frames:
        raise PosennError(f"{source}: holds no labeled frames.")
    return labels


def read_timestamps(path: Path, frames: int) -> np.ndarray:
    """Timestamps in seconds of the first `frames` video frames from a CSV: one column, or a
    column named `timestamp`, `timestamps` or `time` (one row per frame, in frame order).

    Raises:
        PosennError: when the file is missing, has no such column, too few rows, or times that
            are not increasing.
    """
    if not path.is_file():
        raise PosennError(f"--timestamps: file not found: {path}")
    table = pd.read_csv(path)
    named = [column for column in table.columns if str(column).strip().lower() in ("timestamp", "timestamps", "time")]
    if named:
        values = table[named[0]]
    elif table.shape[1] == 1 and str(table.columns[0]).strip().replace(".", "", 1).lstrip("-").isdigit():
        values = pd.read_csv(path, header=None).iloc[:, 0]  # no header: the first row is a time
    else:
        raise PosennError(f"{path}: expected one column of times, or a column named 'timestamp' or 'time'; found {list(table.columns)}.")
    times = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if len(times) < frames:
        raise PosennError(f"{path}: {len(times)} timestamps for a video of {frames} frames; expected one per frame.")
    times = times[:frames]
    if np.isnan(times).any() or (np.diff(times) <= 0).any():
        raise PosennError(f"{path}: timestamps must be numbers (seconds) increasing from frame to frame.")
    return times


def frame_times(labels: sio.Labels, arrays: TrackArrays, timestamps: Path | None, fps: float | None, source: Path) -> np.ndarray:
    """Time of every frame in seconds: from the timestamps file, `fps`, or the video's rate."""
    if timestamps is not None:
        return read_timestamps(timestamps, arrays.frames)
    rate = fps or (labels.videos[0].backend_metadata or {}).get("fps")
    if not rate or rate <= 0:
        raise PosennError(f"{source}: the video's frame rate is not recorded; give --fps or --timestamps frames.csv.")
    return np.arange(arrays.frames) / float(rate)


def write_dlc_csv(path: Path, arrays: TrackArrays) -> None:
    """DeepLabCut-style CSV (scorer, individuals, bodyparts, coords rows; likelihood = point
    score) written by movement, one row per video frame."""
    from movement.io import load_poses, save_poses

    quiet_movement()
    position = arrays.points.transpose(0, 3, 2, 1)  # (time, space, keypoints, individuals)
    confidence = arrays.point_scores.transpose(0, 2, 1)
    ds = load_poses.from_numpy(position, confidence, individual_names=arrays.tracks, keypoint_names=arrays.nodes, source_software="posenn")
    with atomic_path(path) as tmp:
        tmp.unlink()  # movement refuses to overwrite a file
        save_poses.to_dlc_file(ds, tmp, split_individuals=False)


def frame_size(labels: sio.Labels) -> tuple[int, int] | None:
    """(height, width) of the first video as recorded, or None."""
    shape = (labels.videos[0].backend_metadata or {}).get("shape")
    return (int(shape[1]), int(shape[2])) if shape and len(shape) >= 3 else None


def convert(
    source: Path, output: Path, from_format: str = "auto", timestamps: Path | None = None, fps: float | None = None
) -> tuple[Path, str]:
    """Convert poses from `source` to the format named by `output`'s suffix.

    Args:
        source: predictions (`.slp`, analysis `.h5`) or labels (DeepLabCut CSV or project,
            COCO `.json`, Lightning Pose CSV).
        output: `.nwb`, `.h5`, `.csv`, `.slp` or `.pkg.slp`.
        from_format: the input format, or "auto" to tell it from the name.
        timestamps: NWB only: CSV with the time of every video frame in seconds.
        fps: NWB only: frame rate, when the video's is unknown or wrong.

    Returns:
        The output path and a one-line description of what was written.

    Raises:
        PosennError: for unknown formats, unreadable input, predictions that are not tracked,
            or NWB without any source of time.
    """
    source, output = Path(source), Path(output)
    name = output.name.lower()
    labels = read_input(source, input_format(source, from_format))
    if name.endswith(".slp"):
        embed = "user" if name.endswith(".pkg.slp") else False
        with atomic_path(output) as tmp:
            sio.save_slp(labels, str(tmp), embed=embed, verbose=False)
        return output, f"{len(labels.labeled_frames)} labeled frames, {len(labels.skeleton.nodes)} nodes"
    if not name.endswith((".nwb", ".h5", ".csv")):
        raise PosennError(f"{output}: unknown output type '{output.suffix}'; expected {OUTPUTS}.")
    arrays = track_arrays(labels, source)
    what = f"{arrays.frames} frames, {len(arrays.tracks)} tracks, {len(arrays.nodes)} nodes"
    if name.endswith(".nwb"):
        times = frame_times(labels, arrays, timestamps, fps, source)
        write_nwb(output, arrays, labels.skeleton, times, Path(str(labels.videos[0].filename)).name, frame_size(labels))
    elif name.endswith(".h5"):
        if labels.tracks:
            used = {id(inst.track) for frame in labels for inst in frame.instances}
            labels.tracks = [track for track in labels.tracks if id(track) in used]
        with atomic_path(output) as tmp:
            sio.save_analysis_h5(labels, str(tmp), labels_path=str(source), all_frames=video_length(labels.videos[0]) is not None)
    else:
        write_dlc_csv(output, arrays)
    return output, what
