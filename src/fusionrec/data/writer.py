"""Write a MovieLens object in the real ml-1m, ml-100k or ml-25m file formats, atomically.

ml-1m and ml-100k are Latin-1; ml-25m (the csv format ml-20m and ml-32m share) is UTF-8.

Used to make synthetic data sets that exercise the readers end to end, and to convert data:
``load_movielens(write_movielens(data, path))`` gives back the same tables.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from fusionrec.atomic import write_bytes_atomic
from fusionrec.data._parse import split_title
from fusionrec.data.csv_release import (
    MAX_TAGS,
    MOVIES_HEADER,
    NO_GENRES,
    RATINGS_HEADER,
    TAGS_HEADER,
)
from fusionrec.data.tables import AGE_BUCKETS, ML1M_OCCUPATIONS, UNKNOWN_YEAR, MovieLens
from fusionrec.errors import ValidationError

WriteFormat = Literal["ml-1m", "ml-100k", "ml-25m"]

_RATING_ROWS_PER_CHUNK = 1_000_000  # ratings.csv is formatted a million lines at a time

#: An age in years for each ml-1m bucket; ``age_to_bucket`` maps it back to the same bucket.
REPRESENTATIVE_AGE: dict[int, int] = {1: 16, 18: 21, 25: 30, 35: 40, 45: 47, 50: 53, 56: 60}


def write_movielens(
    data: MovieLens,
    path: str | Path,
    format: WriteFormat = "ml-1m",
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` as an ml-1m, ml-100k or ml-25m directory (or a ``.zip`` of one) at ``path``.

    The files appear atomically: they are written under a temporary name in the same folder
    and renamed into place. Zip codes are not part of the schema and are written as
    ``00000``; ml-100k ages are written as a representative age of each bucket. ml-25m
    (also the format of ml-20m and ml-32m) has no users file: demographics are not written.
    Returns ``path``.
    """
    target = Path(path).expanduser()
    renderers = {"ml-1m": _render_ml1m, "ml-100k": _render_ml100k, "ml-25m": _render_csv}
    if format not in renderers:
        raise ValidationError(f"format must be one of {sorted(renderers)}, got {format!r}")
    if target.exists() and not overwrite:
        raise ValidationError(f"{target} already exists (pass overwrite=True to replace it)")
    files = renderers[format](data)
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


def _render_csv(data: MovieLens) -> dict[str, bytes]:
    """ratings.csv, movies.csv and tags.csv of the csv releases (UTF-8, quoted as needed)."""
    rated = np.unique(data.ratings.user_id)
    if len(rated) != len(data.users) or not np.array_equal(rated, np.sort(data.users.user_id)):
        raise ValidationError(
            "ml-25m has no users file (its users are the ids that rated): every user needs a "
            "rating and every rating a user"
        )
    return {
        "ratings.csv": _csv_rating_lines(data),
        "movies.csv": _csv_movie_lines(data),
        "tags.csv": _csv_tag_lines(data),
    }


def _csv_rating_lines(data: MovieLens) -> bytes:
    r = data.ratings
    halves = np.asarray(r.rating, dtype=np.float64) * 2
    if len(halves) and (np.any(halves != np.rint(halves)) or halves.min() < 1 or halves.max() > 10):
        raise ValidationError("ratings must be half stars 0.5..5.0 to be written as ml-25m")
    tenths = np.rint(halves).astype(np.int64) * 5
    parts = [(",".join(RATINGS_HEADER) + "\n").encode("ascii")]
    for start in range(0, len(r), _RATING_ROWS_PER_CHUNK):
        stop = min(len(r), start + _RATING_ROWS_PER_CHUNK)
        t = tenths[start:stop]
        table = np.stack(
            [
                r.user_id[start:stop],
                r.movie_id[start:stop],
                t // 10,
                t % 10,
                r.timestamp[start:stop],
            ],
            axis=1,
        ).astype(np.int64)
        lines = "%d,%d,%d.%d,%d\n" * len(table)
        parts.append((lines % tuple(table.ravel().tolist())).encode("ascii"))
    return b"".join(parts)


def _csv_movie_lines(data: MovieLens) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MOVIES_HEADER)
    for mid, title, year, genres in zip(
        data.movies.movie_id.tolist(),
        data.movies.title,
        data.movies.year.tolist(),
        data.movies.genres,
        strict=True,
    ):
        _check_text(title, (), f"title of movie {mid}")
        for genre in genres:
            _check_text(genre, ("|",), f"genre of movie {mid}")
            if not genre or genre == NO_GENRES:
                raise ValidationError(
                    f"movie {mid} has the genre {genre!r}, which ml-25m cannot hold"
                )
        writer.writerow([mid, _full_title(mid, title, year), "|".join(genres) or NO_GENRES])
    return out.getvalue().encode("utf-8")


def _csv_tag_lines(data: MovieLens) -> bytes:
    """Each movie's tags once, in order, by the first user (the reader keeps only the tags)."""
    user = int(data.users.user_id[0]) if len(data.users) else 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TAGS_HEADER)
    for mid, tags in zip(data.movies.movie_id.tolist(), data.movies.tags, strict=True):
        if len(tags) > MAX_TAGS or len(set(tags)) != len(tags):
            raise ValidationError(f"movie {mid} needs at most {MAX_TAGS} distinct tags")
        for tag in tags:
            _check_text(tag, (), f"tag of movie {mid}")
            if not tag or tag != tag.strip().lower():
                raise ValidationError(f"tag {tag!r} of movie {mid} is not lowercase and stripped")
            writer.writerow([user, mid, tag, 0])
    return out.getvalue().encode("utf-8")
