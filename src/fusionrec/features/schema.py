"""Schema: the features of the user side and the item side, and their fitted encoder.

A side lists its features (each of a kind: Categorical, MultiCategorical, Text, Numeric);
at most one of them is the entity's id (a Categorical with ``id=True``). A side may have no
id (a pure content tower) or only its id. :class:`SchemaEncoder` holds every feature's state
(vocabulary or statistics), fitted on the user and item tables, and turns columns into
:class:`Features`: the encoded arrays a tower reads, keyed by feature name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError
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


class SchemaEncoder:
    """Every feature's fitted state; encodes a side's columns into :class:`Features`."""

    def __init__(self, schema: Schema, states: Mapping[str, Mapping[str, Any]]) -> None:
        self.schema = schema
        self.states = {s: {f.name: states[s][f.name] for f in schema.side(s)} for s in SIDES}

    @classmethod
    def fit(
        cls,
        schema: Schema,
        users: Mapping[str, Sequence[Any]],
        items: Mapping[str, Sequence[Any]],
        extra: Mapping[str, Sequence[Any]] | None = None,
    ) -> SchemaEncoder:
        """Fit every feature on its column; ``extra[name]`` adds declared values to a vocabulary."""
        tables = {"user": users, "item": items}
        states: dict[str, dict[str, Any]] = {}
        for s in SIDES:
            states[s] = {}
            for f in schema.side(s):
                column = _column(tables[s], f.name, s)
                states[s][f.name] = f.fit(column, (extra or {}).get(f.name, ()))
        return cls(schema, states)

    def encode(self, side: str, columns: Mapping[str, Sequence[Any]]) -> Features:
        """Encode a side's columns (each feature's column by its name)."""
        return Features(
            {
                f.name: f.encode(self.states[side][f.name], _column(columns, f.name, side))
                for f in self.schema.side(side)
            }
        )

    def input_rows(self, side: str) -> dict[str, int | None]:
        """Embedding rows per feature of ``side`` (None for value features)."""
        return {f.name: f.input_rows(self.states[side][f.name]) for f in self.schema.side(side)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the schema and every state."""
        return {
            "schema": self.schema.to_dict(),
            "states": {
                s: {f.name: f.state_to_dict(self.states[s][f.name]) for f in self.schema.side(s)}
                for s in SIDES
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> SchemaEncoder:
        """Inverse of :meth:`to_dict`; malformed data raises :class:`ValidationError`."""
        if not isinstance(data, dict) or not isinstance(data.get("states"), dict):
            raise ValidationError("malformed encoder data: needs a schema and states")
        schema = Schema.from_dict(data.get("schema"))
        states: dict[str, dict[str, Any]] = {}
        for s in SIDES:
            saved = data["states"].get(s)
            if not isinstance(saved, dict):
                raise ValidationError(f"malformed encoder data: no {s} states")
            states[s] = {}
            for f in schema.side(s):
                if f.name not in saved:
                    raise ValidationError(f"malformed encoder data: no state for {s} {f.name!r}")
                states[s][f.name] = f.state_from_dict(saved[f.name])
        return cls(schema, states)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SchemaEncoder):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _column(table: Mapping[str, Sequence[Any]], name: str, side: str) -> Sequence[Any]:
    if name not in table:
        raise ValidationError(f"the {side} table has no column {name!r} (a schema feature)")
    return table[name]
