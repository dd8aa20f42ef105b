"""Your own data as a :class:`~fusionrec.data.Dataset`: pandas DataFrames, CSV or Parquet files.

:func:`from_frames` takes an interactions table (who interacted with what, with an optional
rating, weight and timestamp) and optional users and items tables (one row per entity, any
feature or metadata columns); :func:`read_dataset` reads the same tables from CSV or Parquet
files. Every problem is a :class:`~fusionrec.errors.DataFormatError` naming the file (or
frame), the row (a CSV file's line, header = line 1) and the column; nothing is dropped
unless a drop policy asks for it, and then the dropped rows are counted in a warning and in
``Dataset.notes``. pandas (and pyarrow, for Parquet) come with the ``data`` extra:
``pip install 'fusionrec[data]'``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import numpy.typing as npt

from fusionrec.data.dataset import Dataset, EntityIds, Interactions, Table
from fusionrec.errors import ConfigError, DataFormatError, ValidationError
from fusionrec.ids import INT64_MAX, INT64_MIN, plain

if TYPE_CHECKING:
    import os

    from fusionrec.features import Feature, Schema

__all__ = ["LIST_SEP", "ON_UNKNOWN", "DroppedRowsWarning", "from_frames", "read_dataset"]

#: what splits a list-valued cell given as one string (a CSV file's "Toys|Games")
LIST_SEP = "|"
#: what to do with an interaction whose user or item is missing from a given table
ON_UNKNOWN = ("error", "drop")

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")


class DroppedRowsWarning(UserWarning):
    """A drop policy (``on_unknown="drop"``) removed interactions; the message counts them."""


def _pandas() -> Any:
    """pandas, or a ConfigError naming the extra that installs it."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ConfigError(
            "reading DataFrames, CSV or Parquet needs pandas: pip install 'fusionrec[data]'"
        ) from None


# ---- where a value came from ---------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    """A table's name (a file or "the users frame") and how its rows are numbered."""

    name: str
    unit: str = "row"  # "line" for a CSV file
    first: int = 0  # the number of row 0 (CSV: 2, the header being line 1; Parquet: 1)
    labels: Any = None  # a DataFrame's index: rows are named by their label

    def at(self, pos: int) -> str:
        if self.labels is not None:
            return f"row {_show(self.labels[pos])}"
        return f"{self.unit} {pos + self.first}"

    def fail(self, column: str, pos: int, problem: str) -> NoReturn:
        raise DataFormatError(f"{self.name}, {self.at(pos)}: column {column!r}: {problem}")

    def missing(self, column: str, columns: Sequence[Any], why: str = "") -> NoReturn:
        have = ", ".join(repr(str(c)) for c in columns) or "none"
        raise DataFormatError(f"{self.name}: no column {column!r}{why} (columns: {have})")


def _show(value: Any) -> str:
    """A value as the user wrote it (``5``, ``'A-1'``), not as numpy prints it."""
    return repr(plain(value))


def _names(frame: Any, origin: _Origin) -> list[str]:
    """A frame's column names as str; a name given twice is an error."""
    names = [str(c) for c in frame.columns]
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise DataFormatError(f"{origin.name}: column {twice!r} appears twice")
    return names


def _frame_origin(frame: Any, name: str) -> _Origin:
    pd = _pandas()
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1:
        return _Origin(name)
    return _Origin(name, labels=frame.index)


# ---- cells --------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(math.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


