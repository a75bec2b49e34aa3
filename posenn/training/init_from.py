"""Start training from another model's weights (`train.init_from`), across skeletons.

Backbone and decoder tensors of the same name and shape are kept. The output layers are kept
channel by channel where both models name the channel alike: part maps by node name, part
affinity fields by edge (source and destination names), class maps and class logits by identity
name; the other channels keep their fresh initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from posenn.config import Config
from posenn.errors import PosennError
from posenn.models.model import PoseModel, bottomup_head


@dataclass
class InitReport:
    """What `init_from` loaded.

    Attributes:
        source: the model folder the weights came from.
        kept: names of the tensors copied whole.
        fresh: names of the tensors left at their initialisation (another shape, or absent).
        channels: output layer name → (channel names kept, channel names new).
    """

    source: Path
    kept: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    channels: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph for the training log."""
        lines = [f"Started from {self.source}: kept {len(self.kept)} tensors, {len(self.fresh)} new."]
        for layer, (kept, new) in self.channels.items():
            lines.append(f"  {layer}: kept {', '.join(kept) or 'none'}; new {', '.join(new) or 'none'}.")
        return "\n".join(lines)


def channel_names(config: Config, layer: str) -> list[str] | None:
    """Names of the output channels of `layer` ("head", "extra_head", "classifier"), or None
    when its channels have no names."""
    nodes = config.data.skeleton.nodes
    if layer == "head":
        return ["centroid"] if config.model.type == "centroid" else list(nodes)
    if layer == "extra_head" and config.model.type == "bottomup":
        return [f"{nodes[s]}->{nodes[d]}.{axis}" for s, d in bottomup_head(config).edges for axis in "xy"]
    if layer in ("extra_head", "classifier"):
        return list(config.model.classes)
    return None


def output_layer(key: str, model: PoseModel) -> str | None:
    """The output layer a state-dict key belongs to, when it is the layer's last (named) rows."""
    if key.startswith("head."):
        return "head"
    if key.startswith("extra_head"):
        return "extra_head"
    if key.startswith("classifier.") and model.classifier is not None:
        last = len(model.classifier.layers) - 1
        if key.startswith(f"classifier.layers.{last}."):
            return "classifier"
    return None


def initialize_from(model: PoseModel, config: Config, source_dir: Path) -> InitReport:
    """Copy what fits from the model in `source_dir` (posenn, sleap-nn or SLEAP 1.x) into `model`.

    Raises:
        PosennError: when the source cannot be read, or none of its encoder fits.
    """
    from posenn.inference.predictor import read_model_folder

    source_config, source_model = read_model_folder(Path(source_dir))
    source_state, target_state = source_model.state_dict(), model.state_dict()
    report = InitReport(Path(source_dir))
    new_state = dict(target_state)
    for key, value in target_state.items():
        layer = output_layer(key, model)
        source = source_state.get(key)
        if layer is not None and source is not None and source.shape[1:] == value.shape[1:]:
            ours, theirs = channel_names(config, layer), channel_names(source_config, layer)
            if ours is not None and theirs is not None:
                rows = value.clone()
                kept = [name for name in ours if name in theirs]
                for name in kept:
                    rows[ours.index(name)] = source[theirs.index(name)]
                new_state[key] = rows
                report.channels[layer] = (kept, [name for name in ours if name not in theirs])
                (report.kept if kept else report.fresh).append(key)
                continue
        if source is not None and source.shape == value.shape:
            new_state[key] = source.clone()
            report.kept.append(key)
        else:
            report.fresh.append(key)
    if not any(key.startswith("backbone.encoder.") for key in report.kept):
        raise PosennError(
            f"train.init_from {source_dir}: none of its encoder tensors fits this model (another backbone, "
            "widths or input channels?)."
        )
    model.load_state_dict(new_state)
    return report

