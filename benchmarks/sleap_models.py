"""SLEAP's own models run in posenn: how close to the engines' outputs and predictions.

Table 1: for each sleap-nn and SLEAP 1.x folder in `../shared/data/interop`, the largest absolute
difference between posenn's network and the engine's reference outputs (sleap-nn's
`reference_outputs.npz`, Keras' `dummy_activations.h5`), over every output.
Table 2: `posenn track` with the sleap-nn folders against `sleap-nn predict`'s
`reference_predictions*.slp`, and the SLEAP 1.x folders against the labels of their training
frame: instances per frame, identities, largest point distance.

    python benchmarks/sleap_models.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import sleap_io as sio
import torch
from common import report
from scipy.optimize import linear_sum_assignment

from posenn.interop.folders import load_foreign, read_foreign
from posenn.interop.model import reference_outputs
from posenn.interop.weights import head_name
from posenn.inference.run import TrackOptions, track_inputs

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
INTEROP = DATA / "interop"
TRACKED = [
    ("sleap-nn bottom-up", ["sleap_nn_models/minimal_instance_bottomup"], "minimal_instance.pkg.slp",
     "sleap_nn_models/minimal_instance_bottomup/reference_predictions.slp"),
    ("sleap-nn multi-class bottom-up", ["sleap_nn_models/minimal_instance_multiclass_bottomup"], "minimal_instance.pkg.slp",
     "sleap_nn_models/minimal_instance_multiclass_bottomup/reference_predictions.slp"),
    ("sleap-nn top-down", ["sleap_nn_models/minimal_instance_centroid", "sleap_nn_models/minimal_instance_centered_instance"],
     "minimal_instance.pkg.slp", "sleap_nn_models/minimal_instance_centered_instance/reference_predictions_topdown.slp"),
    ("sleap-nn single instance", ["sleap_nn_models/minimal_instance_single_instance"], "small_robot_minimal.slp",
     "sleap_nn_models/minimal_instance_single_instance/reference_predictions.slp"),
    ("SLEAP 1.x top-down", ["sleap_legacy_models/minimal_instance.UNet.centroid", "sleap_legacy_models/minimal_instance.UNet.centered_instance"],
     "minimal_instance.pkg.slp", None),
    ("SLEAP 1.x bottom-up", ["sleap_legacy_models/minimal_instance.UNet.bottomup"], "minimal_instance.pkg.slp", None),
    ("SLEAP 1.x single instance", ["sleap_legacy_models/minimal_robot.UNet.single_instance"], "small_robot_minimal.slp", None),
]


def expected_outputs(folder: Path) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The reference input and outputs (channels first) stored beside a model."""
    if (folder / "reference_outputs.npz").is_file():
        stored = np.load(folder / "reference_outputs.npz")
        return torch.from_numpy(stored["input"]), {k: torch.from_numpy(stored[k]) for k in stored.files if k != "input"}
    with h5py.File(folder / "dummy_activations.h5", "r") as file:
        shape = json.loads(file["metadata"][()])["input_shape"]
        outputs = {head_name(k): torch.from_numpy(np.asarray(file[k])) for k in file if k != "metadata"}
    outputs = {k: v.permute(0, 3, 1, 2) if v.ndim == 4 else v for k, v in outputs.items()}
    return torch.zeros(shape[0], shape[3], shape[1], shape[2]), outputs


def parity_rows() -> list[dict]:
    rows = []
    for folder in sorted((INTEROP / "sleap_nn_models").iterdir()) + sorted((INTEROP / "sleap_legacy_models").iterdir()):
        model = read_foreign(folder)
        _, network, _ = load_foreign(folder)
        images, expected = expected_outputs(folder)
        found = reference_outputs(model, network, images)
        rows.append({
            "engine": model.kind, "model": folder.name, "outputs": ", ".join(sorted(expected)),
            "max_abs_difference": f"{max(float((found[k] - v).abs().max()) for k, v in expected.items()):.1e}",
        })
    return rows


def tracked_rows(work: Path) -> list[dict]:
    rows = []
    for name, models, labels, reference in TRACKED:
        output = work / f"{len(rows)}.slp"
        track_inputs([DATA / labels], [INTEROP / m for m in models], output, TrackOptions(device="cpu", quiet=True))
        ours = sio.load_slp(str(output), open_videos=False)
        truth = sio.load_slp(str(INTEROP / reference if reference else DATA / labels), open_videos=False)
        counts, names, worst = True, True, 0.0
        for frame in truth.labeled_frames:
            mine = next((f.instances for f in ours.labeled_frames if f.frame_idx == frame.frame_idx), [])
            counts &= len(mine) == len(frame.instances)
            cost = np.array([[np.nanmean(np.linalg.norm(a.numpy() - b.numpy(), axis=-1)) for b in mine] for a in frame.instances])
            for i, j in zip(*linear_sum_assignment(cost)):
                a, b = frame.instances[i], mine[j]
                worst = max(worst, float(np.nanmax(np.linalg.norm(a.numpy() - b.numpy(), axis=-1))))
                names &= (a.track.name if a.track else None) == (b.track.name if b.track else None) or reference is None
        rows.append({
            "models": name, "compared_with": "sleap-nn predict" if reference else "training labels",
            "same_instance_counts": counts, "same_identities": names if reference else "-",
            "largest_point_distance_px": round(worst, 2),
        })
    return rows


def main() -> None:
    report("posenn's network against the engines' own outputs", parity_rows(), "sleap_models_outputs")
    with tempfile.TemporaryDirectory() as work:
        report("posenn track with SLEAP's models", tracked_rows(Path(work)), "sleap_models_predictions")


if __name__ == "__main__":
    main()
