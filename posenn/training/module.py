"""The Lightning module: augmentation and target encoding on the device, loss, optimizers."""

from __future__ import annotations

import contextlib
import math

import lightning as L
import torch

from posenn.config import Config
from posenn.data.augment import augment_batch, flip_permutation
from posenn.data.crops import center_crop, random_animal_crops
from posenn.data.preprocess import to_float_images
from posenn.models.model import Outputs, as_float, build_head, build_model, decode_instances
from posenn.evaluation.matching import bbox_areas
from posenn.heads.centered_instance import CenteredInstanceHead
from posenn.heads.bottomup import BottomUpHead
from posenn.heads.centroid import CentroidHead
from posenn.heads.identity import MulticlassBottomUpHead, MulticlassTopDownHead
from posenn.precision import has_native_bf16
from posenn.training.faults import check_loss
from posenn.training.validation import (
    ValidationBatch,
    ValidationFrame,
    gather_frames,
    validation_frames,
    validation_metrics,
)


IDENTITY_HEADS = (MulticlassBottomUpHead, MulticlassTopDownHead)


def flip_pairs(config: Config) -> list[tuple[str, str]]:
    """Symmetric node pairs for flips: `augment.flip_pairs`, else the skeleton's symmetries."""
    pairs = config.augment.flip_pairs
    return list(pairs) if pairs is not None else list(config.data.skeleton.symmetries)


