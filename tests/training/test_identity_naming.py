"""Identity models on a small budget name the animals right: trained for a few hundred steps on one
synthetic video of two identified animals, run on another (new seed, same animals), at least
`MIN_NAMED_RIGHT` of the animals carry the right name (`posenn.evaluation.identity.named_right`:
the nearest prediction within 20 px, one-to-one). Multi-class top-down names are pooled along the
tracker's tracklets (`pool_identities`), multi-class bottom-up ones both pooled (the default of
`posenn track`) and frame by frame."""

from pathlib import Path

import pytest
import sleap_io as sio
from typer.testing import CliRunner

from posenn.cli import app
from posenn.evaluation.identity import named_right
from posenn.inference.run import TrackOptions, track
from posenn.synth import generate
from posenn.tracking import TrackerOptions

SIZE = 96
MIN_NAMED_RIGHT = 0.9


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("identity_naming")
    train_labels = generate(work / "train", animals=2, frames=200, size=SIZE, seed=1, identity=True)
    test_labels = generate(work / "test", animals=2, frames=100, size=SIZE, seed=2, identity=True)
    return train_labels, test_labels


ANY_ROTATION = ["augment.rotation=180"]


def check_named(name: str, truth_path: Path, predictions: sio.Labels) -> float:
    """Assert and return the share of the test animals named right."""
    right, unmatched = named_right(sio.load_slp(str(truth_path)), predictions)
    print(f"{name}: {right:.3f} named right, {unmatched} animals without a prediction within 20 px")
    assert right >= MIN_NAMED_RIGHT, f"{name}: {right:.3f} named right"
    return right


def test_multiclass_topdown_names_the_animals_pooled_at_least_as_well_as_frame_by_frame(videos, tmp_path, train_for_steps):
    train_labels, test_labels = videos
    centroid = train_for_steps(train_labels, "centroid", tmp_path / "centroid", 500, ANY_ROTATION)
    identity = train_for_steps(train_labels, "multiclass_topdown", tmp_path / "topdown", 900,
                               ANY_ROTATION + ["model.class_features=detached"])
    video, models = test_labels.with_suffix(".mp4"), [centroid, identity]
    frame_by_frame = track(video, models, tmp_path / "frames.slp", TrackOptions(quiet=True))
    pooled = track(video, models, tmp_path / "pooled.slp", TrackOptions(quiet=True, tracker=TrackerOptions()))
    right = check_named("multi-class top-down, frame by frame", test_labels, frame_by_frame)
    assert check_named("multi-class top-down, pooled", test_labels, pooled) >= right - 0.01


def test_multiclass_bottomup_names_the_animals_pooled_by_default_and_frame_by_frame(videos, tmp_path, train_for_steps):
    """`posenn track` pools an identity model's names along the tracker's tracklets unless told
    `--no-pool-identities`; both name the animals right."""
    train_labels, test_labels = videos
    identity = train_for_steps(train_labels, "multiclass_bottomup", tmp_path / "bottomup", 400, ANY_ROTATION)
    video = test_labels.with_suffix(".mp4")
    for name, flags in (("pooled", []), ("frame by frame", ["--no-pool-identities"])):
        output = tmp_path / f"{name}.slp"
        result = CliRunner().invoke(app, ["track", str(video), "-m", str(identity), "-o", str(output), "--quiet", *flags])
        assert result.exit_code == 0, result.output
        predictions = sio.load_slp(str(output), open_videos=False)
        assert (predictions.provenance["tracker"] != "identity model") == (name == "pooled"), predictions.provenance["tracker"]
        check_named(f"multi-class bottom-up, {name}", test_labels, predictions)
