"""Tracking: link per-frame predicted instances into identities that persist across frames.

Two passes (see each module):

1. `online`: frame by frame, each detection continues the most similar recent track
   (`similarity`: OKS, box IoU or centroid distance; `matching`: Hungarian or greedy), optionally
   after moving the tracks by constant velocity or optical flow (`flow`);
2. `postprocess`: tracks are cut into tracklets, short ones dropped, and the rest linked into as
   many identities as there are animals (given as `max_tracks` or inferred).

`track_frames` works on arrays; `track_labels` re-tracks a SLEAP `.slp`.
"""

from posenn.tracking.labels import track_labels
from posenn.tracking.options import FrameInstances, TrackerOptions
from posenn.tracking.pipeline import track_frames

__all__ = ["FrameInstances", "TrackerOptions", "track_frames", "track_labels"]
