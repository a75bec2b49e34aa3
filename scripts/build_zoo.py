"""Train the zoo's models from the public data in ../shared/data, and check them against their cards.

Each recipe splits its labels into training and held-out frames, trains every part with a fixed
step budget and seed, scores the parts together on the held-out frames, and ships the result
into `posenn/zoo/models/NAME/PART/` (the config and a weights-only checkpoint) with its entry in
`posenn/zoo/index.json` (card, files, sha256 checksums).

    python scripts/build_zoo.py                 # train and ship every recipe (about 35 minutes on 2 cores)
    python scripts/build_zoo.py --only mouse-openfield
    python scripts/build_zoo.py --check         # score the shipped models again; compare with their cards
    python scripts/build_zoo.py --rescore       # score them again and write the figures into their cards
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sleap_io as sio
import torch

from posenn.autoconfig import config_from_labels
from posenn.config import load_config, save_config, with_overrides
from posenn.evaluation.pose import evaluate_labels
from posenn.inference.run import TrackOptions, track
from posenn.io.atomic import atomic_path, write_text_atomic
from posenn.io.labels import load_labels
from posenn.training.run import train
from posenn.zoo.fetch import sha256_of
from posenn.zoo.registry import PACKAGED_INDEX, ZooFile, ZooIndex, ZooModel, read_index

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ZOO = ROOT / "posenn" / "zoo"

FLIES = DATA / "centered_pair_predictions.slp"
MOUSE = DATA / "openfield_mouse" / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv"
# A shipped model's figures must come back within this when scored again (other CPUs, torch builds).
TOLERANCE = {"oks_map": 0.01, "dist_p50": 0.05, "dist_p90": 0.5, "found": 0.01}


@dataclass
class Part:
    name: str
    model_type: str
    steps: int
    overrides: list[str] = field(default_factory=list)


@dataclass
class Recipe:
    """How one zoo model is made, and what its card says beyond the measured figures."""

    name: str
    labels: Path
    instances: str
    held_out: Callable[[int, sio.LabeledFrame], bool]
    model_type: str
    parts: list[Part]
    max_instances: int | None
    card: dict


COMMON = ["train.precision=bf16-mixed", "train.seed=0", "train.early_stopping_patience=null", "train.steps_per_epoch=50"]
FLY_CARD = {
    "animal": "fruit fly (Drosophila melanogaster), a female and a male",
    "setup": "courtship arena filmed from above, 384×384 grayscale, a fly about 80 px long",
    "data": "SLEAP's public two-fly sample (centered_pair_predictions.slp with centered_pair_low_quality.mp4, "
            "1,100 frames): instances predicted by an older SLEAP model, used as labels.",
    "data_licence": "BSD-3-Clause (SLEAP sample data)",
}
FLY_SPLIT = "trained on frames 0–999 (a tenth of them for validation), scored on the block 1000–1099 it never saw"


def fly_recipe(name: str, model_type: str, parts: list[Part], max_instances: int | None, **card: str) -> Recipe:
    """A model of the two-fly sample: predicted instances as labels, the last 100 frames held out."""
    return Recipe(name, FLIES, "predicted", lambda i, frame: frame.frame_idx >= 1000, model_type, parts, max_instances,
                  {**FLY_CARD, **card})


RECIPES = [
    fly_recipe(
        "flies-topdown", "topdown",
        [Part("centroid", "centroid", 1500, ["augment.rotation=180"]),
         Part("centered_instance", "centered_instance", 4000, ["augment.rotation=180"])],
        max_instances=2,
        input="whole frames, 1 channel; centroid at scale 0.58, centered instance on 192-px crops at scale 1",
        split=f"{FLY_SPLIT}, with --max-instances 2",
        works_when="flies seen from above in a bright arena, 60–100 px long at the model's scale; other views, "
                   "species or much larger animals need fine-tuning (train.init_from)",
    ),
    Recipe(
        name="mouse-openfield",
        labels=MOUSE,
        instances="user",
        held_out=lambda i, frame: i % 5 == 0,
        model_type="single_instance",
        parts=[Part("single_instance", "single_instance", 3000,
                    ["data.scale=0.5", "augment.rotation=180", "augment.brightness=0.3", "augment.contrast=0.3"])],
        max_instances=None,
        card={
            "animal": "mouse, one per arena",
            "setup": "open field filmed from above, 640×480, a mouse about 80–120 px long",
            "input": "whole frames at scale 0.5, 1 channel (colour video is converted)",
            "data": "DeepLabCut's example project openfield-Pranav-2018-10-30: 116 frames labelled by a person "
                    "(snout, left ear, right ear, tail base) from one session (m4s1).",
            "data_licence": "LGPL-3.0 (DeepLabCut examples)",
            "split": "every 5th labelled frame held out (24 frames), trained on the other 92 (a tenth of them for validation)",
            "works_when": "one mouse seen from above in an open-field arena under even light, 80–120 px long in "
                          "the video; works on other sessions of the same rig (videos/m3v1mp4.mp4)",
        },
    ),
    fly_recipe(
        "flies-bottomup", "bottomup", [Part("bottomup", "bottomup", 2500, ["augment.rotation=180"])],
        max_instances=None,
        input="whole frames at scale 1, 1 channel",
        split=f"{FLY_SPLIT}, with the model's default grouping settings",
        works_when="flies seen from above, 60–100 px long; one pass per frame whatever the number of flies",
    ),
]


def recipe(name: str) -> Recipe:
    for candidate in RECIPES:
        if candidate.name == name:
            return candidate
    raise SystemExit(f"no recipe '{name}'; recipes: {', '.join(r.name for r in RECIPES)}")


def split(recipe: Recipe, work: Path) -> tuple[Path, Path]:
    """The recipe's training and held-out frames, saved as .slp files in `work`."""
    labels = load_labels(recipe.labels)
    parts = {}
    for name, keep in (("train", lambda i, f: not recipe.held_out(i, f)), ("held_out", recipe.held_out)):
        frames = [frame for i, frame in enumerate(labels.labeled_frames) if keep(i, frame)]
        parts[name] = work / f"{recipe.name}_{name}.slp"
        sio.save_slp(sio.Labels(labeled_frames=frames, videos=labels.videos, skeletons=labels.skeletons), str(parts[name]))
    return parts["train"], parts["held_out"]


