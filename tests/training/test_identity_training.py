"""Identity models trained on one synthetic video name the animals of another (new seed, same
animals) in every frame, with fewer identity switches than the online tracker re-linking the same
poses. The test video runs at 5 frames/s, where animals cross each other between two frames."""

from pathlib import Path

import pytest
import sleap_io as sio

from posenn.evaluation.tracking import evaluate_tracking
from posenn.inference.run import TrackOptions, track
from posenn.synth import generate
from posenn.tracking import TrackerOptions, track_labels

SIZE = 160
STEPS = 3000


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("identity")
    train_labels = generate(work / "train", animals=2, frames=600, size=SIZE, seed=1, identity=True)
    test_labels = generate(work / "test", animals=2, frames=150, size=SIZE, seed=2, identity=True, fps=5)
    return train_labels, test_labels


def check_identities(name: str, truth_path: Path, predictions: sio.Labels) -> None:
    """IDF1 >= 0.9 and fewer switches than the online tracker on the same poses."""
    truth = sio.load_slp(str(truth_path))
    assert sorted(track.name for track in predictions.tracks) == ["animal_0", "animal_1"]
    identities = evaluate_tracking(truth, predictions)
    tracked = evaluate_tracking(truth, track_labels(predictions, TrackerOptions()))
    print(
        f"{name}: identity IDF1 {identities['idf1']:.3f}, {identities['id_switches']} switches; "
        f"online tracker on the same poses: IDF1 {tracked['idf1']:.3f}, {tracked['id_switches']} switches"
    )
    assert identities["idf1"] >= 0.9
    assert identities["id_switches"] < tracked["id_switches"]


def test_multiclass_topdown_keeps_identities(videos, tmp_path, train_for_steps):
    train_labels, test_labels = videos
    centroid = train_for_steps(train_labels, "centroid", tmp_path / "centroid", 300, ["data.scale=0.5"])
    identity = train_for_steps(train_labels, "multiclass_topdown", tmp_path / "topdown", STEPS, ["augment.rotation=180"])
    predictions = track(test_labels.with_suffix(".mp4"), [centroid, identity], tmp_path / "pred.slp", TrackOptions(quiet=True))
    check_identities("multi-class top-down", test_labels, predictions)


def test_multiclass_bottomup_keeps_identities(videos, tmp_path, train_for_steps):
    train_labels, test_labels = videos
    identity = train_for_steps(train_labels, "multiclass_bottomup", tmp_path / "bottomup", STEPS, ["augment.rotation=180"])
    predictions = track(test_labels.with_suffix(".mp4"), [identity], tmp_path / "pred.slp", TrackOptions(quiet=True))
    check_identities("multi-class bottom-up", test_labels, predictions)
