"""The files of a saved recommender directory: format, the state file, reading one version.

:meth:`FusionRecommender.save` writes a version subdirectory (model, users.npz, items.npz,
seen.npz, state.json) that ``recommender.json`` names; this module holds the names of those
files, validates what a version holds, and decides how the saved store is reopened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fusionrec import catalog
from fusionrec.atomic import Version
from fusionrec.data.dataset import Table
from fusionrec.errors import ConfigError, ModelDirError
from fusionrec.interactions import SeenItems
from fusionrec.serve.bundle import ModelBundle
from fusionrec.serve.model_dir import read_model_files, reading
from fusionrec.stores.fields import MetadataField

#: Version 3: generic user and item tables (users.npz, items.npz), string ids, metadata
#: fields. Version 2 held MovieLens tables (movies.json); version 1 had no subdirectory.
FORMAT_VERSION = 3
FORMAT_NAME = "fusionrec-recommender"
#: The pointer file at the top of a saved directory: format, current version, checksums.
POINTER = "recommender.json"
#: Occupation names, store settings, metadata fields and the feedback kind, in each version.
STATE_FILE = "state.json"
#: What a version 1 directory held at its top level; removed once a new version is saved.
LEGACY = ("model", "users.npz", "movies.json", "seen.npz")
#: Store options that carry credentials: sent only to a URI named by the caller.
_CREDENTIAL_OPTIONS = ("token", "password", "api_key")


def saved_store_settings(state_file: Path, settings: Any) -> dict[str, Any] | None:
    """The store settings a model directory holds: None or a mapping naming a backend."""
    if settings is None:
        return None
    if not isinstance(settings, dict) or not isinstance(settings.get("backend"), str):
        raise ModelDirError(f"{state_file}: 'store' must be an object with a string 'backend'")
    return settings


def serving_options(state_file: Path, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """How load reopens the saved store: read-only unless asked, credentials to a given URI."""
    out: dict[str, Any] = {"read_only": True, **dict(options or {})}
    credentials = [name for name in _CREDENTIAL_OPTIONS if out.get(name)]
    if credentials and "uri" not in out:
        raise ConfigError(
            f"store_options {credentials} would go to the store URI saved in {state_file}; a "
            "model directory is not trusted with credentials: pass the server's 'uri' in "
            "store_options too, or open the store yourself and pass store="
        )
    return out


@dataclass(frozen=True)
class Saved:
    """Everything one saved version holds, read and validated."""

    path: Path
    bundle: ModelBundle
    users: Table
    items: Table
    seen: SeenItems
    occupations: tuple[str, ...] | None
    fields: tuple[MetadataField, ...]
    implicit: bool
    state: dict[str, Any]


def check_header(header: dict[str, Any], pointer: Path) -> None:
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"{pointer}: format version {header.get('format_version')!r} is not supported "
            f"(this fusionrec reads version {FORMAT_VERSION}; save the model again)"
        )
    if header.get("format") != FORMAT_NAME:
        raise ModelDirError(f"{pointer} is not a fusionrec recommender directory")


def read_saved(version: Version) -> Saved:
    """Read and validate the files of one saved version (see :meth:`FusionRecommender.save`)."""
    root = version.path
    missing = [
        n
        for n in (STATE_FILE, "model", "users.npz", "items.npz", "seen.npz")
        if not (root / n).exists()
    ]
    if missing:
        raise ModelDirError(f"{root}: not a complete fusionrec model directory, missing {missing}")
    state_file = root / STATE_FILE
    with reading(state_file):
        state = json.loads(state_file.read_bytes().decode("utf-8"))
    if not isinstance(state, dict):
        raise ModelDirError(f"{state_file}: expected a JSON object, got {type(state).__name__}")
    occupations = state.get("occupations")  # None: not MovieLens; empty: ml-25m (no demographics)
    if occupations is not None and (
        not isinstance(occupations, list) or not all(isinstance(o, str) and o for o in occupations)
    ):
        raise ModelDirError(
            f"{state_file}: occupations must be a list of names, got {occupations!r:.80}"
        )
    implicit = state.get("implicit")
    if not isinstance(implicit, bool):
        raise ModelDirError(f"{state_file}: 'implicit' must be true or false, got {implicit!r:.40}")
    declared = state.get("fields")
    if not isinstance(declared, list):
        raise ModelDirError(f"{state_file}: 'fields' must be a list, got {declared!r:.40}")
    try:
        fields = tuple(MetadataField.from_dict(f) for f in declared)
    except ConfigError as exc:
        raise ModelDirError(f"{state_file}: {exc}") from None
    saved_store_settings(state_file, state.get("store"))
    return Saved(
        path=root,
        bundle=read_model_files(root / "model"),
        users=catalog.load_table(root / "users.npz"),
        items=catalog.load_table(root / "items.npz"),
        seen=SeenItems.load(root / "seen.npz"),
        occupations=None if occupations is None else tuple(occupations),
        fields=fields,
        implicit=implicit,
        state=state,
    )