class PoseModule(L.LightningModule):
    """Trains a `PoseModel` with the head named by the config.

    Batches arrive as uint8 images and keypoints (see `FrameDataset`); `on_after_batch_transfer`
    turns them, on the device, into augmented float images and head targets.

    Under DDP, each process validates its share of the validation set and the validation figures
    are computed from the frames of all processes (`gather_frames`). Checkpoints record under
    `"posenn_validation"` how the last figures were made: frames, instances, the world size and
    the ranks whose frames were gathered.
    """

    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = Config.model_validate(config)
        self.head = build_head(self.config)
        # Channels-last convolutions: 1.27–1.31× the steps/s of a float32 training step on this CPU
        # (benchmarks/precision.py), 1.12× over a whole epoch.
        self.model = build_model(self.config, self.head).to(memory_format=torch.channels_last)
        nodes = self.config.data.skeleton.nodes
        self.register_buffer("flip_permutation", flip_permutation(nodes, flip_pairs(self.config)), persistent=False)
        self.validation_outputs: list[ValidationFrame] = []
        self.validation_record: dict | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        training = self.trainer is not None and self.trainer.training
        return self.prepare_batch(batch, augment=training)

    def prepare_batch(self, batch: dict, augment: bool) -> dict:
        """uint8 images and keypoints → float images (augmented, cropped) and head targets."""
        images = to_float_images(batch["image"])
        points = batch["points"]
        if augment:
            images, points = augment_batch(images, points, self.config.augment, self.flip_permutation)
        if isinstance(self.head, CenteredInstanceHead):
            images, points = center_crop(images, points, self.head.crop_size)
        elif augment and self.config.train.random_crop and self.config.train.random_crop < max(images.shape[-2:]):
            images, points = random_animal_crops(images, points, self.config.train.random_crop)
        if isinstance(self.head, IDENTITY_HEADS):
            targets = self.head.encode(points, images.shape[-2:], batch["classes"])
        else:
            targets = self.head.encode(points, images.shape[-2:])
        prepared = {"image": images.contiguous(memory_format=torch.channels_last), "points": points, "targets": targets}
        if "index" in batch:
            prepared["index"] = batch["index"]
        return prepared

    def validation_output(self, batch: dict, outputs: Outputs) -> ValidationBatch:
        """Ground truth and decoded predictions of a prepared batch, in the head's terms."""
        points, _, scores = decode_instances(self.head, outputs, self.config.inference.peak_threshold)
        truth = self.head.targets(batch["points"])
        animals = batch["points"][:, : truth.shape[1]].cpu().numpy()  # the animals the targets stand for
        areas = bbox_areas(animals.reshape(-1, *animals.shape[2:])).reshape(animals.shape[:2])
        return truth.cpu().numpy(), points.cpu().numpy(), scores.cpu().numpy(), areas

    @property
    def evaluated_nodes(self) -> list[str]:
        """Node names of what validation compares: the skeleton, or one centre per animal."""
        return ["centroid"] if isinstance(self.head, CentroidHead) else list(self.config.data.skeleton.nodes)

    def _loss(self, batch: dict, outputs: Outputs) -> torch.Tensor:
        """Peak-weighted MSE of the part maps, plus the weighted loss of a second output: MSE of
        fields (`train.paf_weight`) or class maps, cross-entropy of class vectors
        (`train.class_weight`)."""
        train = self.config.train
        if not isinstance(outputs, tuple):
            return peak_weighted_mse(outputs.float(), batch["targets"], train.peak_weight)
        (maps, second), (targets, second_targets) = outputs, batch["targets"]
        loss = peak_weighted_mse(maps.float(), targets, train.peak_weight)
        if isinstance(self.head, MulticlassTopDownHead):
            return loss + train.class_weight * class_loss(second.float(), second_targets)
        weight = train.paf_weight if isinstance(self.head, BottomUpHead) else train.class_weight
        return loss + weight * peak_weighted_mse(second.float(), second_targets, train.peak_weight)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch, self.model(batch["image"]))
        learning_rate = self.trainer.optimizers[0].param_groups[0]["lr"]
        check_loss(loss, self.global_step, self.current_epoch, learning_rate, self.config.train.run_dir)
        # Synced across DDP processes: without validation, the plateau schedule and checkpoints
        # follow the epoch's training loss, which must be the same in every process.
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(batch["image"]), sync_dist=True)
        return loss

    def validation_precision(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast for validation passes of a float32 run when `train.val_precision`
        asks for it ("auto": where the device has native bfloat16); otherwise no change."""
        train = self.config.train
        wanted = train.val_precision == "bf16" or (train.val_precision == "auto" and has_native_bf16(self.device))
        if train.precision != "32" or not wanted:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def validation_forward(self, images: torch.Tensor) -> Outputs:
        """The network's float32 outputs, run in the validation precision."""
        with self.validation_precision():
            return as_float(self.model(images))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        outputs = self.validation_forward(batch["image"])
        loss = self._loss(batch, outputs)
        self.log("val_loss", loss, prog_bar=True, on_epoch=True, batch_size=len(batch["image"]), sync_dist=True)
        output = self.validation_output(batch, outputs)
        if "index" in batch:
            indices = batch["index"].tolist()
        else:
            start = len(self.validation_outputs)
            indices = range(start, start + len(output[0]))
        self.validation_outputs.extend(validation_frames(output, indices))

    def on_validation_epoch_start(self) -> None:
        self.validation_outputs = []

    def on_validation_epoch_end(self) -> None:
        frames, ranks = gather_frames(self.validation_outputs)  # every process takes part
        if not frames:
            return
        metrics = validation_metrics(frames, self.evaluated_nodes, self.config.data.scale)
        self.validation_record = {
            "n_frames": metrics["n_frames"],
            "n_gt_instances": metrics["n_gt_instances"],
            "world_size": self.trainer.world_size,
            "ranks": ranks,
        }
        # The same figures in every process; sync_dist only keeps Lightning from warning.
        self.log("val_oks_map", float(metrics["oks_map"]), prog_bar=True, sync_dist=True)
        self.log("val_dist_p50", float(metrics["dist_p50"]), prog_bar=True, sync_dist=True)

    def on_fit_start(self) -> None:
        """Give each DDP process its own augmentation draws (they start from one RNG state)."""
        if self.trainer.world_size > 1:
            torch.manual_seed(self.config.train.seed + self.global_rank)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.validation_record is not None:
            checkpoint["posenn_validation"] = self.validation_record

    @property
    def encoder(self) -> torch.nn.Module | None:
        """The timm encoder of the backbone, None for the UNet."""
        return getattr(self.model.backbone, "encoder", None)

    def on_train_epoch_start(self) -> None:
        """Freeze the encoder (weights and batch-norm statistics) for `train.freeze_encoder_epochs`."""
        if self.encoder is not None and self.config.train.freeze_encoder_epochs:
            frozen = self.current_epoch < self.config.train.freeze_encoder_epochs
            self.encoder.requires_grad_(not frozen)
            self.encoder.train(not frozen)

    def parameter_groups(self) -> list[dict]:
        """The optimizer's parameter groups: the encoder at `encoder_lr_factor` of the rate."""
        train = self.config.train
        if self.encoder is None or train.encoder_lr_factor == 1.0:
            return [{"params": list(self.parameters()), "lr": train.learning_rate}]
        encoder = {id(p) for p in self.encoder.parameters()}
        return [
            {"params": [p for p in self.parameters() if id(p) not in encoder], "lr": train.learning_rate},
            {"params": list(self.encoder.parameters()), "lr": train.learning_rate * train.encoder_lr_factor},
        ]

    def configure_optimizers(self):
        train = self.config.train
        optimizer_class = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(self.parameter_groups(), lr=train.learning_rate, weight_decay=train.weight_decay)
        if train.scheduler == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=train.plateau_factor, patience=train.plateau_patience, min_lr=1e-7
            )
            monitor = "val_loss" if self.trainer.val_dataloaders is not None else "train_loss_epoch"
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}
        if train.scheduler == "cosine":
            total = max(1, int(self.trainer.estimated_stepping_batches))
            warmup = min(total - 1, train.warmup_epochs * max(1, total // train.epochs))
            schedule = cosine_with_warmup(total, warmup)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        return optimizer


def peak_weighted_mse(outputs: torch.Tensor, targets: torch.Tensor, peak_weight: float) -> torch.Tensor:
    """Mean squared error with pixels weighted by `1 + peak_weight * |target|`.

    Peaks (and limb bands of fields) cover a tiny fraction of a map; weighting them stops the
    network from settling on all-zero maps early in training. The optimum is unchanged: the
    target itself.
    """
    weights = 1.0 + peak_weight * targets.abs()
    return (weights * (outputs - targets) ** 2).mean()


def class_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of `(batch, classes)` logits against `(batch,)` identities; animals without
    an identity (-1) are left out, and a batch without any gives 0."""
    known = classes >= 0
    if not known.any():
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits[known], classes[known])


def cosine_with_warmup(total_steps: int, warmup_steps: int):
    """LR multiplier: linear from 0 to 1 over `warmup_steps`, then cosine down to 0 at `total_steps`."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return multiplier
