"""What `posenn zoo list` and `posenn zoo info` print: a row per model, and a model's card."""

from __future__ import annotations

from rich.table import Table

from posenn.zoo.registry import ZooModel

METRIC_NAMES = {"oks_map": "OKS mAP", "dist_p50": "error p50 (px)", "dist_p90": "error p90 (px)"}


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def headline(model: ZooModel) -> str:
    """The held-out accuracy in a few words (OKS mAP and median error when the card has them)."""
    shown = [f"{METRIC_NAMES[key]} {model.metrics[key]}" for key in METRIC_NAMES if key in model.metrics]
    return ", ".join(shown[:2]) or "—"


def zoo_table(models: list[ZooModel]) -> Table:
    table = Table(title="posenn model zoo", title_justify="left")
    for column in ("name", "animal and setup", "skeleton", "model type", "input", "held-out accuracy", "size", "data licence"):
        table.add_column(column)
    for model in models:
        table.add_row(
            model.name, f"{model.animal}; {model.setup}", f"{len(model.nodes)} nodes", model.model_type, model.input,
            headline(model), megabytes(model.size), model.data_licence,
        )
    return table


def model_card(model: ZooModel, location: str) -> str:
    """The model card as Markdown."""
    metrics = "\n".join(f"| {METRIC_NAMES.get(key, key)} | {value} |" for key, value in model.metrics.items())
    files = "\n".join(f"| {file.path} | {megabytes(file.size)} | {file.sha256[:16]}… | {file.url or 'in the package'} |" for file in model.files)
    return f"""# zoo:{model.name}

{model.animal}; {model.setup}.

- **Model type**: {model.model_type} ({', '.join(f'zoo:{model.name}/{part}' for part in model.parts)})
- **Skeleton**: {len(model.nodes)} nodes: {', '.join(model.nodes)}
- **Input**: {model.input}
- **Works when**: {model.works_when}

## Data

{model.data}

- **Licence of the data**: {model.data_licence}
- **Split**: {model.split}
- **Training**: {model.training}
- **Reproduce**: `{model.command}`

## Held-out accuracy

| figure | value |
| --- | --- |
{metrics}

## Files ({megabytes(model.size)}, index {location})

| file | size | sha256 | source |
| --- | --- | --- | --- |
{files}

Use: `posenn track VIDEO -m zoo:{model.name}`; fine-tune: `train.init_from: zoo:{model.name}/{model.parts[-1]}`.
"""
