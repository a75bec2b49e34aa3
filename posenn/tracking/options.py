"""What the tracker is given: its options and the detections of one frame."""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from posenn.errors import PosennError


@dataclass
class TrackerOptions:
    """How detections are linked into tracks; see `posenn.tracking` for the steps."""

    similarity: Literal["oks", "iou", "centroid"] = "oks"
    matching: Literal["hungarian", "greedy"] = "hungarian"
    window: int = 5  # candidates: the last instance of each track seen within this many frames
    max_tracks: int | None = None  # known number of animals: never more tracks than this
    min_similarity: float = 0.1  # below this a detection does not continue a track
    break_similarity: float = 0.3  # post-processing: a link less similar than this starts a new tracklet
    break_ambiguity: float = 0.5  # ... and so does one where a rival is this fraction as similar
    motion: Literal["none", "constant_velocity"] = "none"  # predict a track's pose from its last two
    optical_flow: bool = False  # shift last frame's points by Lucas-Kanade flow; needs frames
    max_gap: int = 30  # post-processing: link tracklets across gaps up to this many frames (further with max_tracks)
    min_track_length: int = 3  # post-processing: untrack tracklets shorter than this
    global_pass: bool = True  # offline linking of tracklets into identities
    oks_sigma: float = 0.1  # per-node OKS sigma; wider than COCO's 0.025 so motion between frames scores

    def __post_init__(self) -> None:
        """Refuse values the tracker cannot use, naming the field."""
        choices = {
            "similarity": ("oks", "iou", "centroid"),
            "matching": ("hungarian", "greedy"),
            "motion": ("none", "constant_velocity"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise PosennError(f"tracker: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.window < 1:
            raise PosennError(f"tracker: window must be at least 1, got {self.window}")
        if self.max_tracks is not None and self.max_tracks < 1:
            raise PosennError(f"tracker: max_tracks must be at least 1 or None, got {self.max_tracks}")
        if not (0 <= self.break_similarity <= 1 and 0 < self.break_ambiguity <= 1):
            raise PosennError(
                "tracker: need 0 <= break_similarity <= 1 and 0 < break_ambiguity <= 1, got "
                f"{self.break_similarity}, {self.break_ambiguity}"
            )
        if self.max_gap < 0 or self.min_track_length < 1 or self.oks_sigma <= 0:
            raise PosennError(
                "tracker: need max_gap >= 0, min_track_length >= 1 and oks_sigma > 0, got "
                f"{self.max_gap}, {self.min_track_length}, {self.oks_sigma}"
            )


@dataclass
class FrameInstances:
    """The detections of one frame."""

    frame_idx: int
    points: np.ndarray  # (n, nodes, 2) in pixels, NaN = missing point
    scores: np.ndarray  # (n,) instance scores


@dataclass
class TrackingResult:
    """Track ids and identity confidence for every detection of every frame."""

    ids: list[np.ndarray]  # per frame, (n,) int track ids, -1 = untracked
    scores: list[np.ndarray]  # per frame, (n,) confidence in [0, 1] that no swap happened here (see `confidence`)