def score(recipe: Recipe, folders: list[Path | str], held_out: Path, work: Path) -> dict:
    """Held-out figures of a model: OKS mAP, error p50/p90 (px), share of animals found."""
    options = TrackOptions(quiet=True, max_instances=recipe.max_instances)
    predictions = track(held_out, [Path(str(f)) for f in folders], work / f"{recipe.name}_held_out.predictions.slp", options)
    truth = sio.load_slp(str(held_out))
    metrics = evaluate_labels(truth, predictions, gt_instances="all")
    return {
        "oks_map": round(metrics["oks_map"], 3),
        "dist_p50": round(metrics["dist_p50"], 2),
        "dist_p90": round(metrics["dist_p90"], 2),
        "found": round(metrics["n_matched"] / metrics["n_gt_instances"], 3),
        "held_out_frames": len(truth),
    }


def ship(run_dir: Path, target: Path) -> None:
    """Copy a trained folder's config (without local paths) and its best weights in float16 (half
    the size; loading casts them back to float32) without optimizer state."""
    config = load_config(run_dir / "config.yaml")
    config.data.train_labels = config.data.val_labels = config.data.cache_dir = None
    config.train.run_dir = Path("models") / target.name
    target.mkdir(parents=True, exist_ok=True)
    save_config(config, target / "config.yaml")
    state = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    weights = {key: value.half() if value.is_floating_point() else value for key, value in state.items() if key.startswith("model.")}
    with atomic_path(target / "best.ckpt") as temporary:
        torch.save({"state_dict": weights}, temporary)


