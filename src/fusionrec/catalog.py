"""The users and movies a recommender knows, saved beside the model without pickles.

Users go to an ``.npz`` of plain arrays; movies (titles and genre lists) to JSON, so a model
directory can be inspected and loaded by any tool.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from fusionrec.data.tables import Movies, Users
from fusionrec.errors import ModelDirError


def save_users(users: Users, path: Path) -> None:
    """Write the user table to ``path`` (``.npz``)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        user_id=users.user_id,
        gender=users.gender.astype("<U1"),
        age=users.age,
        occupation=users.occupation,
        zip_code=users.zip_code.astype(str),
    )
    path.write_bytes(buffer.getvalue())


def load_users(path: Path) -> Users:
    """Read a user table written by :func:`save_users`."""
    try:
        with np.load(path, allow_pickle=False) as a:
            return Users(
                user_id=a["user_id"].astype(np.int64),
                gender=a["gender"].astype("<U1"),
                age=a["age"].astype(np.int64),
                occupation=a["occupation"].astype(np.int64),
                zip_code=(
                    a["zip_code"].astype(str)
                    if "zip_code" in a.files
                    else np.full(len(a["user_id"]), "", dtype="<U1")
                ),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise ModelDirError(f"{path}: cannot read the user table ({exc})") from exc


def movies_to_json(movies: Movies) -> dict[str, list[object]]:
    """The movie table as JSON-ready columns."""
    return {
        "movie_id": [int(m) for m in movies.movie_id],
        "title": [str(t) for t in movies.title],
        "year": [int(y) for y in movies.year],
        "genres": [list(g) for g in movies.genres],
    }


def movies_from_json(columns: dict[str, list[object]]) -> Movies:
    """Rebuild a movie table from :func:`movies_to_json` output."""
    genres = np.empty(len(columns["genres"]), dtype=object)
    genres[:] = [tuple(str(x) for x in g) for g in columns["genres"]]  # type: ignore[attr-defined]
    titles = np.empty(len(columns["title"]), dtype=object)
    titles[:] = [str(t) for t in columns["title"]]
    return Movies(
        movie_id=np.asarray(columns["movie_id"], dtype=np.int64),
        title=titles,
        year=np.asarray(columns["year"], dtype=np.int64),
        genres=genres,
    )


def save_movies(movies: Movies, path: Path) -> None:
    """Write the movie table to ``path`` (JSON, UTF-8)."""
    path.write_text(json.dumps(movies_to_json(movies), ensure_ascii=False), encoding="utf-8")


def load_movies(path: Path) -> Movies:
    """Read a movie table written by :func:`save_movies`."""
    try:
        return movies_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelDirError(f"{path}: cannot read the movie table ({exc})") from exc


def merge_movies(base: Movies, extra: Movies) -> Movies:
    """``base`` with ``extra``'s rows added; a movie id present in both takes ``extra``'s row."""
    keep = ~np.isin(base.movie_id, extra.movie_id)
    kept = base.take(keep)
    genres = np.empty(len(kept) + len(extra), dtype=object)
    genres[:] = list(kept.genres) + list(extra.genres)
    titles = np.empty(len(genres), dtype=object)
    titles[:] = list(kept.title) + list(extra.title)
    return Movies(
        movie_id=np.concatenate([kept.movie_id, extra.movie_id]),
        title=titles,
        year=np.concatenate([kept.year, extra.year]),
        genres=genres,
    )
