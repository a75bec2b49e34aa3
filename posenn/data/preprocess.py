"""Image preprocessing shared by training and inference."""

from __future__ import annotations

import torch


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 `(batch, channels, height, width)` → float32 in [0, 1] (one new tensor, scaled in place)."""
    return images.to(torch.float32, copy=True).div_(255.0)
