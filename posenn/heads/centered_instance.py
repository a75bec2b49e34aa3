"""Centered-instance head: part maps on a crop centred on one animal (top-down, stage 2).

The maths is the single-instance head's, applied to a crop whose first instance is the
animal at its centre; other animals that reach into the crop are not targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from posenn.heads.single_instance import SingleInstanceHead


@dataclass(frozen=True)
class CenteredInstanceHead(SingleInstanceHead):
    """Attributes (besides the single-instance head's):
        crop_size: side of the square crop, in pixels of the model's input scale.
    """

    crop_size: int = 128