def _cell_class(value: Any) -> str | None:
    """``"str"``, ``"bool"``, ``"number"`` or ``"list"``; None for an unsupported type."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    if isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return "list"
    return None


def _plural(cls: str) -> str:
    return {"str": "strings", "bool": "booleans", "number": "numbers", "list": "lists"}[cls]


def _list_cell(
    value: Any, origin: _Origin, column: str, pos: int, sep: str | None
) -> tuple[Any, ...]:
    """A list-valued cell as a tuple of str or int values (a string is split at ``sep``)."""
    if isinstance(value, str) and sep is not None:
        return tuple(part for part in value.split(sep) if part)
    if _cell_class(value) != "list":
        origin.fail(column, pos, f"{value!r:.60} ({type(value).__name__}) is not a list")
    out: list[Any] = []
    for element in list(value):
        if isinstance(element, str) and element:
            out.append(str(element))
        elif isinstance(element, int | np.integer) and not isinstance(element, bool | np.bool_):
            out.append(int(element))
        else:
            origin.fail(
                column,
                pos,
                f"list value {element!r:.60} ({type(element).__name__}) is not a non-empty "
                "string or an integer",
            )
    return tuple(out)


def _objects(
    values: npt.NDArray[Any], origin: _Origin, column: str, sep: str | None
) -> npt.NDArray[Any]:
    """A column of Python objects as one typed array; ``sep``: the column is declared a list.

    Strings stay an object array (missing: None); numbers become int64 (float64 with NaN if
    any is a float or missing); booleans a bool array (an object array if some are missing);
    lists an object array of tuples (missing: the empty tuple). Two kinds in one column, or
    a value of another type, is a DataFormatError at its row.
    """
    kind = "list" if sep is not None else None
    first = -1
    missing = np.zeros(len(values), dtype=bool)
    for pos, value in enumerate(values.tolist()):
        if _is_missing(value):
            missing[pos] = True
            continue
        cls = _cell_class(value)
        if cls is None:
            origin.fail(column, pos, f"a value of type {type(value).__name__} is not supported")
        if kind is None:
            kind, first = cls, pos
        elif cls != kind and not (kind == "list" and cls == "str" and sep is not None):
            if first < 0:
                origin.fail(column, pos, f"{value!r:.60} ({type(value).__name__}) is not a list")
            origin.fail(
                column,
                pos,
                f"{value!r:.60} ({type(value).__name__}) is not like the column's other values: "
                f"{_plural(kind)}, as at {origin.at(first)}",
            )
    out: npt.NDArray[Any]
    if kind == "list":
        out = np.empty(len(values), dtype=object)
        element_kind: type | None = None
        for pos, value in enumerate(values.tolist()):
            row = () if missing[pos] else _list_cell(value, origin, column, pos, sep)
            for element in row:
                if element_kind is None:
                    element_kind = type(element)
                elif type(element) is not element_kind:
                    origin.fail(column, pos, "mixes string and integer list values")
            out[pos] = row
        return out
    if kind == "number":
        present = values[~missing].tolist()
        if missing.any() or any(isinstance(v, float | np.floating) for v in present):
            pairs = zip(values.tolist(), missing.tolist(), strict=True)
            return np.array([math.nan if m else float(v) for v, m in pairs])
        for pos, value in enumerate(values.tolist()):
            if not INT64_MIN <= int(value) <= INT64_MAX:
                origin.fail(column, pos, f"{value} is outside the 64-bit integer range")
        return np.array([int(v) for v in values.tolist()], dtype=np.int64)
    if kind == "bool" and not missing.any():
        return np.array([bool(v) for v in values.tolist()], dtype=bool)
    out = np.empty(len(values), dtype=object)
    pairs = zip(values.tolist(), missing.tolist(), strict=True)
    out[:] = [None if m else (str(v) if kind == "str" else bool(v)) for v, m in pairs]
    return out


def _column(series: Any, origin: _Origin, column: str, sep: str | None) -> npt.NDArray[Any]:
    """A DataFrame column as a numpy array of one kind (see :func:`_objects`)."""
    dtype = series.dtype
    kind = dtype.kind if isinstance(dtype, np.dtype) else None
    if kind is not None and sep is None:
        if kind == "b":
            return np.asarray(series.to_numpy(), dtype=bool)
        if kind in "iu":
            arr = series.to_numpy()
            if kind == "u" and len(arr) and int(arr.max()) > INT64_MAX:
                origin.fail(column, int(arr.argmax()), "a value beyond the 64-bit integer range")
            return np.asarray(arr, dtype=np.int64)
        if kind == "f":
            return np.asarray(series.to_numpy(), dtype=np.float64)
        if kind in "mM":
            raise DataFormatError(
                f"{origin.name}: column {column!r}: {dtype} values are not supported as "
                "features; convert them to numbers or strings"
            )
    return _objects(np.asarray(series.to_numpy(dtype=object)), origin, column, sep)


def _as_numbers(values: npt.NDArray[Any], origin: _Origin, column: str) -> npt.NDArray[Any]:
    """A column a Numeric feature reads: numbers as they are; strings parsed, or an error."""
    if values.dtype.kind in "iuf":
        return values
    out = np.full(len(values), math.nan)
    for pos, value in enumerate(values.tolist()):
        if value is None:
            continue
        if isinstance(value, bool | tuple):
            origin.fail(column, pos, f"{value!r:.60} is not a number (a Numeric feature)")
        try:
            out[pos] = float(value)
        except ValueError:
            origin.fail(column, pos, f"{value!r:.60} is not a number (a Numeric feature)")
    return out


# ---- ids ----------------------------------------------------------------------------------


def _ids(series: Any, origin: _Origin, column: str, what: str) -> EntityIds:
    """Ids as int64 or an object array of non-empty str; a null, empty, float or mixed id is an
    error at its row."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return _column(series, origin, column, None)
    null = np.flatnonzero(np.asarray(series.isna()))
    if len(null):  # first: pandas turns integer ids with a gap into floats
        origin.fail(column, int(null[0]), f"null {what} id")
    if _string_dtype(series):  # every value a str: only empty ones to find
        empty = np.flatnonzero(np.asarray(series.str.len() == 0))
        if len(empty):
            origin.fail(column, int(empty[0]), f"empty {what} id")
        return np.asarray(series.to_numpy(dtype=object))
    values = series.to_numpy(dtype=object).tolist()
    kind: str | None = None
    for pos, value in enumerate(values):
        if isinstance(value, str):
            cls = "str"
            if not value:
                origin.fail(column, pos, f"empty {what} id")
        elif isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            cls = "int"
            if not INT64_MIN <= int(value) <= INT64_MAX:
                origin.fail(column, pos, f"{what} id {value} is outside the 64-bit integer range")
        else:
            origin.fail(
                column,
                pos,
                f"{what} id {value!r:.60} ({type(value).__name__}) is not an integer or a string",
            )
        if kind is None:
            kind = cls
        elif cls != kind:
            origin.fail(column, pos, f"{what} id {value!r:.60} mixes string and integer ids")
    if kind == "str":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array([int(v) for v in values], dtype=np.int64)


