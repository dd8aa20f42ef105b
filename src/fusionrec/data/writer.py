"""Write a MovieLens object in the real ml-1m or ml-100k file formats (Latin-1, atomically).

Used to make synthetic data sets that exercise the readers end to end, and to convert data:
``load_movielens(write_movielens(data, path))`` gives back the same tables.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from fusionrec.atomic import write_bytes_atomic
from fusionrec.data.movielens import split_title
from fusionrec.data.tables import AGE_BUCKETS, ML1M_OCCUPATIONS, UNKNOWN_YEAR, MovieLens
from fusionrec.errors import ValidationError

WriteFormat = Literal["ml-1m", "ml-100k"]

#: An age in years for each ml-1m bucket; ``age_to_bucket`` maps it back to the same bucket.
REPRESENTATIVE_AGE: dict[int, int] = {1: 16, 18: 21, 25: 30, 35: 40, 45: 47, 50: 53, 56: 60}


def write_movielens(
    data: MovieLens,
    path: str | Path,
    format: WriteFormat = "ml-1m",
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` as an ml-1m or ml-100k directory (or a ``.zip`` of one) at ``path``.

    The files appear atomically: they are written under a temporary name in the same folder
    and renamed into place. Zip codes are not part of the schema and are written as
    ``00000``; ml-100k ages are written as a representative age of each bucket.
    Returns ``path``.
    """
    target = Path(path).expanduser()
    if format not in ("ml-1m", "ml-100k"):
        raise ValidationError(f"format must be 'ml-1m' or 'ml-100k', got {format!r}")
    if target.exists() and not overwrite:
        raise ValidationError(f"{target} already exists (pass overwrite=True to replace it)")
    files = _render_ml1m(data) if format == "ml-1m" else _render_ml100k(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".zip":
        _write_zip(target, files, folder=target.stem)
    else:
        _write_dir(target, files)
    return target


def _write_dir(target: Path, files: dict[str, bytes]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, payload in files.items():
            (staging / name).write_bytes(payload)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _write_zip(target: Path, files: dict[str, bytes], folder: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, payload in files.items():
            archive.writestr(f"{folder}/{name}", payload)
    write_bytes_atomic(target, buffer.getvalue())


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what} cannot be written in Latin-1: {text!r}") from exc


def _full_title(mid: int, title: str, year: int) -> str:
    """The title as the files store it, with `` (year)`` re-attached when the year is known.

    Rejects titles that would read back differently (so write -> load is exact).
    """
    if year == UNKNOWN_YEAR:
        if split_title(title)[1] != UNKNOWN_YEAR:
            raise ValidationError(
                f"movie {mid} has no year but its title ends with one ({title!r})"
            )
        return title
    if not 1000 <= year <= 9999:
        raise ValidationError(f"movie {mid} has year {year}; files hold four-digit years")
    if title != title.rstrip():
        raise ValidationError(f"title of movie {mid} ends with whitespace ({title!r})")
    return f"{title} ({year})"


def _check_text(value: str, forbidden: tuple[str, ...], what: str) -> None:
    for token in (*forbidden, "\n", "\r"):
        if token in value:
            raise ValidationError(f"{what} contains {token!r}, which the file format forbids")


def _rating_lines(data: MovieLens, sep: str) -> bytes:
    r = data.ratings
    rating = np.asarray(r.rating)
    if len(rating) and (np.any(rating != np.rint(rating)) or rating.min() < 1 or rating.max() > 5):
        raise ValidationError("ratings must be whole numbers 1..5 to be written as MovieLens")
    table = np.stack([r.user_id, r.movie_id, rating.astype(np.int64), r.timestamp], axis=1).astype(
        np.int64
    )
    row = sep.join(["%d"] * 4) + "\n"
    return ((row * len(table)) % tuple(table.ravel().tolist())).encode("ascii")


def _render_ml1m(data: MovieLens) -> dict[str, bytes]:
    if tuple(data.occupations) != ML1M_OCCUPATIONS:
        raise ValidationError(
            "ml-1m stores occupations as ml-1m ids; these data use another occupation list "
            "(write them as ml-100k instead)"
        )
    users = data.users
    bad_age = ~np.isin(users.age, AGE_BUCKETS)
    if np.any(bad_age):
        raise ValidationError(f"user ages must be ml-1m buckets, got {users.age[bad_age][0]}")
    user_lines = [
        f"{uid}::{gender}::{age}::{occ}::{zip_code}\n"
        for uid, gender, age, occ, zip_code in zip(
            users.user_id.tolist(),
            users.gender.tolist(),
            users.age.tolist(),
            users.occupation.tolist(),
            users.zip_code.tolist(),
            strict=True,
        )
    ]
    movie_lines = []
    for mid, title, year, genres in zip(
        data.movies.movie_id.tolist(),
        data.movies.title,
        data.movies.year.tolist(),
        data.movies.genres,
        strict=True,
    ):
        _check_text(title, ("::",), f"title of movie {mid}")
        if title.startswith(":") or title.endswith(":"):
            raise ValidationError(f"title of movie {mid} starts or ends with ':' ({title!r})")
        for genre in genres:
            _check_text(genre, ("::", "|"), f"genre of movie {mid}")
        movie_lines.append(f"{mid}::{_full_title(mid, title, year)}::{'|'.join(genres)}\n")
    return {
        "users.dat": "".join(user_lines).encode("ascii"),
        "movies.dat": _encode("".join(movie_lines), "movies.dat"),
        "ratings.dat": _rating_lines(data, "::"),
    }


def _render_ml100k(data: MovieLens) -> dict[str, bytes]:
    occupations = tuple(data.occupations)
    genres = tuple(data.genres)
    for name in (*occupations, *genres):
        _check_text(name, ("|",), f"vocabulary entry {name!r}")
    users = data.users
    if len(users) and (users.occupation.min() < 0 or users.occupation.max() >= len(occupations)):
        raise ValidationError("a user's occupation id is outside the occupation list")
    ages = []
    for age in users.age.tolist():
        if age not in REPRESENTATIVE_AGE:
            raise ValidationError(f"user ages must be ml-1m buckets, got {age}")
        ages.append(REPRESENTATIVE_AGE[age])
    user_lines = [
        f"{uid}|{years}|{gender}|{occupations[occ]}|{zip_code}\n"
        for uid, years, gender, occ, zip_code in zip(
            users.user_id.tolist(),
            ages,
            users.gender.tolist(),
            users.occupation.tolist(),
            users.zip_code.tolist(),
            strict=True,
        )
    ]
    genre_index = {g: i for i, g in enumerate(genres)}
    item_lines = []
    for mid, title, year, movie_genres in zip(
        data.movies.movie_id.tolist(),
        data.movies.title,
        data.movies.year.tolist(),
        data.movies.genres,
        strict=True,
    ):
        _check_text(title, ("|",), f"title of movie {mid}")
        flags = ["0"] * len(genres)
        for genre in movie_genres:
            if genre not in genre_index:
                raise ValidationError(f"movie {mid} has genre {genre!r} missing from data.genres")
            flags[genre_index[genre]] = "1"
        date = f"01-Jan-{year}" if year != UNKNOWN_YEAR else ""
        item_lines.append(f"{mid}|{_full_title(mid, title, year)}|{date}|||{'|'.join(flags)}\n")
    info = f"{len(users)} users\n{len(data.movies)} items\n{len(data.ratings)} ratings\n"
    return {
        "u.user": _encode("".join(user_lines), "u.user"),
        "u.item": _encode("".join(item_lines), "u.item"),
        "u.data": _rating_lines(data, "\t"),
        "u.genre": _encode("".join(f"{g}|{i}\n" for i, g in enumerate(genres)), "u.genre"),
        "u.occupation": _encode("".join(f"{o}\n" for o in occupations), "u.occupation"),
        "u.info": info.encode("ascii"),
    }
