"""Predictions to NWB with the ndx-pose extension, with per-frame timestamps.

Layout, in the processing module `behavior`: a `Skeletons` container with one `Skeleton` per track
(named `<track>_skeleton`), one `PoseEstimation` per track named by the track, holding one
`PoseEstimationSeries` per node (data `(frames, 2)` in pixels, NaN where the animal was not
found, confidence, and the timestamp of every frame in seconds), and a `TimeSeries`
`<track>_instance_score` with the instance scores. The video is an external `ImageSeries`
`video` in the acquisition group, holding the timestamps that every series links to, and each
`PoseEstimation` names it as its source video. Every series covers every frame of the video,
so frame k of any series is video frame k. movement reads each track with
`load_poses.from_nwb_file(path, pose_estimation_key=TRACK)`.

sleap-io's own NWB writer rounds the frame rate down to an integer and its reader renames tracks,
so the file is written here with pynwb and ndx-pose directly.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import numpy as np
import sleap_io as sio

from posenn.io.atomic import atomic_path
from posenn.io.tracks import TrackArrays

MODULE = "behavior"
REFERENCE_FRAME = "(0, 0) is the centre of the top-left pixel of the video frame; x to the right, y down."


def nwb_name(name: str) -> str:
    """A track name usable as an NWB object name (no '/')."""
    return name.replace("/", "_")


def write_nwb(
    path: Path,
    arrays: TrackArrays,
    skeleton: sio.Skeleton,
    timestamps: np.ndarray,
    video: str,
    frame_size: tuple[int, int] | None = None,
    description: str = "Pose estimates from posenn",
) -> Path:
    """Write tracked poses to an NWB file atomically.

    Args:
        path: the `.nwb` file to write.
        arrays: dense poses of one video.
        skeleton: the skeleton (node order of `arrays`, and its edges).
        timestamps: `(frames,)` time of every video frame in seconds, increasing.
        video: the video's file name, recorded as the original video.
        frame_size: `(height, width)` of the video in pixels, recorded when known.
        description: the session description.

    Returns:
        `path`.
    """
    import ndx_pose
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.image import ImageSeries

    nwbfile = NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime.now(datetime.timezone.utc),
    )
    module = nwbfile.create_processing_module(name=MODULE, description="Animal poses estimated from video by posenn.")
    edges = np.array(skeleton.edge_inds, dtype="uint8").reshape(-1, 2)
    clock = ImageSeries(  # the video, outside the file; it holds the timestamps every series links to
        name="video",
        description=f"The video the poses were estimated from: {video}.",
        unit="n.a.",
        external_file=[video],
        format="external",
        starting_frame=[0],
        timestamps=timestamps,
        dimension=[frame_size[1], frame_size[0]] if frame_size else None,
    )
    nwbfile.add_acquisition(clock)
    skeletons, estimations = [], []
    for k, track in enumerate(arrays.tracks):
        name = nwb_name(track)
        nwb_skeleton = ndx_pose.Skeleton(name=f"{name}_skeleton", nodes=arrays.nodes, edges=edges)
        skeletons.append(nwb_skeleton)
        series = []
        for n, node in enumerate(arrays.nodes):
            series.append(ndx_pose.PoseEstimationSeries(
                name=node,
                description=f"Position of {node} of {track}.",
                data=H5DataIO(arrays.points[:, k, n], compression=True),
                unit="pixels",
                reference_frame=REFERENCE_FRAME,
                timestamps=clock,
                confidence=H5DataIO(arrays.point_scores[:, k, n], compression=True),
                confidence_definition="Point-wise confidence score of the pose model (NaN: user-labelled or absent).",
            ))
        estimations.append(ndx_pose.PoseEstimation(
            name=name,
            pose_estimation_series=series,
            description=f"Estimated positions of the nodes of {track} in {Path(video).name}.",
            source_video=clock,
            skeleton=nwb_skeleton,
            source_software="posenn",
        ))
    module.add(ndx_pose.Skeletons(skeletons=skeletons))
    for k, (track, estimation) in enumerate(zip(arrays.tracks, estimations)):
        module.add(estimation)
        module.add(TimeSeries(
            name=f"{nwb_name(track)}_instance_score",
            description=f"Instance score of {track} in every frame (NaN: user-labelled or absent).",
            data=arrays.instance_scores[:, k],
            unit="n.a.",
            timestamps=clock,
        ))
    with atomic_path(Path(path)) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)
    return Path(path)