def _id_kind(ids: EntityIds) -> str:
    return "string" if ids.dtype == np.object_ else "integer"


def _unique_ids(ids: EntityIds, origin: _Origin, column: str, what: str) -> None:
    """A duplicate id in an entity table is an error at its second row."""
    pd = _pandas()
    dup = pd.Index(ids).duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[pos])[0])
        origin.fail(column, pos, f"duplicate {what} {_show(ids[pos])} (also at {origin.at(first)})")


# ---- interactions ---------------------------------------------------------------------------


def _numbers(series: Any, origin: _Origin, column: str) -> npt.NDArray[np.float64]:
    values = _column(series, origin, column, None)
    if values.dtype.kind not in "iuf":
        pos = next((i for i, v in enumerate(values.tolist()) if not isinstance(v, int | float)), 0)
        origin.fail(column, pos, f"{values[pos]!r:.60} is not a number")
    return np.asarray(values, dtype=np.float64)


def _timestamps(series: Any, origin: _Origin, column: str) -> npt.NDArray[np.int64]:
    """Integer times, or datetimes as seconds since the epoch (UTC)."""
    pd = _pandas()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if series.isna().any():
            origin.fail(column, int(np.flatnonzero(series.isna().to_numpy())[0]), "null timestamp")
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return np.asarray(series.to_numpy(dtype="datetime64[s]").astype(np.int64))
    exact = _column(series, origin, column, None)
    if exact.dtype == np.int64:  # not through float64, which rounds beyond 2**53
        return exact
    values = _numbers(series, origin, column)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        origin.fail(column, pos, f"timestamp {values[pos]:g} is not an integer or a datetime")
    return values.astype(np.int64)


