"""`posenn convert`: predictions to NWB, SLEAP analysis HDF5 and DeepLabCut CSV round trip within
1e-6 px with their tracks and scores, movement loads each file, pynwb validates the NWB file; and
DeepLabCut, Lightning Pose and COCO labels become `.slp` files that sleap-io opens with images."""

import shutil

import numpy as np
import pandas as pd
import pytest
import sleap_io as sio
from typer.testing import CliRunner

from posenn.cli import app
from posenn.io.tracks import track_arrays

runner = CliRunner()
TOL = 1e-6
OPENFIELD_CSV = "openfield_mouse/labeled-data/m4s1/CollectedData_Pranav.csv"


@pytest.fixture(scope="module")
def fly(shared_data):
    path = shared_data / "centered_pair_predictions.slp"
    if not path.is_file():
        pytest.skip(f"sample data not found at {path}: see shared/data/README.md")
    labels = sio.load_slp(str(path), open_videos=False)
    return path, track_arrays(labels, path)


def convert(*args: str) -> str:
    result = runner.invoke(app, ["convert", *map(str, args)])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_nwb_keeps_points_scores_tracks_and_timestamps(fly, tmp_path):
    from movement.io import load_poses
    from pynwb import NWBHDF5IO, validate

    source, truth = fly
    out = tmp_path / "fly.nwb"
    convert(source, "-o", out)
    assert validate(path=str(out)) == []
    with NWBHDF5IO(str(out), "r", load_namespaces=True) as io:
        behavior = io.read().processing["behavior"]
        for track in ("1", "2", "13"):  # both flies and a short fragment (reading all 27 takes seconds)
            k = truth.tracks.index(track)
            estimation = behavior[track]
            assert list(estimation.skeleton.nodes[:]) == truth.nodes
            for n, node in enumerate(truth.nodes):
                series = estimation.pose_estimation_series[node]
                np.testing.assert_allclose(series.data[:], truth.points[:, k, n], atol=TOL)
                np.testing.assert_allclose(series.confidence[:], truth.point_scores[:, k, n], atol=TOL)
            np.testing.assert_allclose(behavior[f"{track}_instance_score"].data[:], truth.instance_scores[:, k], atol=TOL)
        np.testing.assert_allclose(behavior["1"].pose_estimation_series["head"].timestamps[:], np.arange(1100) / 15.0)
    ds = load_poses.from_nwb_file(out, pose_estimation_key="2")
    position = ds.position.sel(keypoints=truth.nodes).values[:, :, :, 0]  # (time, space, keypoints)
    np.testing.assert_allclose(position.transpose(0, 2, 1), truth.points[:, 1], atol=TOL)
    assert ds.fps == 15.0


def test_nwb_timestamps_from_a_file(fly, tmp_path):
    from pynwb import NWBHDF5IO

    source, truth = fly
    times = 12.5 + np.cumsum(np.random.default_rng(0).uniform(0.05, 0.08, truth.frames))  # a drifting camera clock
    pd.DataFrame({"frame": np.arange(truth.frames), "timestamp": times}).to_csv(tmp_path / "frames.csv", index=False)
    out = tmp_path / "fly.nwb"
    convert(source, "-o", out, "--timestamps", tmp_path / "frames.csv")
    with NWBHDF5IO(str(out), "r", load_namespaces=True) as io:
        series = io.read().processing["behavior"]["1"].pose_estimation_series["thorax"]
        np.testing.assert_allclose(series.timestamps[:], times, atol=1e-12)
    pd.DataFrame({"timestamp": times[:10]}).to_csv(tmp_path / "short.csv", index=False)
    result = runner.invoke(app, ["convert", str(source), "-o", str(tmp_path / "bad.nwb"), "--timestamps", str(tmp_path / "short.csv")])
    assert result.exit_code == 2 and "10 timestamps for a video of 1100 frames" in result.output
    assert not (tmp_path / "bad.nwb").exists()


def test_analysis_h5_round_trip(fly, tmp_path):
    from movement.io import load_poses

    source, truth = fly
    out = tmp_path / "fly.analysis.h5"
    convert(source, "-o", out)
    back = track_arrays(sio.load_analysis_h5(str(out)), out)
    assert back.tracks == truth.tracks and back.nodes == truth.nodes
    np.testing.assert_allclose(back.points, truth.points, atol=TOL)
    np.testing.assert_allclose(back.point_scores, truth.point_scores, atol=TOL)
    np.testing.assert_allclose(back.instance_scores, truth.instance_scores, atol=TOL)
    ds = load_poses.from_sleap_file(out)
    assert list(ds.individuals.values) == truth.tracks
    np.testing.assert_allclose(ds.position.values.transpose(0, 3, 2, 1), truth.points, atol=1e-4)  # movement keeps float32


