"""FeatureEncoder: the schema's fitted states, turning user and item tables into Features.

Each feature's state (a vocabulary or standardization statistics) is fitted on its column of
the training tables and saved as JSON with the schema next to the model; encoding reads each
feature's column by its name. Vocabularies reserve ``PAD = 0`` and ``UNK = 1``; ids are never
derived from ``hash()``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt

from fusionrec.atomic import write_bytes_atomic
from fusionrec.data.dataset import Dataset, as_dataset
from fusionrec.data.tables import MovieLens
from fusionrec.errors import ModelDirError, ValidationError
from fusionrec.features.schema import SIDES, Features, Schema
from fusionrec.features.vocabulary import PAD, UNK

FORMAT_VERSION = 2  # 1: the hand-wired MovieLens vocabularies, without a schema

__all__ = ["FORMAT_VERSION", "PAD", "UNK", "FeatureEncoder", "table_columns"]


def table_columns(table: Any) -> dict[str, Any]:
    """A table (a dataclass of columns such as Users or Movies, or a mapping) as columns."""
    if isinstance(table, Mapping):
        return dict(table)
    fields = getattr(table, "__dataclass_fields__", None)
    if fields is None:
        raise ValidationError(f"expected a table of columns, got {type(table).__name__}")
    return {name: getattr(table, name) for name in fields}


def _column(table: Mapping[str, Any], name: str, side: str) -> Any:
    if name not in table:
        raise ValidationError(f"the {side} table has no column {name!r} (a schema feature)")
    return table[name]


class FeatureEncoder:
    """Every feature's fitted state; encodes a side's table into :class:`Features`."""

    def __init__(self, schema: Schema, states: Mapping[str, Mapping[str, Any]]) -> None:
        self.schema = schema
        self.states = {s: {f.name: states[s][f.name] for f in schema.side(s)} for s in SIDES}

    # ---- building ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: Dataset | MovieLens, schema: Schema | None = None) -> FeatureEncoder:
        """Fit ``schema`` (default: the data set's own, e.g. the MovieLens schema of its kind)
        on a data set's users and items."""
        dataset = as_dataset(data)
        chosen = schema if schema is not None else dataset.schema
        if chosen is None:
            raise ValidationError(
                f"{dataset.source}: the data set has no schema; pass schema= (see infer_schema)"
            )
        return cls.fit_columns(
            chosen, dataset.users.as_columns(), dataset.items.as_columns(), dataset.declared
        )

    @classmethod
    def fit_columns(
        cls,
        schema: Schema,
        users: Mapping[str, Sequence[Any] | npt.NDArray[Any]],
        items: Mapping[str, Sequence[Any] | npt.NDArray[Any]],
        extra: Mapping[str, Sequence[Any]] | None = None,
    ) -> FeatureEncoder:
        """Fit every feature on its column; ``extra[name]`` adds declared values to a vocabulary."""
        tables = {"user": users, "item": items}
        states: dict[str, dict[str, Any]] = {}
        for s in SIDES:
            states[s] = {
                f.name: f.fit(_column(tables[s], f.name, s), (extra or {}).get(f.name, ()))
                for f in schema.side(s)
            }
        return cls(schema, states)

    # ---- encoding ---------------------------------------------------------------------------
    def encode(self, side: str, table: Any) -> Features:
        """Encode a side's table (each feature's column by its name).

        Without an id column every row gets the unknown id (cold start); unknown values
        encode as UNK, missing ones (None) as UNK or the feature's learned default.
        """
        columns = table_columns(table)
        id_feature = self.schema.id_of(side)
        if id_feature is not None and id_feature.name not in columns and columns:
            n = len(next(iter(columns.values())))
            columns[id_feature.name] = [None] * n
        return Features(
            {
                f.name: f.encode(self.states[side][f.name], _column(columns, f.name, side))
                for f in self.schema.side(side)
            }
        )

    def encode_users(self, users: Any) -> Features:
        """Encode a user table; unknown values (and a missing id: None) give UNK."""
        return self.encode("user", users)

    def encode_items(self, items: Any) -> Features:
        """Encode an item table."""
        return self.encode("item", items)

    encode_movies = encode_items

    # ---- sizes and ids ----------------------------------------------------------------------
    def input_rows(self, side: str) -> dict[str, int | None]:
        """Embedding rows per feature of ``side`` (None for value features)."""
        return {f.name: f.input_rows(self.states[side][f.name]) for f in self.schema.side(side)}

    def id_rows(self, side: str) -> int:
        """Rows of the side's id embedding (the bias tables' length)."""
        feature = self.schema.id_of(side)
        if feature is None:
            raise ValidationError(f"the {side} side of the schema has no id feature")
        rows = feature.input_rows(self.states[side][feature.name])
        assert rows is not None
        return rows

    def has_id(self, side: str, value: object) -> bool:
        """Whether ``value`` has its own entry in the side's id vocabulary (else it is UNK)."""
        feature = self.schema.id_of(side)
        return feature is not None and value in self.states[side][feature.name]

    def has_user(self, user_id: object) -> bool:
        """Whether ``user_id`` has its own vocabulary entry."""
        return self.has_id("user", user_id)

    def has_movie(self, movie_id: object) -> bool:
        """Whether ``movie_id`` has its own vocabulary entry."""
        return self.has_id("item", movie_id)

    # ---- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: the format version, the schema and every state."""
        return {
            "format_version": FORMAT_VERSION,
            "schema": self.schema.to_dict(),
            "states": {
                s: {f.name: f.state_to_dict(self.states[s][f.name]) for f in self.schema.side(s)}
                for s in SIDES
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> FeatureEncoder:
        """Rebuild from :meth:`to_dict` output; malformed data raises :class:`ValidationError`."""
        if not isinstance(data, dict):
            raise ValidationError("malformed encoder data: not a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValidationError(
                f"encoder format version {version} is not supported (expected {FORMAT_VERSION})"
            )
        schema = Schema.from_dict(data.get("schema"))
        saved = data.get("states")
        if not isinstance(saved, dict):
            raise ValidationError("malformed encoder data: no states")
        states: dict[str, dict[str, Any]] = {}
        for s in SIDES:
            side = saved.get(s)
            if not isinstance(side, dict):
                raise ValidationError(f"malformed encoder data: no {s} states")
            states[s] = {}
            for f in schema.side(s):
                if f.name not in side:
                    raise ValidationError(f"malformed encoder data: no state for {s} {f.name!r}")
                states[s][f.name] = f.state_from_dict(side[f.name])
        return cls(schema, states)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the encoder as JSON atomically (temp file + rename)."""
        write_bytes_atomic(Path(path), json.dumps(self.to_dict()).encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureEncoder:
        """Read an encoder written by :meth:`save`."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError as exc:
            raise ModelDirError(f"encoder file not found: {path}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ModelDirError(f"encoder file {path} is not valid UTF-8 JSON: {exc}") from exc
        except OSError as exc:
            raise ModelDirError(f"encoder file {path} is unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelDirError(f"encoder file {path} does not hold a JSON object")
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureEncoder):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        sides = ", ".join(f"{s}=[{', '.join(f.name for f in self.schema.side(s))}]" for s in SIDES)
        return f"FeatureEncoder({sides})"
