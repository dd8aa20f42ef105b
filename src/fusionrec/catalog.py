"""The users and items a recommender knows, saved beside the model without pickles.

A :class:`~fusionrec.data.dataset.Table` (int or str ids; columns of int, float, bool, str or
lists of str) goes to an ``.npz`` of plain arrays, so a model directory can be inspected and
loaded by any tool. Text is never stored as fixed-width numpy strings (which cut or inflate
it): it is UTF-8 bytes with offsets. Loading validates types, lengths and ranges; damage is a
ModelDirError naming the file. The item table is append-only (:func:`merge_tables`), so an
item's row is a stable key for stores that need integer keys (string ids).
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.data.dataset import Table
from fusionrec.data.tables import Movies
from fusionrec.errors import ConfigError, ValidationError
from fusionrec.lookup import IdIndex
from fusionrec.serve.model_dir import read_npz, reading
from fusionrec.stores.fields import MetadataField

#: The kinds of column a table file stores (the store's metadata field types).
COLUMN_KINDS = ("int", "float", "bool", "str", "list[str]")
_MANIFEST = "manifest"


def column_kind(values: npt.NDArray[Any]) -> str | None:
    """The kind of a table column ("int", "float", "bool", "str", "list[str]"), None if other.

    Object columns are judged by their values, ``None`` (missing) aside; a column of nothing
    but missing values counts as text.
    """
    kind = values.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int"
    if kind == "f":
        return "float"
    if kind in "US":
        return "str"
    if kind != "O":
        return None
    present = [v for v in values.tolist() if v is not None]
    if all(isinstance(v, str) for v in present):
        return "str"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    if all(isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v) for v in present):
        return "list[str]"
    return None


def save_table(table: Table, path: Path) -> None:
    """Write ``table`` to ``path`` (``.npz`` of plain arrays, text as UTF-8 bytes and offsets).

    Ids and every column (int, float, bool, str or list of str; None marks a missing value)
    round-trip through :func:`load_table`; another kind of column is a ValidationError.
    """
    arrays: dict[str, Any] = {}
    if table.string_ids:
        arrays["ids.bytes"], arrays["ids.offsets"] = pack_strings(table.ids.tolist())
    else:
        arrays["ids"] = np.asarray(table.ids, dtype=np.int64)
    described = []
    for i, (name, values) in enumerate(table.columns.items()):
        kind = column_kind(values)
        if kind is None:
            raise ValidationError(
                f"column {name!r} holds values a model directory cannot store "
                f"(int, float, bool, str or list of str): {values[:1].tolist()!r:.60}"
            )
        described.append([name, kind])
        arrays.update(_column_arrays(f"c{i}", kind, values))
    manifest = {"id_name": table.id_name, "columns": described}
    arrays[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _column_arrays(key: str, kind: str, values: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
    out: dict[str, npt.NDArray[Any]] = {}
    listed = values.tolist()
    missing = np.fromiter((v is None for v in listed), dtype=bool, count=len(listed))
    if missing.any():
        out[f"{key}.missing"] = missing
    if kind == "str":
        out[f"{key}.bytes"], out[f"{key}.offsets"] = pack_strings(
            ["" if v is None else str(v) for v in listed]
        )
    elif kind == "list[str]":
        rows = [() if v is None else tuple(v) for v in listed]
        out[f"{key}.bytes"], out[f"{key}.offsets"] = pack_strings([x for row in rows for x in row])
        out[f"{key}.rows"] = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(
            np.int64
        )
    else:
        dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}[kind]
        filled = [0 if v is None else v for v in listed]
        out[key] = np.asarray(filled, dtype=dtype).reshape(len(listed))
    return out


def load_table(path: Path) -> Table:
    """Read and validate a table written by :func:`save_table`; damage is a ModelDirError."""
    arrays = read_npz(path)
    with reading(path):
        if _MANIFEST not in arrays:
            raise ValueError("no manifest")
        manifest = json.loads(_bytes(arrays.pop(_MANIFEST)).decode("utf-8"))
        if not isinstance(manifest, dict) or set(manifest) != {"id_name", "columns"}:
            raise ValueError("the manifest must be an object with id_name and columns")
        id_name, described = manifest["id_name"], manifest["columns"]
        if not isinstance(id_name, str) or not id_name or not isinstance(described, list):
            raise ValueError("the manifest's id_name or columns are malformed")
        if "ids" in arrays:
            ids: npt.NDArray[Any] = int_array(arrays.pop("ids"), "ids")
        else:
            ids = _strings(unpack_strings(arrays.pop("ids.bytes"), arrays.pop("ids.offsets")))
            if not all(ids.tolist()):
                raise ValueError("an id is empty")
        n = len(ids)
        if len(set(ids.tolist())) != n:
            raise ValueError("ids are not distinct")
        columns: dict[str, npt.NDArray[Any]] = {}
        for i, entry in enumerate(described):
            if (
                not isinstance(entry, list)
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or entry[1] not in COLUMN_KINDS
                or entry[0] in columns
                or entry[0] == id_name
            ):
                raise ValueError(f"column entry {i} is malformed: {entry!r:.60}")
            columns[entry[0]] = _read_column(arrays, f"c{i}", entry[1], n)
        if arrays:
            raise ValueError(f"unexpected arrays {sorted(arrays)}")
        return Table(ids, columns, id_name)


def _bytes(values: npt.NDArray[Any]) -> bytes:
    if values.dtype != np.uint8 or values.ndim != 1:
        raise ValueError(f"expected uint8[1d] bytes, got {values.dtype}[{values.ndim}d]")
    return values.tobytes()


def _strings(values: list[Any]) -> npt.NDArray[Any]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _read_column(
    arrays: dict[str, npt.NDArray[Any]], key: str, kind: str, n: int
) -> npt.NDArray[Any]:
    missing = arrays.pop(f"{key}.missing", None)
    if missing is not None and (missing.dtype != np.bool_ or missing.shape != (n,)):
        raise ValueError(f"{key}.missing must be bool[{n}]")
    if kind == "str":
        column = _strings(unpack_strings(arrays.pop(f"{key}.bytes"), arrays.pop(f"{key}.offsets")))
    elif kind == "list[str]":
        flat = unpack_strings(arrays.pop(f"{key}.bytes"), arrays.pop(f"{key}.offsets"))
        rows = int_array(arrays.pop(f"{key}.rows"), f"{key}.rows", n + 1)
        if rows[0] != 0 or rows[-1] != len(flat) or np.any(np.diff(rows) < 0):
            raise ValueError(f"{key}.rows must rise from 0 to {len(flat)}")
        column = _strings([tuple(flat[s:e]) for s, e in itertools.pairwise(rows.tolist())])
    else:
        column = arrays.pop(key)
        dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}[kind]
        if column.dtype != dtype or column.ndim != 1:
            raise ValueError(f"{key} must be {np.dtype(dtype)}[1d], got {column.dtype}")
    if len(column) != n:
        raise ValueError(f"{key} has {len(column)} rows, expected {n}")
    if missing is not None and missing.any():
        column = _strings(column.tolist())
        column[missing] = None
    return column


def pack_strings(values: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Strings as UTF-8 bytes plus offsets (n + 1): variable-length text without pickles."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def unpack_strings(blob: npt.NDArray[Any], offsets: npt.NDArray[Any]) -> list[str]:
    """The strings :func:`pack_strings` packed; ValueError if the offsets do not fit."""
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ValueError(f"string bytes must be uint8[1d], got {blob.dtype}[{blob.ndim}d]")
    bounds = int_array(offsets, "string offsets")
    if len(bounds) == 0 or bounds[0] != 0 or bounds[-1] != len(blob):
        raise ValueError("string offsets must run from 0 to the byte count")
    if np.any(np.diff(bounds) < 0):
        raise ValueError("string offsets decrease")
    raw = blob.tobytes()
    return [raw[s:e].decode("utf-8") for s, e in itertools.pairwise(bounds.tolist())]


def int_array(
    values: npt.NDArray[Any], what: str, n: int | None = None, *, upper: int | None = None
) -> npt.NDArray[np.int64]:
    """``values`` if it is int64[1d] (of length ``n``, within ``[0, upper)``), else ValueError."""
    if values.dtype != np.int64 or values.ndim != 1:
        raise ValueError(f"{what} must be int64[1d], got {values.dtype}[{values.ndim}d]")
    if n is not None and len(values) != n:
        raise ValueError(f"{what} has {len(values)} rows, expected {n}")
    if upper is not None and len(values) and (values.min() < 0 or values.max() >= upper):
        raise ValueError(f"{what} holds values outside [0, {upper})")
    return values


def display_fields(items: Table, display: Sequence[str] | None) -> tuple[MetadataField, ...]:
    """Store fields for the ``display`` columns of ``items`` (None: every storable column).

    Each field has its column's kind; a text or list field gets room for twice its longest
    value (at least 256 bytes, 64 items). A named column of another kind, or with a name a
    store cannot use, is a ValidationError; unnamed ones are skipped.
    """
    names = list(display) if display is not None else list(items.columns)
    fields = []
    for name in names:
        kind = column_kind(items.columns[name])
        try:
            if kind is None:
                raise ValidationError("its values are not str, int, float, bool or list of str")
            fields.append(_field(name, kind, items.columns[name]))
        except (ValidationError, ConfigError) as exc:
            if display is not None:
                raise ValidationError(f"display column {name!r}: {exc}") from None
    return tuple(fields)


def _field(name: str, kind: str, values: npt.NDArray[Any]) -> MetadataField:
    present = [v for v in values.tolist() if v is not None]
    if kind == "str":
        longest = max((len(str(v).encode()) for v in present), default=0)
        return MetadataField(name, "str", max_length=_room(longest, 256))
    if kind == "list[str]":
        longest = max((len(x.encode()) for v in present for x in v), default=0)
        most = max((len(v) for v in present), default=0)
        return MetadataField(
            name, "list[str]", max_length=_room(longest, 256), max_items=_room(most, 64)
        )
    return MetadataField(name, kind)  # type: ignore[arg-type]


def _room(longest: int, floor: int) -> int:
    return min(max(floor, 2 * longest), 65535)


def movie_table(movies: Movies) -> Table:
    """A MovieLens movie table as an item Table (the columns of Dataset.from_movielens)."""
    columns = {"title": movies.title, "year": movies.year, "genres": movies.genres}
    return Table(movies.movie_id, {**columns, "tags": movies.tags}, id_name="movie_id")


def merge_tables(base: Table, extra: Table) -> Table:
    """``base`` with ``extra``'s rows: an id already present keeps its row, updated in place;
    new ids are appended. Rows never move, so a row number is a stable key (string ids).

    ``extra`` must have ``base``'s kind of ids; a column it lacks is missing (None) in its
    rows, and a column ``base`` lacks is a ValidationError.
    """
    if extra.string_ids != base.string_ids and len(base) and len(extra):
        kind = "strings" if base.string_ids else "integers"
        raise ValidationError(f"the table's ids are {kind}; the new {extra.id_name}s are not")
    unknown = sorted(set(extra.columns) - set(base.columns))
    if unknown:
        raise ValidationError(
            f"column(s) {unknown} are not in the table (its columns: {sorted(base.columns)})"
        )
    rows, found = IdIndex(base.ids).find(extra.ids)
    new = ~found
    ids = np.concatenate([base.ids, extra.ids[new]]) if len(base) else extra.ids
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, old in base.columns.items():
        given = extra.columns.get(name)
        values = given if given is not None else np.full(len(extra), None, dtype=object)
        if given is None or old.dtype != values.dtype:
            old, values = _strings(old.tolist()), _strings(values.tolist())
        merged = np.concatenate([old, values[new]])
        if given is not None:
            merged[rows[found]] = values[found]
        columns[name] = merged
    return Table(ids, columns, base.id_name)
