"""Synthetic labeled videos of walking insect-like animals, with exact ground truth.

`generate` writes `synth.mp4` and `synth.slp` for demos and tests that need no download;
`synthesize` returns the same frames and keypoints as arrays without writing anything.

How a video is made, one module per step:

1. `skeleton`: head, thorax, abdomen and six two-segment legs, with left/right symmetries,
   and the body plan (part sizes in body lengths);
2. `motion`: smooth heading changes, walks and pauses, steering away from the walls and
   periodic meetings where animals approach and walk across each other;
3. `pose`: the keypoints of every animal in every frame, from its motion state;
4. `render`: each animal's look (size, darkness, abdomen markings; fixed per animal index when
   animals must be told apart) and the frames, drawn from the keypoints alone with anti-aliased
   OpenCV shapes on a textured background, so every keypoint sits exactly where its body part
   is drawn;
5. `scene`: the steps above put together into arrays;
6. `files`: an H.264 `.mp4` and a `.slp` of user instances with one track per animal.

Coordinates are in pixels with pixel centres at integer values (the SLEAP convention).
"""

from posenn.synth.detections import noisy_detections
from posenn.synth.files import generate, make_labels, write_video
from posenn.synth.render import Look, identity_look, render_frames, shared_look, subtle_look
from posenn.synth.scene import Synth, synthesize
from posenn.synth.skeleton import NODES, body_length, make_skeleton

__all__ = [
    "NODES",
    "Look",
    "Synth",
    "body_length",
    "generate",
    "identity_look",
    "make_labels",
    "make_skeleton",
    "noisy_detections",
    "render_frames",
    "shared_look",
    "subtle_look",
    "synthesize",
    "write_video",
]
