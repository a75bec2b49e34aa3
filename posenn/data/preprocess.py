"""Image preprocessing shared by training and inference."""

from __future__ import annotations

import torch


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 `(batch, channels, height, width)` → float32 in [0, 1]."""
    return images.float() / 255.0
