"""Typed configuration: one YAML file with `data`, `model`, `augment`, `train` and `inference`.

Every field has a default, so a config only needs what differs. `load_config` reads a file,
applies dotted `key=value` overrides and validates; any unknown key or wrong value becomes a
`PosennError` that names the key, what is allowed, and the closest valid key.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from posenn.errors import PosennError
from posenn.io.atomic import write_text_atomic

ModelType = Literal["single_instance", "centroid", "centered_instance", "bottomup", "multiclass_bottomup", "multiclass_topdown"]
LABEL_PATH_FIELDS = ("train_labels", "val_labels")


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SkeletonConfig(Section):
    """The body parts the model predicts, copied from the labels by `posenn config`."""

    nodes: list[str] = Field(default_factory=list)
    edges: list[tuple[str, str]] = Field(default_factory=list)
    symmetries: list[tuple[str, str]] = Field(default_factory=list)


class DataConfig(Section):
    train_labels: Path | None = None
    val_labels: Path | None = None
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    instances: Literal["user", "predicted", "all"] = "user"
    scale: float = Field(1.0, gt=0.0, le=4.0)
    channels: Literal[1, 3] = 1
    cache: Literal["memory", "disk"] = "memory"
    cache_dir: Path | None = None
    skeleton: SkeletonConfig = Field(default_factory=SkeletonConfig)


class BackboneConfig(Section):
    name: str = Field("unet", description="unet, or a timm encoder (resnet18, convnext_atto, efficientnet_b0, hrnet_w18_small, ...).")
    pretrained: bool | str = Field(
        False, description="timm encoders: false, true (timm's ImageNet weights) or a local weights file."
    )
    filters: int = Field(16, ge=1)
    filters_rate: float = Field(2.0, ge=1.0)
    max_stride: int = Field(16, ge=2)
    convs_per_block: int = Field(2, ge=1)
    upsampling: Literal["bilinear", "bilinear_conv", "transposed", "transposed_3x3", "transposed_3x3_keras"] = "bilinear"
    batch_norm: bool = True
    kernel_size: int = Field(3, ge=1, description="Side of the square convolution kernels (odd).")
    middle_block: bool = Field(True, description="Convolutions at the deepest level (SLEAP's middle block).")
    widths: list[int] | None = Field(
        None, description="Channels of each level, shallowest first; None: filters × filters_rate ** level."
    )


class ModelConfig(Section):
    type: ModelType = "single_instance"
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    output_stride: int = Field(2, ge=1)
    sigma: float = Field(2.5, gt=0.0)
    anchor_part: str | None = None
    crop_size: int | None = Field(None, ge=16)
    paf_stride: int | None = Field(None, ge=1, description="Output stride of the part affinity fields (bottom-up); None: output_stride.")
    paf_width: float = Field(8.0, gt=0.0, description="Width in input pixels of the band around each limb where its field is drawn.")
    classes: list[str] = Field(default_factory=list, description="Identity models: the identities, named as the labels' tracks.")
    class_pooling: Literal["centre", "global_max"] = Field(
        "centre",
        description="Multi-class top-down: class vectors from the mean and maximum of the crop's central half of the "
        "deepest features (centre), or their maximum over the whole crop (global_max, SLEAP's).",
    )
    class_features: Literal["shared", "detached"] = Field(
        "shared",
        description="Multi-class top-down: the identity loss trains the backbone too (shared), or only the class "
        "layers, on the pose features (detached: on the two-fly sample the poses stay as good as the plain model's, "
        "while shared they degrade; benchmarks/identity.py --sets flies).",
    )
    class_layers: list[int] = Field(
        default_factory=lambda: [128], description="Multi-class top-down: widths of the hidden layers before the class logits."
    )
    class_maps_activation: Literal["none", "sigmoid"] = Field(
        "none", description="Multi-class bottom-up: function applied to the class maps the network outputs."
    )
    grid: Literal["centre", "corner"] = Field(
        "centre",
        description="Where a map cell (and a pixel of a scaled input) sits in input coordinates: the centre of the "
        "pixels it covers (posenn's), or its first pixel (corner: SLEAP's and sleap-nn's).",
    )


class AugmentConfig(Section):
    """Batch augmentation applied on the training device; zero or false disables a transform."""

    rotation: float = Field(15.0, ge=0.0, le=180.0)
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = Field(0.05, ge=0.0, le=0.5)
    flip: Literal["none", "horizontal", "vertical", "both"] = "none"
    flip_pairs: list[tuple[str, str]] | None = None
    brightness: float = Field(0.1, ge=0.0, le=1.0)
    contrast: float = Field(0.1, ge=0.0, le=1.0)
    noise: float = Field(0.02, ge=0.0, le=1.0)


class TrainConfig(Section):
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    encoder_lr_factor: float = Field(
        1.0, gt=0.0, le=1.0, description="timm encoders: the encoder's learning rate is learning_rate times this."
    )
    freeze_encoder_epochs: int = Field(0, ge=0, description="timm encoders: the encoder is frozen for this many epochs.")
    init_from: Path | None = Field(
        None, description="A model folder to start from: backbone weights, and head channels of nodes it shares by name."
    )
    optimizer: Literal["adam", "adamw"] = "adam"
    peak_weight: float = Field(50.0, ge=0.0)
    paf_weight: float = Field(1.0, ge=0.0, description="Weight of the part affinity field loss against the part maps' (bottom-up).")
    class_weight: float = Field(1.0, ge=0.0, description="Weight of the identity loss against the part maps' (identity models).")
    weight_decay: float = Field(0.0, ge=0.0)
    scheduler: Literal["none", "plateau", "cosine"] = "plateau"
    warmup_epochs: int = Field(0, ge=0)
    plateau_patience: int = Field(5, ge=1)
    plateau_factor: float = Field(0.5, gt=0.0, lt=1.0)
    early_stopping_patience: int | None = Field(10, ge=1)
    steps_per_epoch: int | None = Field(None, ge=1)
    random_crop: int | None = Field(
        None, ge=16, description="Whole-frame models: train on square windows of this size (model-scale pixels) around a random animal."
    )
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0.0)
    calibrate_instance_score: bool = Field(
        True,
        description="Bottom-up: after training, set inference.peak_threshold and inference.limb_peak_weight to the pair "
        "that gives the best validation OKS mAP, and inference.min_instance_score to the threshold under which the most "
        "validation frames hold as many instances as animals (measured with the trained model).",
    )
    run_dir: Path = Path("models/run")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    devices: int | Literal["auto"] = Field(
        1, description="Devices (processes) per machine; more than one trains with Lightning DDP ('auto': every GPU of the machine)."
    )
    num_nodes: int = Field(
        1, ge=1, description="Machines; more than one needs a launcher that starts every process (SLURM's srun, torchrun)."
    )
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    val_precision: Literal["auto", "32", "bf16"] = Field(
        "auto",
        description="Validation passes of a float32 run: 'auto' runs them in bfloat16 where the device has it natively "
        "(CPUs with AVX-512 BF16 or AMX, CUDA GPUs), else in float32.",
    )

    @field_validator("devices")
    @classmethod
    def _positive_devices(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("give 1 or more devices, or 'auto'")
        return value

    @field_validator("precision", "val_precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        """YAML reads `precision: 32` as a number; it means the string "32"."""
        return str(value) if isinstance(value, int) else value

    num_workers: int = Field(0, ge=0)


class InferenceConfig(Section):
    peak_threshold: float = Field(0.2, ge=0.0, le=1.0)
    batch_size: int = Field(8, ge=1)
    max_instances: int = Field(16, ge=1)
    duplicate_oks: float | None = Field(0.5, gt=0.0, le=1.0)
    refinement: Literal["parabola", "integral"] = Field(
        "parabola",
        description="Subpixel peak refinement: a parabola through the log of the peak and its neighbours (exact for "
        "Gaussian maps), or the value-weighted mean of the 5×5 cells around it (integral: SLEAP's).",
    )
    min_line_score: float = Field(0.25, ge=-1.0, le=1.0, description="Bottom-up: weakest limb connection kept.")
    line_points: int = Field(10, ge=2, description="Bottom-up: field samples along each candidate limb.")
    max_edge_length: float | list[float] | None = Field(
        None,
        description="Bottom-up: limbs longer than this (frame pixels) are penalised: one length for every edge, or one "
        "per edge of data.skeleton.edges, in its order (posenn config measures them from the labels).",
    )
    min_edge_length: float | list[float] | None = Field(
        None,
        description="Bottom-up: limbs shorter than this (frame pixels) rank lower when limbs are assigned, one length or "
        "one per edge as max_edge_length (posenn config measures them from the labels): a stray peak beside a limb's "
        "source does not pass for its destination.",
    )
    min_points: int = Field(2, ge=1, description="Bottom-up: grouped instances with fewer parts are dropped.")
    min_instance_score: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Bottom-up: grouped instances scoring less (sum of limb scores over the skeleton's edges) are dropped.",
    )
    limb_peak_weight: float = Field(
        1.0, ge=0.0,
        description="Bottom-up: weight of the parts' peak values beside the line score when limbs are assigned "
        "(of two candidate parts along one field, the stronger peak wins); 0 for line scores alone.",
    )
    max_hop_length: float | None = Field(
        None, gt=0.0,
        description="Bottom-up: a fragment joins a nearby instance that lacks its parts when within this distance "
        "(frame pixels) per skeleton edge between them; null for no joining.",
    )

    @field_validator("max_edge_length", "min_edge_length")
    @classmethod
    def _positive_lengths(cls, value: float | list[float] | None) -> float | list[float] | None:
        lengths = value if isinstance(value, list) else [] if value is None else [value]
        if any(length <= 0 for length in lengths):
            raise ValueError(f"limb lengths must be positive pixels, got {value}")
        if isinstance(value, list) and not value:
            raise ValueError("an empty list: give one length per skeleton edge, one length, or null")
        return value


class Config(Section):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)


def valid_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key of a config class, sections included: `["data", "data.scale", ...]`."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(valid_keys(annotation, key + "."))
    return keys


def closest_key(key: str) -> str | None:
    """The valid dotted key nearest in spelling to `key`, or None when nothing is close."""
    keys = valid_keys()
    leaf_matches = [k for k in keys if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]]
    if leaf_matches:
        return leaf_matches[0]
    matches = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    return matches[0] if matches else None


def _describe_error(error: dict[str, Any], source: str) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        hint = closest_key(key)
        message = f"{source}: unknown key '{key}'."
        return message + (f" Did you mean '{hint}'?" if hint else "")
    value = error.get("input")
    return f"{source}: '{key}' = {value!r} is not valid: {error['msg']}."


def drop_empty_sections(raw: dict[str, Any], model: type[BaseModel] = Config) -> dict[str, Any]:
    """Remove sections left empty in YAML (`train:` alone reads as None): they mean defaults."""
    cleaned = {}
    for key, value in raw.items():
        field = model.model_fields.get(key)
        annotation = field.annotation if field else None
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_section and value is None:
            continue
        cleaned[key] = drop_empty_sections(value, annotation) if is_section and isinstance(value, dict) else value
    return cleaned


def validate_config(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a nested dict into a `Config`.

    Raises:
        PosennError: naming each bad key, what is allowed, and the closest valid key.
    """
    try:
        return Config.model_validate(drop_empty_sections(raw))
    except ValidationError as exc:
        lines = [_describe_error(error, source) for error in exc.errors()]
        raise PosennError("\n".join(lines)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `"train.epochs=3"` into `(["train", "epochs"], 3)`; the value is parsed as YAML."""
    if "=" not in text:
        raise PosennError(f"Override '{text}' is not of the form key=value (e.g. train.epochs=3).")
    key, value = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value) if value.strip() else None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted `key=value` overrides in a nested dict (new dicts for missing sections)."""
    for text in overrides:
        path, value = parse_override(text)
        if ".".join(path) not in valid_keys():
            hint = closest_key(".".join(path))
            suffix = f" Did you mean '{hint}'?" if hint else ""
            raise PosennError(f"Override '{text}': unknown key '{'.'.join(path)}'.{suffix}")
        node = raw
        for part in path[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise PosennError(f"Override '{text}': '{part}' is not a section.")
        node[path[-1]] = value
    return raw


def with_overrides(config: Config, overrides: list[str]) -> Config:
    """A copy of `config` with dotted `key=value` overrides applied and validated."""
    return validate_config(apply_overrides(config_to_dict(config), overrides), source="overrides")


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise PosennError(f"Config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise PosennError(f"{path}: not a text file in UTF-8 (byte {exc.start} cannot be read).") from None
    except yaml.YAMLError as exc:  # the message gives the line and column
        raise PosennError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PosennError(f"{path}: expected a mapping with sections data/model/train, got {type(raw).__name__}.")
    return raw


def load_config(path: Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply `key=value` overrides, validate.

    Relative label paths written in the file are relative to the file's folder; relative paths
    given as overrides are relative to the working directory.
    """
    path = Path(path)
    raw = read_yaml(path)
    base = path.resolve().parent
    for field in LABEL_PATH_FIELDS:
        value = raw.get("data", {}).get(field) if isinstance(raw.get("data"), dict) else None
        if isinstance(value, str) and not Path(value).is_absolute():
            raw["data"][field] = os.path.normpath(base / value)
    raw = apply_overrides(raw, overrides or [])
    return validate_config(raw, source=str(path))


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain YAML-friendly dict (paths as strings, tuples as lists)."""
    return config.model_dump(mode="json")


def save_config(config: Config, path: Path) -> None:
    """Write the config as YAML, atomically; label paths are written relative to its folder."""
    path = Path(path)
    raw = config_to_dict(config)
    for field in LABEL_PATH_FIELDS:
        if raw["data"][field] is not None:
            raw["data"][field] = os.path.relpath(Path(raw["data"][field]).resolve(), path.resolve().parent)
    write_text_atomic(path, yaml.safe_dump(raw, sort_keys=False))
