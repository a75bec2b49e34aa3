"""Images as input to `posenn track`: folders, patterns and single images round-trip into `.slp`."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import sleap_io as sio
from typer.testing import CliRunner

from posenn.cli import app
from posenn.errors import PosennError
from posenn.inference.inputs import expand_inputs, outputs_for

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def clip_images(clip: Path, folder: Path, count: int) -> list[Path]:
    """The first `count` frames of a video as PNGs named `frame1.png` … (natural order differs
    from plain sorting once past 9)."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(clip))
    paths = []
    for i in range(count):
        paths.append(folder / f"frame{i + 1}.png")
        cv2.imwrite(str(paths[-1]), capture.read()[1])
    return paths


def instances(path: Path) -> dict[int, np.ndarray]:
    """Frame index → `(n, nodes, 2)` points of a predictions file."""
    labels = sio.load_slp(str(path), open_videos=False)
    return {lf.frame_idx: np.stack([inst.numpy() for inst in lf.instances]) for lf in labels.labeled_frames}


def track_command(inputs: list[str], pair: list[Path], *extra: str) -> list[str]:
    return ["track", *inputs, "-m", str(pair[0]), "-m", str(pair[1]), "--device", "cpu", "--max-instances", "2", "--quiet", *extra]


def test_image_folder_round_trips_into_slp(realtime_pair, realtime_clip, tmp_path):
    paths = clip_images(realtime_clip, tmp_path / "frames", 12)
    runner = CliRunner()
    result = runner.invoke(app, track_command([str(tmp_path / "frames")], realtime_pair))
    assert result.exit_code == 0, result.output
    output = tmp_path / "frames.predictions.slp"
    labels = sio.load_slp(str(output))
    video = labels.videos[0]
    assert video.filename == [str(p.resolve()) for p in paths]  # natural order: frame2 before frame10
    assert video.shape == (12, 128, 128, 1) and video[11].shape == (128, 128, 1)
    assert len(labels.labeled_frames) == 12
    # The same poses as the video, whose decoded frames the PNGs hold exactly.
    result = runner.invoke(app, track_command([str(realtime_clip)], realtime_pair, "--frames", "0-11", "-o", str(tmp_path / "video.slp")))
    assert result.exit_code == 0, result.output
    from_video, from_images = instances(tmp_path / "video.slp"), instances(output)
    assert from_video.keys() == from_images.keys()
    for frame_idx, points in from_video.items():
        np.testing.assert_allclose(from_images[frame_idx], points, atol=1e-3)


def test_pattern_and_single_image_inputs(realtime_pair, realtime_clip, tmp_path):
    paths = clip_images(realtime_clip, tmp_path / "frames", 3)
    pattern = str(tmp_path / "frames" / "frame*.png")
    assert expand_inputs([pattern, paths[0]]) == [Path(pattern), paths[0]]
    assert outputs_for([Path(pattern), paths[0]], None) == [tmp_path / "frames.predictions.slp",
                                                           paths[0].with_name("frame1.png.predictions.slp")]
    result = CliRunner().invoke(app, track_command([pattern, str(paths[0])], realtime_pair, "-o", str(tmp_path / "out")))
    assert result.exit_code == 0, result.output
    assert len(sio.load_slp(str(tmp_path / "out" / "frames.predictions.slp")).labeled_frames) == 3
    single = sio.load_slp(str(tmp_path / "out" / "frame1.png.predictions.slp"))
    assert single.videos[0].filename == [str(paths[0].resolve())] and len(single.labeled_frames) == 1


def test_folders_without_videos_or_images_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PosennError, match="holds no videos .* or images"):
        expand_inputs([tmp_path / "empty"])
