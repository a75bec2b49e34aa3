"""sleap-nn and SLEAP 1.x model folders run in posenn: the same network outputs as the engines
computed, the same instances as `sleap-nn predict`, an import that exports and predicts alike."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import sleap_io as sio
import torch

from posenn.errors import PosennError
from posenn.interop.folders import foreign_kind, import_model, load_foreign, read_foreign
from posenn.interop.model import reference_outputs
from posenn.interop.weights import head_name
from posenn.inference.run import TrackOptions, track_inputs

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SLEAP_NN = ["bottomup", "centered_instance", "centroid", "multiclass_bottomup", "multiclass_centered_instance", "single_instance"]
LEGACY = [
    "min_tracks_2node.UNet.bottomup_multiclass",
    "min_tracks_2node.UNet.topdown_multiclass",
    "minimal_instance.UNet.bottomup",
    "minimal_instance.UNet.centered_instance",
    "minimal_instance.UNet.centroid",
    "minimal_robot.UNet.single_instance",
]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def interop(shared_data) -> Path:
    folder = shared_data / "interop"
    if not folder.is_dir():
        pytest.skip(f"interop models not found at {folder}: see shared/data/README.md")
    return folder


def sleap_nn_dir(interop: Path, name: str) -> Path:
    return interop / "sleap_nn_models" / f"minimal_instance_{name}"


@pytest.mark.parametrize("name", SLEAP_NN)
def test_sleap_nn_network_gives_the_reference_outputs(interop, name):
    model_dir = sleap_nn_dir(interop, name)
    model = read_foreign(model_dir)
    _, network, _ = load_foreign(model_dir)
    reference = np.load(model_dir / "reference_outputs.npz")
    outputs = reference_outputs(model, network, torch.from_numpy(reference["input"]))
    heads = [key for key in reference.files if key != "input"]
    assert sorted(heads) == sorted(outputs)
    for head in heads:
        expected = torch.from_numpy(reference[head])
        assert outputs[head].shape == expected.shape, head
        assert (outputs[head] - expected).abs().max() < TOLERANCE, head


@pytest.mark.parametrize("name", LEGACY)
def test_sleap_legacy_network_gives_the_keras_outputs(interop, name):
    model_dir = interop / "sleap_legacy_models" / name
    model = read_foreign(model_dir)
    _, network, _ = load_foreign(model_dir)
    with h5py.File(model_dir / "dummy_activations.h5", "r") as file:
        shape = json.loads(file["metadata"][()])["input_shape"]  # (batch, height, width, channels)
        expected = {head_name(key): np.asarray(file[key]) for key in file if key != "metadata"}
    outputs = reference_outputs(model, network, torch.zeros(shape[0], shape[3], shape[1], shape[2]))
    assert sorted(expected) == sorted(outputs)
    for head, values in expected.items():
        values = torch.from_numpy(values)
        if values.ndim == 4:
            values = values.permute(0, 3, 1, 2)  # Keras is channels-last
        assert outputs[head].shape == values.shape, head
        assert (outputs[head] - values).abs().max() < TOLERANCE, head


def predict(labels: Path, model_dirs: list[Path], folder: Path) -> sio.Labels:
    """`posenn track` on the labeled frames of `labels`; the predictions, read without their video
    (the package's images are not written beside them)."""
    track_inputs([labels], model_dirs, folder / "ours.slp", TrackOptions(device="cpu"))
    return sio.load_slp(str(folder / "ours.slp"), open_videos=False)


def matched_distances(reference: sio.Labels, ours: sio.Labels) -> list[tuple[int, np.ndarray, str | None, str | None]]:
    """For each reference frame: its instances matched to ours (Hungarian on mean distance);
    per pair the point distances `(nodes,)` and both track names."""
    from scipy.optimize import linear_sum_assignment

    pairs = []
    for frame in reference.labeled_frames:
        found = [f for f in ours.labeled_frames if f.frame_idx == frame.frame_idx]
        assert found, f"no prediction for frame {frame.frame_idx}"
        theirs, mine = frame.instances, found[0].instances
        assert len(mine) == len(theirs), f"frame {frame.frame_idx}: {len(mine)} instances, reference {len(theirs)}"
        cost = np.array([[np.nanmean(np.linalg.norm(a.numpy() - b.numpy(), axis=-1)) for b in mine] for a in theirs])
        for i, j in zip(*linear_sum_assignment(cost)):
            a, b = theirs[i], mine[j]
            distances = np.linalg.norm(a.numpy() - b.numpy(), axis=-1)
            pairs.append((frame.frame_idx, distances, a.track.name if a.track else None, b.track.name if b.track else None))
    return pairs


@pytest.mark.parametrize(
    ("models", "labels", "reference", "tolerance"),
    [
        (["bottomup"], "minimal_instance.pkg.slp", "bottomup/reference_predictions.slp", 0.05),
        (["multiclass_bottomup"], "minimal_instance.pkg.slp", "multiclass_bottomup/reference_predictions.slp", 0.05),
        # sleap-nn resamples each crop around the subpixel centroid; posenn cuts whole pixels.
        (["centroid", "centered_instance"], "minimal_instance.pkg.slp", "centered_instance/reference_predictions_topdown.slp", 1.1),
    ],
)
def test_track_finds_what_sleap_nn_predict_found(interop, shared_file, tmp_path, models, labels, reference, tolerance):
    model_dirs = [sleap_nn_dir(interop, name) for name in models]
    ours = predict(shared_file(labels), model_dirs, tmp_path)
    expected = sio.load_slp(str(sleap_nn_dir(interop, reference.split("/")[0]) / reference.split("/")[1]))
    pairs = matched_distances(expected, ours)
    assert len(pairs) == sum(len(frame.instances) for frame in expected.labeled_frames)
    for frame, distances, their_track, our_track in pairs:
        assert distances.max() < tolerance, (frame, distances)
        assert their_track == our_track  # the identities of the multi-class model; None for the others


def test_single_instance_matches_sleap_nn_but_where_its_map_is_flat(interop, shared_file, tmp_path):
    """The robot model (trained on 2 frames) has a near-flat map for node A in frame 0: its
    highest cell there (2.83) is one cell (8 px) beside the one sleap-nn picked (2.74), a tie the
    two engines' resizing breaks differently. Everything else agrees within half a pixel."""
    model_dir = sleap_nn_dir(interop, "single_instance")
    ours = predict(shared_file("small_robot_minimal.slp"), [model_dir], tmp_path)
    pairs = matched_distances(sio.load_slp(str(model_dir / "reference_predictions.slp")), ours)
    by_frame = {frame: distances for frame, distances, _, _ in pairs}
    assert by_frame[79].max() < 0.5
    assert by_frame[0][1] < 0.5 and by_frame[0][0] < 8.5


@pytest.mark.parametrize(
    ("models", "max_error"),
    [(["minimal_instance.UNet.centroid", "minimal_instance.UNet.centered_instance"], 2.0), (["minimal_instance.UNet.bottomup"], 1.0)],
)
def test_sleap_legacy_models_find_their_training_frame(interop, shared_file, tmp_path, models, max_error):
    model_dirs = [interop / "sleap_legacy_models" / name for name in models]
    ours = predict(shared_file("minimal_instance.pkg.slp"), model_dirs, tmp_path)
    pairs = matched_distances(sio.load_slp(str(shared_file("minimal_instance.pkg.slp"))), ours)
    assert len(pairs) == 2
    assert max(distances.max() for _, distances, _, _ in pairs) < max_error


def test_mixed_pair_of_a_sleap_centroid_and_an_imported_instance_model(interop, shared_file, tmp_path):
    imported = tmp_path / "instance"
    import_model(sleap_nn_dir(interop, "centered_instance"), imported)
    centroid = interop / "sleap_legacy_models" / "minimal_instance.UNet.centroid"
    ours = predict(shared_file("minimal_instance.pkg.slp"), [centroid, imported], tmp_path)
    pairs = matched_distances(sio.load_slp(str(shared_file("minimal_instance.pkg.slp"))), ours)
    assert len(pairs) == 2 and max(distances.max() for _, distances, _, _ in pairs) < 2.5


def test_import_writes_a_posenn_folder_that_predicts_and_exports_alike(interop, tmp_path):
    from posenn.inference.onnx import export_model
    from posenn.inference.predictor import read_model_folder

    source = sleap_nn_dir(interop, "multiclass_centered_instance")
    record = import_model(source, tmp_path / "imported")
    assert record["engine"] == "sleap-nn" and set(record["files"]) == {"training_config.yaml", "best.ckpt"}
    assert json.loads((tmp_path / "imported" / "imported_from.json").read_text())["source"] == str(source.resolve())
    config, network = read_model_folder(tmp_path / "imported")
    assert config.model.type == "multiclass_topdown" and config.model.classes == ["female", "male"]
    assert config.model.grid == "corner" and config.inference.refinement == "integral"
    _, original, _ = load_foreign(source)
    images = torch.from_numpy(np.load(source / "reference_outputs.npz")["input"])
    with torch.no_grad():
        for a, b in zip(network(images), original(images)):
            assert torch.equal(a, b)
    difference = export_model(network, config.data.channels, 128, 128, tmp_path / "model.onnx")
    assert difference < 1e-3 and (tmp_path / "model.onnx").stat().st_size > 0


def test_import_refuses_a_folder_holding_a_model(interop, tmp_path):
    import_model(sleap_nn_dir(interop, "centroid"), tmp_path / "out")
    with pytest.raises(PosennError, match="already holds a posenn model"):
        import_model(sleap_nn_dir(interop, "centroid"), tmp_path / "out")


def test_unsupported_backbone_names_the_field(tmp_path):
    folder = tmp_path / "convnext_model"
    folder.mkdir()
    (folder / "training_config.yaml").write_text(
        "data_config: {preprocessing: {}, skeletons: []}\n"
        "model_config:\n  backbone_config: {unet: null, convnext: {model_type: tiny}}\n"
        "  head_configs: {centroid: {confmaps: {sigma: 2.0, output_stride: 2}}}\n"
    )
    assert foreign_kind(folder) == "sleap-nn"
    with pytest.raises(PosennError, match=r"model_config.backbone_config uses convnext; posenn runs sleap-nn models with the unet"):
        read_foreign(folder)


def test_stacked_unet_is_refused_with_the_field(tmp_path):
    folder = tmp_path / "legacy"
    folder.mkdir()
    config = {
        "data": {"preprocessing": {}, "labels": {"skeletons": []}},
        "model": {
            "backbone": {"unet": {"max_stride": 16, "filters": 16, "filters_rate": 2.0, "stacks": 2}},
            "heads": {"centroid": {"sigma": 2.0, "output_stride": 2}},
        },
    }
    (folder / "training_config.json").write_text(json.dumps(config))
    (folder / "best_model.h5").write_bytes(b"")
    with pytest.raises(PosennError, match=r"model.backbone.unet.stacks = 2: posenn runs single-stack UNets"):
        read_foreign(folder)


def test_a_folder_of_no_known_engine_says_what_was_expected(tmp_path):
    with pytest.raises(PosennError, match="training_config.yaml from sleap-nn, or training_config.json from SLEAP 1.x"):
        read_foreign(tmp_path)
