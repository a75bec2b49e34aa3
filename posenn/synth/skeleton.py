"""The synthetic insect: node names, skeleton with symmetries, and body plan."""

import sleap_io as sio

# Legs as (name, side, rest angle from the heading in degrees, knee bend in degrees, gait group).
# Side +1 is the animal's left. Tripod gait: legs of group 0 swing together, against group 1.
LEGS = [
    ("L1", +1, 45.0, -30.0, 0),
    ("R1", -1, 45.0, -30.0, 1),
    ("L2", +1, 90.0, 25.0, 1),
    ("R2", -1, 90.0, 25.0, 0),
    ("L3", +1, 135.0, 30.0, 0),
    ("R3", -1, 135.0, 30.0, 1),
]
BODY_NODES = ["head", "thorax", "abdomen"]
NODES = BODY_NODES + [f"leg{leg}_{joint}" for leg, *_ in LEGS for joint in ("knee", "tip")]
HEAD, THORAX, ABDOMEN = 0, 1, 2

# Body plan, in body lengths. Head and abdomen centres sit on the body axis around the thorax;
# ellipse axes are (along the body, across it). Head to abdomen tip is about one body length.
HEAD_OFFSET = 0.22
ABDOMEN_OFFSET = 0.36
HEAD_AXES = (0.085, 0.075)
THORAX_AXES = (0.12, 0.085)
ABDOMEN_AXES = (0.24, 0.115)
FEMUR = 0.26
TIBIA = 0.28
LEG_WIDTH = 0.04
FOOT_RADIUS = 0.03
NECK_WIDTH = 0.07


def knee_index(leg: int) -> int:
    """Node index of the knee of leg number `leg` (0-5, in `LEGS` order); the tip follows it."""
    return len(BODY_NODES) + 2 * leg


def body_length(size: int) -> float:
    """Default body length in pixels for a frame of `size` pixels: a fifth of the frame."""
    return size / 5


def make_skeleton() -> sio.Skeleton:
    """The insect skeleton: 15 nodes, a tree rooted at the thorax, left/right symmetries."""
    edges = [["thorax", "head"], ["thorax", "abdomen"]]
    symmetries = []
    for leg, *_ in LEGS:
        edges += [["thorax", f"leg{leg}_knee"], [f"leg{leg}_knee", f"leg{leg}_tip"]]
        if leg.startswith("L"):
            mirror = "R" + leg[1:]
            symmetries += [[f"leg{leg}_{j}", f"leg{mirror}_{j}"] for j in ("knee", "tip")]
    return sio.Skeleton(nodes=NODES, edges=edges, symmetries=symmetries, name="insect")
