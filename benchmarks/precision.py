"""Network speed on this machine by memory layout and precision: the fly centered-instance model.

Times one training step (forward, backward, Adam; batch 4 × 192²) and one inference batch
(16 crops of 192²) in float32 with the default layout, float32 channels-last and bfloat16
autocast channels-last. Untrained weights: speed does not depend on them.

    python benchmarks/precision.py
"""

from __future__ import annotations

from pathlib import Path

import torch
from common import report, seconds_per_call

from posenn.autoconfig import config_from_labels
from posenn.models.model import build_head, build_model

FLIES_LABELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "centered_pair_predictions.slp"
VARIANTS = {"float32": (torch.contiguous_format, False), "float32 channels-last": (torch.channels_last, False),
            "bfloat16 channels-last": (torch.channels_last, True)}
SECONDS = 5.0  # timing of each measurement


def main() -> None:
    config = config_from_labels(FLIES_LABELS, "centered_instance", "predicted")
    crop = config.model.crop_size
    model = build_model(config, build_head(config))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    rows = []
    for name, (layout, bf16) in VARIANTS.items():
        model = model.to(memory_format=layout)
        batch = torch.rand(4, 1, crop, crop).contiguous(memory_format=layout)
        crops = torch.rand(16, 1, crop, crop).contiguous(memory_format=layout)

        def train_step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(batch).float().pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        def infer() -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(crops)

        model.train()
        steps = 1 / seconds_per_call(train_step, SECONDS)
        model.eval()
        crops_per_s = len(crops) / seconds_per_call(infer, SECONDS)
        rows.append({"variant": name, "training_steps_per_s": round(steps, 1), "inference_crops_per_s": round(crops_per_s, 1)})
    report(f"Fly centered-instance network ({crop}×{crop} crops), {torch.get_num_threads()} threads", rows, "precision")


if __name__ == "__main__":
    main()
