"""Load a trained model folder and run it on batches of frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sleap_io as sio
import torch

from posenn.config import Config, load_config
from posenn.errors import PosennError
from posenn.inference.onnx import OnnxModel
from posenn.models.model import Head, PoseModel, as_float, build_head, build_model
from posenn.models.unet import fold_batch_norms


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; other names are checked for availability."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PosennError(f"--device {name}: no CUDA GPU is available on this machine.")
    if name.startswith("cuda:") and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise PosennError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), numbered from 0.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise PosennError("--device mps: Apple MPS is not available on this machine.")
    return torch.device(name)


@dataclass
class TrainedModel:
    """A model folder loaded for inference."""

    path: Path
    config: Config
    model: PoseModel | AutocastModel | ThreadedModel | OnnxModel
    head: Head

    @property
    def skeleton(self) -> sio.Skeleton:
        """The skeleton the model predicts, rebuilt from the config."""
        skeleton = self.config.data.skeleton
        return sio.Skeleton(nodes=list(skeleton.nodes), edges=[list(e) for e in skeleton.edges],
                            symmetries=[list(s) for s in skeleton.symmetries])


def checkpoint_path(model_dir: Path) -> Path:
    """`best.ckpt`, else `last.ckpt` of a model folder.

    Raises:
        PosennError: when the folder, its config or both checkpoints are missing.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise PosennError(f"Model folder not found: {model_dir}")
    if not (model_dir / "config.yaml").is_file():
        raise PosennError(
            f"{model_dir}: no config.yaml; is this a posenn model folder? (sleap-nn and SLEAP 1.x folders "
            "hold training_config.yaml or training_config.json)"
        )
    for name in ("best.ckpt", "last.ckpt"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise PosennError(f"{model_dir}: no checkpoint (expected best.ckpt or last.ckpt); has training run?")


class AutocastModel(torch.nn.Module):
    """Runs a network in reduced precision (autocast) and hands its outputs back as float32."""

    def __init__(self, model: PoseModel, device_type: str, dtype: torch.dtype):
        super().__init__()
        self.model, self.device_type, self.dtype = model, device_type, dtype

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return as_float(self.model(images))


class ThreadedModel(torch.nn.Module):
    """Runs a network on `threads` CPU threads while PyTorch's other work runs on one.

    The small ops around the networks (resizing, peaks, crops) gain nothing from a thread pool,
    whose idle threads spin and take the cores from the video decoder.
    """

    def __init__(self, model: torch.nn.Module, threads: int):
        super().__init__()
        self.model, self.threads = model, threads

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self.model(images)
        finally:
            torch.set_num_threads(previous)


def pose_model(network: torch.nn.Module) -> torch.nn.Module:
    """The network inside the wrappers `load_model` adds (threads, reduced precision)."""
    while isinstance(network, (ThreadedModel, AutocastModel)):
        network = network.model
    return network


PRECISIONS = {"bf16": torch.bfloat16, "16": torch.float16}


def with_precision(model: PoseModel, device: torch.device, precision: str) -> PoseModel | AutocastModel:
    """The model run in `precision`: "32", "bf16" (CPU or GPU) or "16" (GPU only).

    Raises:
        PosennError: for an unknown precision, or "16" on a CPU.
    """
    if precision == "32":
        return model
    if precision not in PRECISIONS:
        raise PosennError(f"--precision '{precision}': expected 32, bf16 or 16.")
    if precision == "16" and device.type == "cpu":
        raise PosennError("--precision 16 needs a GPU; on a CPU use bf16.")
    return AutocastModel(model, device.type, PRECISIONS[precision])


def model_files(model_dir: Path) -> list[Path]:
    """The files a model folder's predictions depend on: its config and its weights (posenn,
    sleap-nn or SLEAP 1.x)."""
    from posenn.interop.folders import foreign_files
    from posenn.zoo.refs import model_dir as resolve_model

    model_dir = resolve_model(model_dir)
    if not (model_dir / "config.yaml").is_file() and (files := foreign_files(model_dir)):
        return files
    return [model_dir / "config.yaml", checkpoint_path(model_dir)]


def read_model_folder(model_dir: Path) -> tuple[Config, PoseModel]:
    """The config and network (with its weights, eval mode, on the CPU) of a posenn, sleap-nn or
    SLEAP 1.x model folder."""
    from posenn.interop.folders import foreign_kind, load_foreign
    from posenn.zoo.refs import model_dir as resolve_model

    model_dir = resolve_model(model_dir)
    if model_dir.is_dir() and not (model_dir / "config.yaml").is_file() and foreign_kind(model_dir):
        config, model, _ = load_foreign(model_dir)
        return config, model
    path = checkpoint_path(model_dir)
    config = load_config(model_dir / "config.yaml")
    model = build_model(config, build_head(config))
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    except Exception as exc:
        raise PosennError(f"{path}: cannot be read as a posenn checkpoint ({exc}).") from None
    weights = {key.removeprefix("model."): value for key, value in state.items() if key.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        lines = str(exc).splitlines()  # a header, then one line per kind of mismatch
        raise PosennError(
            f"{path}: the weights do not fit the network that {Path(model_dir) / 'config.yaml'} describes "
            f"({(lines[1:] or lines)[0].strip()}). Was the config edited after training? Folders trained before "
            "posenn's decoder change need model.backbone.upsampling: bilinear_conv."
        ) from None
    return config, model.eval()


def load_model(model_dir: Path, device: torch.device, runtime: str = "torch", precision: str = "32") -> TrainedModel:
    """Load config and weights of a model folder (posenn's, sleap-nn's or SLEAP 1.x's) onto
    `device`, in eval mode.

    With `runtime="onnx"` the network runs in ONNX Runtime on the CPU (see `OnnxModel`), in
    float32; otherwise PyTorch runs it in `precision` (see `with_precision`).
    """
    from posenn.zoo.refs import model_dir as resolve_model

    model_dir = resolve_model(model_dir)
    config, model = read_model_folder(model_dir)
    head = build_head(config)
    model = fold_batch_norms(model)
    if runtime == "onnx":
        if device.type != "cpu":
            raise PosennError(f"--runtime onnx runs on the CPU; use --device cpu (got {device.type}).")
        if precision != "32":
            raise PosennError(f"--runtime onnx runs in float32; --precision {precision} is for --runtime torch.")
        return TrainedModel(Path(model_dir), config, OnnxModel(model, config.data.channels), head)
    # Channels-last convolutions ran the instance network 1.7× faster on this CPU (precision.py).
    model = model.to(device, memory_format=torch.channels_last).eval()
    network = with_precision(model, device, precision)
    if device.type == "cpu":
        network = ThreadedModel(network, torch.get_num_threads())
    return TrainedModel(Path(model_dir), config, network, head)