def _ratings(
    series: Any,
    origin: _Origin,
    column: str,
    scale: tuple[float, float] | None,
    notes: list[str],
) -> tuple[npt.NDArray[np.float64], tuple[float, float]]:
    """Ratings and their scale: within the given one, or inferred (and noted)."""
    ratings = _numbers(series, origin, column)
    nan = np.isnan(ratings)
    if nan.any():
        origin.fail(column, int(np.flatnonzero(nan)[0]), "missing rating")
    infinite = np.isinf(ratings)
    if infinite.any():
        pos = int(np.flatnonzero(infinite)[0])
        origin.fail(column, pos, f"rating {ratings[pos]:g} is not a finite number")
    if scale is not None:
        out = (ratings < scale[0]) | (ratings > scale[1])
        if out.any():
            pos = int(np.flatnonzero(out)[0])
            origin.fail(column, pos, f"rating {ratings[pos]:g} is outside the rating scale {scale}")
        return ratings, scale
    lo, hi = float(ratings.min()), float(ratings.max())
    if lo == hi:
        raise DataFormatError(
            f"{origin.name}: column {column!r}: every rating is {lo:g}, so no scale can be "
            "inferred; pass rating_scale=(min, max)"
        )
    notes.append(
        f"rating scale {(lo, hi)} inferred from the ratings; pass rating_scale= to declare it"
    )
    return ratings, (lo, hi)


def _weights(series: Any, origin: _Origin, column: str) -> npt.NDArray[np.float64]:
    weights = _numbers(series, origin, column)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        origin.fail(column, pos, f"weight {weights[pos]:g} is not a finite number >= 0")
    return weights


