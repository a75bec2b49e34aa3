"""Training learns the person in dance.mp4: held-out error well under a constant-pose guess."""

import numpy as np
import sleap_io as sio

from posenn.autoconfig import config_from_labels
from posenn.inference.run import TrackOptions, track
from posenn.training.run import train


def poses(labels: sio.Labels) -> dict[int, np.ndarray]:
    """Frame index → `(nodes, 2)` of the first instance."""
    return {lf.frame_idx: lf.instances[0].numpy()[:, :2] for lf in labels if lf.instances}


def test_held_out_error_beats_mean_pose(shared_file, tmp_path):
    config = config_from_labels(shared_file("dance.mp4.labels.slp"), "single_instance", "predicted")
    config.train.epochs = 5
    config.train.steps_per_epoch = 40
    config.train.run_dir = tmp_path / "model"
    run_dir = train(config, quiet=True)

    train_poses = poses(sio.load_slp(str(run_dir / "labels_train.slp")))
    truth = poses(sio.load_slp(str(run_dir / "labels_val.slp")))
    mean_pose = np.nanmean(np.stack(list(train_poses.values())), axis=0)

    predictions = track(run_dir / "labels_val.slp", [run_dir], tmp_path / "val.slp", TrackOptions(quiet=True))
    predicted = poses(predictions)
    assert set(predicted) == set(truth), "one instance predicted in every held-out frame"

    model_errors = np.concatenate([np.linalg.norm(predicted[i] - truth[i], axis=1) for i in truth])
    baseline_errors = np.concatenate([np.linalg.norm(mean_pose - truth[i], axis=1) for i in truth])
    model_median = np.nanmedian(model_errors)
    baseline_median = np.nanmedian(baseline_errors)
    print(f"dance held-out median error: model {model_median:.1f} px, mean pose {baseline_median:.1f} px")
    assert model_median < 0.4 * baseline_median
    assert np.mean(~np.isnan(model_errors)) > 0.8, "most labeled parts found"
