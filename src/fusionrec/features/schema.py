"""Schema: the features of the user side and the item side; Features: their encoded columns.

A side lists its features (each of a kind: Categorical, MultiCategorical, Text, Numeric);
at most one of them is the entity's id (a Categorical with ``id=True``). A side may have no
id (a pure content tower) or only its id. Every feature's state
(vocabulary or statistics) lives in :class:`fusionrec.features.encoder.FeatureEncoder`, which
turns tables into :class:`Features`: the encoded arrays a tower reads, keyed by feature name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.atomic import write_bytes_atomic
from fusionrec.errors import ConfigError, DataFormatError, ValidationError
from fusionrec.features.categorical import Categorical
from fusionrec.features.kind import Feature
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.numeric import Numeric
from fusionrec.features.text import Text

#: every feature kind by its ``kind`` name (what a saved schema names)
KINDS: dict[str, type[Feature]] = {
    k.kind: k for k in (Categorical, MultiCategorical, Text, Numeric)
}
SIDES = ("user", "item")
SCHEMA_VERSION = 1


def feature_from_dict(data: Any) -> Feature:
    """A feature spec from :meth:`Feature.to_dict` output."""
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        raise ValidationError(f"not a feature spec (unknown kind): {data!r}")
    cls = KINDS[data["kind"]]
    known = {f.name for f in dataclasses.fields(cls)}
    options = {k: v for k, v in data.items() if k != "kind"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValidationError(f"{cls.__name__} spec has unknown field(s): {', '.join(unknown)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ValidationError(f"invalid {cls.__name__} spec {data!r}: {exc}") from exc


def _side(features: Iterable[Feature], side: str) -> tuple[Feature, ...]:
    out = tuple(features)
    if not out:
        raise ValidationError(f"schema: the {side} side needs at least one feature")
    for f in out:
        if not isinstance(f, Feature):
            raise ValidationError(f"schema: {side} feature {f!r} is not a Feature")
    names = [f.name for f in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"schema: {side} feature name(s) repeated: {', '.join(dupes)}")
    ids = [f.name for f in out if f.is_id]
    if len(ids) > 1:
        raise ValidationError(f"schema: the {side} side has several ids: {', '.join(ids)}")
    return out


@dataclasses.dataclass(frozen=True)
class Schema:
    """The user side's and the item side's features, in tower order."""

    user: tuple[Feature, ...]
    item: tuple[Feature, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "user", _side(self.user, "user"))
        object.__setattr__(self, "item", _side(self.item, "item"))

    def side(self, name: str) -> tuple[Feature, ...]:
        """The features of side ``"user"`` or ``"item"``."""
        if name not in SIDES:
            raise ValidationError(f"schema side must be one of {SIDES}, got {name!r}")
        features: tuple[Feature, ...] = getattr(self, name)
        return features

    def id_of(self, side: str) -> Feature | None:
        """The side's id feature, if it has one."""
        return next((f for f in self.side(side) if f.is_id), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what a model directory saves)."""
        return {
            "schema_version": SCHEMA_VERSION,
            **{s: [f.to_dict() for f in self.side(s)] for s in SIDES},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """Inverse of :meth:`to_dict`; malformed data raises :class:`ValidationError`."""
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            version = data.get("schema_version") if isinstance(data, dict) else None
            raise ValidationError(
                f"schema version {version!r} is not supported (expected {SCHEMA_VERSION})"
            )
        sides = {}
        for s in SIDES:
            specs = data.get(s)
            if not isinstance(specs, list):
                raise ValidationError(f"schema: {s} must be a list of feature specs")
            sides[s] = tuple(feature_from_dict(spec) for spec in specs)
        return cls(**sides)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the schema as JSON (:meth:`to_dict`) atomically: a temporary file, renamed."""
        data = (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8")
        try:
            write_bytes_atomic(Path(path), data)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the schema: {exc.strerror or exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        """Read a schema written by :meth:`save`; a problem is a DataFormatError naming the file."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise DataFormatError(f"{path}: no such schema file") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise DataFormatError(f"{path}: not a UTF-8 JSON schema: {exc}") from None
        except OSError as exc:
            raise DataFormatError(
                f"{path}: cannot read the schema: {exc.strerror or exc}"
            ) from None
        try:
            return cls.from_dict(data)
        except ValidationError as exc:
            raise DataFormatError(f"{path}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Features:
    """Encoded columns of n entities, keyed by feature name (one generic type for both sides)."""

    columns: Mapping[str, npt.NDArray[Any]]

    def __post_init__(self) -> None:
        lengths = {name: len(a) for name, a in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValidationError(f"Features columns differ in length: {lengths}")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.columns[name]

    def take(self, index: npt.ArrayLike) -> Features:
        """Rows at ``index``."""
        idx = np.asarray(index)
        return Features({k: v[idx] for k, v in self.columns.items()})