def _scale(value: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValidationError(f"rating_scale must be (min, max), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValidationError(f"rating_scale must be finite with min < max, got {value!r}")
    return lo, hi


def _check_unknown(
    ids: EntityIds,
    known: EntityIds,
    origin: _Origin,
    column: str,
    what: str,
    table: str,
    on_unknown: str,
) -> npt.NDArray[np.bool_]:
    """A mask of the interactions whose ``what`` is in ``known``; unknown ones are an error
    unless ``on_unknown == "drop"``."""
    if _id_kind(ids) != _id_kind(known):
        raise DataFormatError(
            f"{origin.name}: column {column!r} holds {_id_kind(ids)} ids but the {table}'s are "
            f"{_id_kind(known)} ids"
        )
    keep = np.isin(ids, known)
    if not keep.all() and on_unknown == "error":
        pos = int(np.flatnonzero(~keep)[0])
        origin.fail(
            column,
            pos,
            f"{what} {_show(ids[pos])} is not in the {table} (unknown {what}s in "
            f"{int((~keep).sum()):,} interaction(s); on_unknown='drop' drops them)",
        )
    return np.asarray(keep)


# ---- tables -------------------------------------------------------------------------------


def _table(
    frame: Any,
    origin: _Origin,
    key: str,
    id_name: str,
    what: str,
    features: Mapping[str, Feature],
    list_columns: Sequence[str],
    sep: str,
) -> Table:
    """An entity table from its frame: ids from column ``key``, every other column kept."""
    from fusionrec.features import MultiCategorical, Numeric

    names = _names(frame, origin)
    if key not in names:
        origin.missing(key, names, f" (the {what} id)")
    ids = _ids(frame[key], origin, key, what)
    _unique_ids(ids, origin, key, what)
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, label in zip(names, frame.columns, strict=True):
        if name == key:
            continue
        if name == id_name:
            raise DataFormatError(
                f"{origin.name}: column {name!r} is the {what} id's name, but the ids are read "
                f"from column {key!r}; rename one of them"
            )
        feature = features.get(name)
        is_list = isinstance(feature, MultiCategorical) or name in list_columns
        values = _column(frame[label], origin, name, sep if is_list else None)
        if isinstance(feature, Numeric):
            values = _as_numbers(values, origin, name)
        columns[name] = values
    return Table(ids, columns, id_name=id_name)


def _check_schema(schema: Schema, tables: Mapping[str, tuple[Table, _Origin | None]]) -> None:
    """Every feature of ``schema`` names a column of its side's table."""
    for side, (table, origin) in tables.items():
        for feature in schema.side(side):
            if feature.is_id:
                if feature.name != table.id_name:
                    raise DataFormatError(
                        f"schema: the {side} id feature {feature.name!r} is not the {side} id "
                        f"column {table.id_name!r}"
                    )
            elif feature.name not in table.columns:
                if origin is None:
                    raise DataFormatError(
                        f"schema: {side} feature {feature.name!r} needs a {side}s table with "
                        f"that column; none was given"
                    )
                origin.missing(feature.name, list(table.columns), f" (a {side} feature)")


def _distinct(ids: EntityIds, id_name: str) -> Table:
    return Table(np.unique(ids) if len(ids) else ids, {}, id_name=id_name)


def _build(
    interactions: Any,
    users: Any,
    items: Any,
    origins: tuple[_Origin, _Origin | None, _Origin | None],
    *,
    user: str,
    item: str,
    rating: str | None,
    weight: str | None,
    timestamp: str | None,
    rating_scale: Any,
    schema: Schema | None,
    user_key: str | None,
    item_key: str | None,
    list_columns: Sequence[str],
    list_sep: str,
    on_unknown: str,
    display: Sequence[str] | None,
    source: str,
) -> Dataset:
    from fusionrec.data.inference import infer_schema
    from fusionrec.features import Schema

    if on_unknown not in ON_UNKNOWN:
        raise ValidationError(f"on_unknown must be one of {ON_UNKNOWN}, got {on_unknown!r}")
    if schema is not None and not isinstance(schema, Schema):
        raise ValidationError(f"schema must be a Schema, got {type(schema).__name__}")
    if not isinstance(list_sep, str) or not list_sep:
        raise ValidationError(f"list_sep must be a non-empty string, got {list_sep!r}")
    scale = None if rating_scale is None else _scale(rating_scale)
    origin = origins[0]
    names = _names(interactions, origin)
    used = [c for c in (user, item, rating, weight, timestamp) if c is not None]
    for name in used:
        if name not in names:
            origin.missing(name, names)
    if len(interactions) == 0:
        raise DataFormatError(f"{origin.name}: no interactions")
    notes: list[str] = []
    unused = [c for c in names if c not in used]
    if unused:
        notes.append(f"{origin.name}: column(s) not used: {', '.join(unused)}")

    user_ids = _ids(interactions[user], origin, user, "user")
    item_ids = _ids(interactions[item], origin, item, "item")
    ratings = None
    if rating is not None:
        ratings, scale = _ratings(interactions[rating], origin, rating, scale, notes)
    elif scale is not None:
        raise ValidationError("rating_scale was given without a rating column (rating=)")
    weights = None if weight is None else _weights(interactions[weight], origin, weight)
    times = None if timestamp is None else _timestamps(interactions[timestamp], origin, timestamp)

    features: dict[str, dict[str, Feature]] = {"user": {}, "item": {}}
    if schema is not None:
        features = {s: {f.name: f for f in schema.side(s)} for s in features}
    keep = np.ones(len(user_ids), dtype=bool)
    tables: dict[str, tuple[Table, _Origin | None]] = {}
    for side, frame, key, name, ids, table_origin in (
        ("user", users, user_key or user, user, user_ids, origins[1]),
        ("item", items, item_key or item, item, item_ids, origins[2]),
    ):
        if frame is None or table_origin is None:
            continue
        table = _table(frame, table_origin, key, name, side, features[side], list_columns, list_sep)
        keep &= _check_unknown(ids, table.ids, origin, name, side, f"{side}s table", on_unknown)
        tables[side] = (table, table_origin)
    dropped = int((~keep).sum())
    if dropped:
        message = (
            f"{origin.name}: dropped {dropped:,} of {len(keep):,} interactions whose user or "
            "item is not in the given tables (on_unknown='drop')"
        )
        warnings.warn(message, DroppedRowsWarning, stacklevel=3)
        notes.append(message)
    inter = Interactions(
        user_ids,
        item_ids,
        None if ratings is None else ratings.astype(np.float32),
        None if weights is None else weights.astype(np.float32),
        times,
    )
    if dropped:
        inter = inter.take(keep)
        if len(inter) == 0:
            raise DataFormatError(f"{origin.name}: no interaction is left after dropping")
    for side, ids, name in (("user", inter.user_id, user), ("item", inter.item_id, item)):
        if side not in tables:
            tables[side] = (_distinct(ids, name), None)
    if schema is not None:
        _check_schema(schema, tables)
    data = Dataset(
        tables["user"][0],
        tables["item"][0],
        inter,
        rating_scale=scale,
        schema=schema,
        source=source,
        notes=tuple(notes),
        display=None if display is None else tuple(display),
    )
    if schema is None:
        data = dataclasses.replace(
            data,
            schema=infer_schema(data),
            notes=(
                *data.notes,
                "schema inferred from the columns; print(schema_source(data.schema)) to adjust it",
            ),
        )
    return data


def from_frames(
    interactions: Any,
    users: Any = None,
    items: Any = None,
    *,
    user: str = "user_id",
    item: str = "item_id",
    rating: str | None = None,
    weight: str | None = None,
    timestamp: str | None = None,
    rating_scale: tuple[float, float] | None = None,
    schema: Schema | None = None,
    user_key: str | None = None,
    item_key: str | None = None,
    list_columns: Sequence[str] = (),
    list_sep: str = LIST_SEP,
    on_unknown: str = "error",
    display: Sequence[str] | None = None,
) -> Dataset:
    """A Dataset from pandas DataFrames: interactions, and optional users and items tables.

    ``interactions`` has a user id column ``user`` and an item id column ``item``, and
    optionally a ``rating`` column (explicit feedback, within ``rating_scale``; when no scale
    is given it is inferred from the ratings and noted), a ``weight`` column (>= 0, e.g. play
    counts) and a ``timestamp`` column (integers or datetimes). Other columns are not used
    (``Dataset.notes`` lists them). Ids are all integers or all strings (SKUs).

    ``users`` and ``items`` hold one row per entity: the id in column ``user`` / ``item``
    (``user_key`` / ``item_key`` if named otherwise) and any feature or metadata columns.
    Without a table a side is the distinct ids of the interactions, with no columns. An
    interaction whose user or item is missing from a given table is an error, or with
    ``on_unknown="drop"`` dropped (counted in a :class:`DroppedRowsWarning` and the notes).

    List-valued columns (a MultiCategorical feature of ``schema``, the ``list_columns``, or a
    column whose cells are lists, tuples or arrays) hold lists; in the declared ones a string
    is split at ``list_sep`` (``"Toys|Games"``, as CSV files store them).

    ``schema``: the features to train with; None infers one (:func:`infer_schema`), which
    ``schema_source(data.schema)`` prints as code to adjust. ``display``: the item columns a
    store keeps beside the vectors (None: every storable one).

    Every problem raises :class:`~fusionrec.errors.DataFormatError` naming the frame, the row
    (by index label) and the column.
    """
    return _build(
        interactions,
        users,
        items,
        (
            _frame_origin(interactions, "interactions"),
            None if users is None else _frame_origin(users, "users"),
            None if items is None else _frame_origin(items, "items"),
        ),
        user=user,
        item=item,
        rating=rating,
        weight=weight,
        timestamp=timestamp,
        rating_scale=rating_scale,
        schema=schema,
        user_key=user_key,
        item_key=item_key,
        list_columns=tuple(list_columns),
        list_sep=list_sep,
        on_unknown=on_unknown,
        display=display,
        source="frames",
    )


# ---- files --------------------------------------------------------------------------------


def _format(path: Path) -> str:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` by the file's suffix (a compression suffix aside)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _CSV_SUFFIXES:
        return suffix[1:]
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    raise DataFormatError(
        f"{path}: unknown file type {suffix or '(none)'!r}; use .csv, .tsv or .parquet"
    )


def _read(path: Path, id_columns: Sequence[str]) -> tuple[Any, _Origin]:
    """A file as a DataFrame (a CSV file's id columns as strings) and how to name its rows."""
    pd = _pandas()
    kind = _format(path)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
            return frame, _Origin(str(path), "row", 1)
        frame = pd.read_csv(
            path,
            sep=_CSV_SUFFIXES["." + kind],
            dtype={c: str for c in id_columns},
            skip_blank_lines=False,
        )
        return frame, _Origin(str(path), "line", 2)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except ImportError as exc:
        raise ConfigError(
            f"{path}: reading Parquet needs pyarrow ({exc}): pip install 'fusionrec[data]'"
        ) from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFormatError(f"{path}: cannot read it: {message}") from None


def _integer_ids(frames: Sequence[tuple[Any, str]]) -> None:
    """CSV id columns (read as strings) become integers, in every file of a side at once,
    when every value is a canonical integer ("42", not "0042" or "+42": those stay strings)."""
    columns = [(f, c) for f, c in frames if c in f.columns and not _is_numeric(f[c])]
    for frame, column in columns:
        ids = frame[column]
        if ids.isna().any():
            return  # a null id is reported as such, with its row
        if len(ids) and not ids.str.fullmatch(_CANONICAL_INT.pattern).all():
            return
        long = ids[ids.str.len() > 18]  # beyond 18 digits an int64 may overflow
        if not all(INT64_MIN <= int(v) <= INT64_MAX for v in long.tolist()):
            return
    for frame, column in columns:
        frame[column] = frame[column].astype(np.int64)


def _string_dtype(series: Any) -> bool:
    """Whether a column's values are all strings by its dtype (pandas' string dtypes)."""
    pd = _pandas()
    return bool(
        not isinstance(series.dtype, np.dtype) and pd.api.types.is_string_dtype(series.dtype)
    )


def _is_numeric(series: Any) -> bool:
    return isinstance(series.dtype, np.dtype) and series.dtype.kind in "iuf"


def read_dataset(
    interactions_path: str | os.PathLike[str],
    users_path: str | os.PathLike[str] | None = None,
    items_path: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Dataset:
    """A Dataset from CSV (``.csv``, ``.tsv``, optionally compressed) or Parquet files.

    ``options`` are :func:`from_frames`'s. A CSV file's id columns are read as strings and
    become integers only when every id of that side, in every file, is a canonical integer:
    an SKU like ``"00123"`` stays a string. List-valued columns of a CSV file are strings
    split at ``list_sep`` (name them in ``list_columns`` or declare them MultiCategorical in
    ``schema``). Errors name the file and the row: a CSV file's line (header = line 1, one
    line a record) or a Parquet file's 1-based row.
    """
    allowed = set(from_frames.__kwdefaults__ or {})
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValidationError(f"read_dataset: unknown option(s): {', '.join(unknown)}")
    user = options.get("user", "user_id")
    item = options.get("item", "item_id")
    user_key = options.get("user_key") or user
    item_key = options.get("item_key") or item
    inter, inter_origin = _read(Path(interactions_path), (user, item))
    users = _read(Path(users_path), (user_key,)) if users_path is not None else None
    items = _read(Path(items_path), (item_key,)) if items_path is not None else None
    for key, table in ((user, users), (item, items)):
        side = [(inter, inter_origin, key)]
        if table is not None:
            side.append((table[0], table[1], user_key if table is users else item_key))
        _integer_ids([(frame, column) for frame, where, column in side if where.unit == "line"])
    settings: dict[str, Any] = {**(from_frames.__kwdefaults__ or {}), **options}
    settings["list_columns"] = tuple(settings["list_columns"])
    return _build(
        inter,
        None if users is None else users[0],
        None if items is None else items[0],
        (inter_origin, None if users is None else users[1], None if items is None else items[1]),
        source=str(interactions_path),
        **settings,
    )
