"""The zoo's shipped models reproduce their cards on the public data, and the mouse model tracks a
session it never saw."""

import sys
from pathlib import Path

import numpy as np
import pytest

from posenn.inference.run import TrackOptions, track
from posenn.zoo.registry import PACKAGED_INDEX, read_index

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))
import build_zoo  # noqa: E402

SHIPPED = [model.name for model in read_index(str(PACKAGED_INDEX)).models]


@pytest.mark.parametrize("name", SHIPPED)
def test_card_figures_come_back(name, shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("POSENN_ZOO_INDEX", raising=False)
    rows = build_zoo.check([name], tmp_path)
    assert len(rows) == len(build_zoo.TOLERANCE)
    assert all(row["within"] for row in rows), rows


def test_mouse_model_finds_the_mouse_in_another_session(shared_data, tmp_path, monkeypatch):
    if "mouse-openfield" not in SHIPPED:
        pytest.skip("zoo:mouse-openfield is not in the packaged index")
    monkeypatch.delenv("POSENN_ZOO_INDEX", raising=False)
    video = shared_data / "openfield_mouse" / "videos" / "m3v1mp4.mp4"
    labels = track(video, [Path("zoo:mouse-openfield")], tmp_path / "m3v1.slp", TrackOptions(quiet=True, tracker=None, frames="0-299"))
    found = [np.isfinite(frame.instances[0].numpy()[:, 0]).sum() if frame.instances else 0 for frame in labels.labeled_frames]
    assert len(found) == 300
    assert np.mean(np.array(found) >= 3) >= 0.95