def build(recipe: Recipe, work: Path) -> ZooModel:
    """Train, ship and score one recipe; its index entry."""
    train_file, held_out = split(recipe, work)
    target = ZOO / "models" / recipe.name
    shutil.rmtree(target, ignore_errors=True)
    seconds = {}
    for part in recipe.parts:
        run_dir = work / part.name
        config = config_from_labels(train_file, part.model_type, recipe.instances)
        budget = [f"train.run_dir={run_dir}", f"train.epochs={part.steps // 50}", *COMMON, *part.overrides]
        start = time.perf_counter()
        train(with_overrides(config, budget), quiet=True)
        seconds[part.name] = round(time.perf_counter() - start)
        ship(run_dir, target / part.name)
    metrics = score(recipe, [target / part.name for part in recipe.parts], held_out, work)
    config = load_config(target / recipe.parts[-1].name / "config.yaml")
    files = [
        ZooFile(path=str(path.relative_to(target)), sha256=sha256_of(path), size=path.stat().st_size)
        for path in sorted(target.rglob("*")) if path.is_file()
    ]
    training = ", ".join(f"{part.name} {part.steps} steps ({seconds[part.name]} s)" for part in recipe.parts)
    return ZooModel(
        name=recipe.name, model_type=recipe.model_type, parts=[part.name for part in recipe.parts],
        nodes=config.data.skeleton.nodes, edges=config.data.skeleton.edges, metrics=metrics,
        training=f"{training}; batch {config.train.batch_size}, bfloat16 mixed precision, seed 0, 2-core CPU",
        command=f"python scripts/build_zoo.py --only {recipe.name}", files=files, **recipe.card,
    )


def save_entry(entry: ZooModel) -> None:
    """Put `entry` into the packaged index (replacing one of the same name), atomically."""
    index = read_index(str(PACKAGED_INDEX))
    models = [model for model in index.models if model.name != entry.name] + [entry]
    order = [r.name for r in RECIPES]
    models.sort(key=lambda m: order.index(m.name) if m.name in order else len(order))
    write_text_atomic(PACKAGED_INDEX, json.dumps(ZooIndex(models=models).model_dump(mode="json"), indent=1, ensure_ascii=False) + "\n")


def rescore(name: str, work: Path) -> dict:
    """The held-out figures of the shipped model `name`, measured now."""
    recipe_ = recipe(name)
    _, held_out = split(recipe_, work)
    return score(recipe_, [f"zoo:{name}"], held_out, work)


def check(names: list[str], work: Path) -> list[dict]:
    """Score the shipped models again on their held-out frames; a row per figure, card against now."""
    index = {model.name: model for model in read_index(str(PACKAGED_INDEX)).models}
    rows = []
    for name in names:
        if name not in index:
            continue
        now = rescore(name, work)
        for key, tolerance in TOLERANCE.items():
            card = index[name].metrics[key]
            rows.append({"model": name, "figure": key, "card": card, "now": now[key],
                         "within": abs(float(card) - now[key]) <= tolerance})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=[r.name for r in RECIPES])
    parser.add_argument("--check", action="store_true", help="score the shipped models; compare with their cards")
    parser.add_argument("--rescore", action="store_true", help="score the shipped models; write the figures into their cards")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"the public data is not at {DATA}")
    with tempfile.TemporaryDirectory() as work:
        if args.check:
            rows = check(args.only, Path(work))
            for row in rows:
                print(f"{row['model']:18} {row['figure']:10} card {row['card']:>8} now {row['now']:>8} {'ok' if row['within'] else 'DIFFERS'}")
            raise SystemExit(0 if all(row["within"] for row in rows) else 1)
        if args.rescore:
            index = {model.name: model for model in read_index(str(PACKAGED_INDEX)).models}
            for name in (name for name in args.only if name in index):
                metrics = rescore(name, Path(work))
                save_entry(index[name].model_copy(update={"metrics": metrics}))
                print(f"{name}: {index[name].metrics} → {metrics}")
            return
        for name in args.only:
            entry = build(recipe(name), Path(work))
            save_entry(entry)
            print(f"{name}: {entry.metrics} ({entry.size / 1e6:.1f} MB) — {entry.training}")


if __name__ == "__main__":
    main()
