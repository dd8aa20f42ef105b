"""The users and movies a recommender knows, saved beside the model without pickles.

Users go to an ``.npz`` of plain arrays; movies (titles and genre lists) to JSON, so a model
directory can be inspected and loaded by any tool. Text is never stored as fixed-width numpy
strings (which cut or inflate it): genders are codes into UTF-8 names with offsets. Loading
validates types, lengths and ranges; damage is a ModelDirError naming the file.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import Movies, Users
from fusionrec.errors import ModelDirError
from fusionrec.ids import INT64_MAX, INT64_MIN
from fusionrec.serve.model_dir import read_npz, reading

_USER_ARRAYS = (
    "user_id",
    "gender",
    "gender_names",
    "gender_offsets",
    "age",
    "occupation",
    "zip_code",
    "zip_code_names",
    "zip_code_offsets",
)
_MOVIE_COLUMNS = ("movie_id", "title", "year", "genres")


def save_users(users: Users, path: Path) -> None:
    """Write the user table to ``path`` (``.npz``; text columns as codes into UTF-8 names)."""
    arrays: dict[str, Any] = {
        "user_id": np.asarray(users.user_id, dtype=np.int64),
        **_coded("gender", users.gender),
        "age": np.asarray(users.age, dtype=np.int64),
        "occupation": np.asarray(users.occupation, dtype=np.int64),
        **_coded("zip_code", users.zip_code),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _coded(name: str, column: npt.ArrayLike) -> dict[str, npt.NDArray[Any]]:
    """A text column as ``name`` (codes), ``name_names`` and ``name_offsets`` (UTF-8 names)."""
    values = [str(v) for v in np.asarray(column, dtype=object)]
    names = sorted(set(values))
    index = {value: i for i, value in enumerate(names)}
    codes = np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
    blob, offsets = pack_strings(names)
    return {name: codes, f"{name}_names": blob, f"{name}_offsets": offsets}


def _decoded(arrays: dict[str, npt.NDArray[Any]], name: str, n: int) -> npt.NDArray[Any]:
    """The text column :func:`_coded` wrote, as an object array of strings."""
    names = unpack_strings(arrays[f"{name}_names"], arrays[f"{name}_offsets"])
    codes = int_array(arrays[name], name, n, upper=len(names))
    out = np.empty(n, dtype=object)
    out[:] = [names[c] for c in codes.tolist()]
    return out


def load_users(path: Path) -> Users:
    """Read and validate a user table written by :func:`save_users`."""
    arrays = read_npz(path)
    with reading(path):
        if sorted(arrays) != sorted(_USER_ARRAYS):
            raise ValueError(f"expected the arrays {list(_USER_ARRAYS)}, found {sorted(arrays)}")
        ids = int_array(arrays["user_id"], "user_id")
        n = len(ids)
        gender = _decoded(arrays, "gender", n)
        zip_code = _decoded(arrays, "zip_code", n)
        age = int_array(arrays["age"], "age", n)
        occupation = int_array(arrays["occupation"], "occupation", n)
        if len(np.unique(ids)) != n:
            raise ModelDirError(f"{path}: user ids are not distinct")
        return Users(user_id=ids, gender=gender, age=age, occupation=occupation, zip_code=zip_code)


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


def movies_to_json(movies: Movies) -> dict[str, list[object]]:
    """The movie table as JSON-ready columns."""
    return {
        "movie_id": [int(m) for m in movies.movie_id],
        "title": [str(t) for t in movies.title],
        "year": [int(y) for y in movies.year],
        "genres": [list(g) for g in movies.genres],
        **({"tags": [list(t) for t in movies.tags]} if any(movies.tags) else {}),
    }


def movies_from_json(columns: Any) -> Movies:
    """Rebuild a movie table from :func:`movies_to_json` output; ValueError if malformed."""
    if not isinstance(columns, dict) or set(columns) - {"tags"} != set(_MOVIE_COLUMNS):
        raise ValueError(
            f"expected an object with exactly the keys {list(_MOVIE_COLUMNS)} (and maybe tags)"
        )
    ids, titles, years, genre_lists = (columns[k] for k in _MOVIE_COLUMNS)
    if not all(isinstance(c, list) for c in (ids, titles, years, genre_lists)):
        raise ValueError("every column must be a list")
    if not len(ids) == len(titles) == len(years) == len(genre_lists):
        raise ValueError("the columns differ in length")
    for what, column in (("movie_id", ids), ("year", years)):
        if not all(type(v) is int and INT64_MIN <= v <= INT64_MAX for v in column):
            raise ValueError(f"{what} must hold 64-bit integers")
    if not all(isinstance(t, str) for t in titles):
        raise ValueError("title must hold strings")
    if not all(isinstance(g, list) and all(isinstance(x, str) for x in g) for g in genre_lists):
        raise ValueError("genres must hold lists of strings")
    if len(set(ids)) != len(ids):
        raise ValueError("movie ids are not distinct")
    genres = np.empty(len(genre_lists), dtype=object)
    genres[:] = [tuple(g) for g in genre_lists]
    title_array = np.empty(len(titles), dtype=object)
    title_array[:] = titles
    tags = None
    if "tags" in columns:
        tag_lists = columns["tags"]
        if not isinstance(tag_lists, list) or len(tag_lists) != len(ids):
            raise ValueError("tags must be a list as long as the other columns")
        if not all(isinstance(t, list) and all(isinstance(x, str) for x in t) for t in tag_lists):
            raise ValueError("tags must hold lists of strings")
        tags = np.empty(len(tag_lists), dtype=object)
        tags[:] = [tuple(t) for t in tag_lists]
    return Movies(
        movie_id=np.asarray(ids, dtype=np.int64),
        title=title_array,
        year=np.asarray(years, dtype=np.int64),
        genres=genres,
        tags=tags,  # type: ignore[arg-type]
    )


def save_movies(movies: Movies, path: Path) -> None:
    """Write the movie table to ``path`` (JSON, UTF-8)."""
    path.write_text(json.dumps(movies_to_json(movies), ensure_ascii=False), encoding="utf-8")


def load_movies(path: Path) -> Movies:
    """Read and validate a movie table written by :func:`save_movies`."""
    with reading(path):
        return movies_from_json(json.loads(path.read_bytes().decode("utf-8")))


def merge_movies(base: Movies, extra: Movies) -> Movies:
    """``base`` with ``extra``'s rows added; a movie id present in both takes ``extra``'s row."""
    keep = ~np.isin(base.movie_id, extra.movie_id)
    kept = base.take(keep)
    genres = np.empty(len(kept) + len(extra), dtype=object)
    genres[:] = list(kept.genres) + list(extra.genres)
    titles = np.empty(len(genres), dtype=object)
    titles[:] = list(kept.title) + list(extra.title)
    tags = np.empty(len(genres), dtype=object)
    tags[:] = list(kept.tags) + list(extra.tags)
    return Movies(
        movie_id=np.concatenate([kept.movie_id, extra.movie_id]),
        title=titles,
        year=np.concatenate([kept.year, extra.year]),
        genres=genres,
        tags=tags,
    )
