"""The model zoo's index: which pretrained models exist, what they are, and where their files come from.

The index shipped with posenn is `posenn/zoo/index.json`. More indexes (a lab's own models) are
added with the environment variable `POSENN_ZOO_INDEX`: paths or `file://`/`https://` URLs of
index files, separated by the path separator (`:` on Linux and macOS).
"""

from __future__ import annotations

import difflib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from posenn.errors import PosennError

PACKAGED_INDEX = Path(__file__).parent / "index.json"
INDEX_ENV = "POSENN_ZOO_INDEX"


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZooFile(Entry):
    """One file of a zoo model, relative to the model's folder (e.g. `centroid/best.ckpt`)."""

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    url: str | None = Field(None, description="Where to download it; none: it ships inside the package.")


class ZooModel(Entry):
    """One entry of the zoo: its model card and its files."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    animal: str
    setup: str
    model_type: Literal["single_instance", "topdown", "bottomup", "multiclass_bottomup", "multiclass_topdown"]
    parts: list[str] = Field(min_length=1, description="Model folders, in the order `posenn track -m` takes them.")
    nodes: list[str]
    edges: list[tuple[str, str]] = Field(default_factory=list)
    input: str = Field(description="What the model expects: frame size, channels, scale.")
    metrics: dict[str, float | int | str] = Field(default_factory=dict, description="Held-out figures.")
    data: str
    data_licence: str
    split: str
    training: str
    command: str
    works_when: str
    files: list[ZooFile]

    @property
    def size(self) -> int:
        """Bytes of all its files."""
        return sum(file.size for file in self.files)

    @property
    def packaged(self) -> bool:
        """Whether every file ships inside the installed package."""
        return all(file.url is None for file in self.files)


class ZooIndex(Entry):
    version: Literal[1] = 1
    models: list[ZooModel] = Field(default_factory=list)


def read_index(location: str) -> ZooIndex:
    """Read one index file from a path or URL.

    Raises:
        PosennError: naming the index when it cannot be read or does not hold a valid index.
    """
    try:
        if "://" in location:
            with urllib.request.urlopen(location, timeout=30) as response:
                text = response.read().decode("utf-8")
        else:
            text = Path(location).read_text(encoding="utf-8")
    except (OSError, urllib.error.URLError, UnicodeDecodeError) as exc:
        raise PosennError(f"Zoo index {location} (from {INDEX_ENV} or the package) cannot be read: {exc}.") from None
    try:
        return ZooIndex.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise PosennError(f"Zoo index {location}: not JSON ({exc}).") from None
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise PosennError(f"Zoo index {location}: {where}: {problem['msg']}.") from None


def index_locations() -> list[str]:
    """The packaged index, then those named by `POSENN_ZOO_INDEX`."""
    extra = [part for part in os.environ.get(INDEX_ENV, "").split(os.pathsep) if part]
    return [str(PACKAGED_INDEX), *extra]


def zoo_models() -> dict[str, tuple[ZooModel, str]]:
    """Every zoo model by name, with the index it came from.

    Raises:
        PosennError: when two indexes list the same name.
    """
    models: dict[str, tuple[ZooModel, str]] = {}
    for location in index_locations():
        for model in read_index(location).models:
            if model.name in models:
                raise PosennError(f"Zoo model '{model.name}' is listed twice: in {models[model.name][1]} and in {location}.")
            models[model.name] = (model, location)
    return models


def find_model(name: str) -> tuple[ZooModel, str]:
    """The zoo model called `name`, with the location of its index.

    Raises:
        PosennError: for an unknown name, listing the close ones and the command that lists all.
    """
    models = zoo_models()
    if name in models:
        return models[name]
    close = difflib.get_close_matches(name, list(models), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise PosennError(f"zoo:{name}: no such model in the zoo.{hint} `posenn zoo list` shows them all ({len(models)}).")


def file_source(model: ZooModel, file: ZooFile, index: str) -> str:
    """Where `file` comes from: its URL (a relative one resolved against the index's location),
    else `models/NAME/PATH` beside the index (a local path, or a URL for a remote index)."""
    if file.url is not None and "://" in file.url:
        return file.url
    relative = file.url if file.url is not None else f"models/{model.name}/{file.path}"
    if "://" in index:
        return urllib.parse.urljoin(index, relative)
    local = Path(index).resolve().parent / relative
    return local.as_uri() if file.url is not None else str(local)
