"""Moving last frame's points to where the image moved: pyramidal Lucas-Kanade optical flow."""

import cv2
import numpy as np


def to_gray(image: np.ndarray) -> np.ndarray:
    """`(H, W)` or `(H, W, 1|3)` uint8 → `(H, W)` uint8."""
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(image.reshape(image.shape[:2]), dtype=np.uint8)


def flow_shift(previous: np.ndarray, current: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Follow points from the previous grey frame into the current one.

    Args:
        previous: `(H, W)` uint8 grey frame the poses were found in.
        current: `(H, W)` uint8 grey frame to follow them into.
        poses: `(k, nodes, 2)` points in `previous`, NaN = missing.

    Returns:
        `(k, nodes, 2)` points moved by the flow; points the flow lost, and missing ones, stay put.
    """
    flat = poses.reshape(-1, 2)
    visible = ~np.isnan(flat).any(axis=1)
    if not visible.any():
        return poses.copy()
    start = flat[visible].astype(np.float32).reshape(-1, 1, 2)
    end, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, start, None, winSize=(21, 21), maxLevel=3)
    found = status.reshape(-1).astype(bool)
    moved = flat.copy()
    moved[np.flatnonzero(visible)[found]] = end.reshape(-1, 2)[found]
    return moved.reshape(poses.shape)