def test_deeplabcut_csv_round_trip(fly, tmp_path):
    from movement.io import load_poses

    source, truth = fly
    out = tmp_path / "fly.csv"
    convert(source, "-o", out)
    ds = load_poses.from_dlc_file(out)
    assert list(ds.individuals.values) == truth.tracks and list(ds.keypoints.values) == truth.nodes
    np.testing.assert_allclose(ds.position.values.transpose(0, 3, 2, 1), truth.points, atol=TOL)
    np.testing.assert_allclose(ds.confidence.values.transpose(0, 2, 1), truth.point_scores, atol=TOL)


def dlc_points(csv) -> np.ndarray:
    """(frames, nodes, 2) from a single-animal DeepLabCut CSV, nodes sorted by name."""
    table = pd.read_csv(csv, header=[0, 1, 2], index_col=0)
    nodes = sorted(table.columns.get_level_values(1).unique())
    return np.stack([table.xs(node, axis=1, level=1).to_numpy() for node in nodes], axis=1)


def slp_points(path) -> np.ndarray:
    labels = sio.load_slp(str(path))
    order = np.argsort(labels.skeleton.node_names)
    return np.stack([frame.instances[0].numpy()[order] for frame in labels.labeled_frames]), labels


def test_openfield_deeplabcut_project_to_slp_with_images(shared_data, tmp_path):
    csv = shared_data / OPENFIELD_CSV
    if not csv.is_file():
        pytest.skip(f"sample data not found at {csv}: see shared/data/README.md")
    out = tmp_path / "openfield.slp"
    assert "116 labeled frames, 4 nodes" in convert(shared_data / "openfield_mouse" / "config.yaml", "-o", out)
    points, labels = slp_points(out)
    np.testing.assert_allclose(points, dlc_points(csv), atol=TOL)
    assert labels.video.shape[:3] == (116, 480, 640)
    image = labels.labeled_frames[5].image
    assert image.shape[:2] == (480, 640) and image.std() > 10  # a real picture, not a blank
    packed = tmp_path / "openfield.pkg.slp"
    convert(csv, "-o", packed)
    points, labels = slp_points(packed)
    np.testing.assert_allclose(points, dlc_points(csv), atol=TOL)
    np.testing.assert_array_equal(labels.labeled_frames[5].image, image)  # embedded frames, same pixels


def test_lightning_pose_and_coco_labels_to_slp(shared_data, tmp_path):
    csv = shared_data / OPENFIELD_CSV
    if not csv.is_file():
        pytest.skip(f"sample data not found at {csv}: see shared/data/README.md")
    # Lightning Pose keeps CollectedData.csv at the data folder's root, image paths relative to it
    (tmp_path / "lp" / "labeled-data" / "m4s1").mkdir(parents=True)
    lines = csv.read_text().splitlines()[:8]  # 3 header rows, 5 frames
    for line in lines[3:]:
        name = line.split(",")[0]
        shutil.copy(csv.parent / name.split("/")[-1], tmp_path / "lp" / name)
    (tmp_path / "lp" / "CollectedData.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "lp.slp"
    convert(tmp_path / "lp" / "CollectedData.csv", "--from", "lp", "-o", out)
    points, labels = slp_points(out)
    np.testing.assert_allclose(points, dlc_points(csv)[:5], atol=TOL)
    assert labels.labeled_frames[0].image.shape[:2] == (480, 640)

    coco = tmp_path / "mouse.json"
    sio.save_coco(labels, str(coco), image_filenames=[str(tmp_path / "lp" / line.split(",")[0]) for line in lines[3:]])
    convert(coco, "-o", tmp_path / "coco.slp")
    back, coco_labels = slp_points(tmp_path / "coco.slp")
    np.testing.assert_allclose(back, points, atol=TOL)
    assert coco_labels.labeled_frames[0].image.shape[:2] == (480, 640)


def test_errors_name_the_file_and_what_was_expected(shared_data, tmp_path):
    pkg = shared_data / "minimal_instance.pkg.slp"
    if not pkg.is_file():
        pytest.skip(f"sample data not found at {pkg}: see shared/data/README.md")
    result = runner.invoke(app, ["convert", str(pkg), "-o", str(tmp_path / "x.nwb"), "--fps", "30"])
    assert result.exit_code == 2 and "without a track" in result.output
    result = runner.invoke(app, ["convert", str(pkg), "-o", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2 and "unknown output type '.mp4'" in result.output
    result = runner.invoke(app, ["convert", str(tmp_path / "none.csv"), "-o", str(tmp_path / "x.slp")])
    assert result.exit_code == 2 and "Input not found" in result.output
