"""Readers for the MovieLens file formats: ml-1m (``::``), ml-100k (``|`` and tab) and the csv
releases ml-20m, ml-25m and ml-32m (read by :mod:`fusionrec.data.csv_release`).

:func:`load_movielens` detects the format, parses users, movies and ratings into the shared
schema and applies the orphan policy: ratings whose user or movie is missing are dropped
(counted, warned about) or rejected. Every malformed line raises DataFormatError naming the
file, the 1-based line and the reason.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from fusionrec.data._parse import (
    format_error,
    parse_int,
    parse_int_table,
    shown,
    split_title,
    text_lines,
)
from fusionrec.data._source import Source
from fusionrec.data.csv_release import MOVIES_HEADER, read_csv_movies, read_csv_ratings
from fusionrec.data.tables import (
    AGE_BUCKETS,
    ML1M_GENRES,
    ML1M_OCCUPATIONS,
    ML100K_OCCUPATIONS,
    UNKNOWN_YEAR,
    MovieLens,
    Movies,
    Ratings,
    Users,
    age_to_bucket,
)
from fusionrec.errors import DataFormatError, DataIntegrityError, ValidationError

#: ``"ml-25m"`` names the csv format that ml-20m, ml-25m and ml-32m share.
Format = Literal["ml-1m", "ml-100k", "ml-25m"]
OrphanPolicy = Literal["drop", "error"]
DuplicatePolicy = Literal["last", "error"]

#: ml-100k genre names when the data set has no ``u.genre`` file.
ML100K_GENRES: tuple[str, ...] = ("unknown", *ML1M_GENRES)

_RATING_FIELDS = ("user id", "movie id", "rating", "timestamp")
_DIGITS4 = re.compile(r"\d{4}")


class OrphanRatingsWarning(UserWarning):
    """Ratings were dropped because their user or movie is missing from the other files."""


class DuplicateRatingsWarning(UserWarning):
    """A user rated a movie more than once; only the last rating (in file order) was kept."""


@dataclass(frozen=True)
class _Catalog:
    """Users and movies of one data set plus the vocabularies that name their codes."""

    users: Users
    movies: Movies
    occupations: tuple[str, ...]
    genres: tuple[str, ...]
    notes: tuple[str, ...]


def load_movielens(
    path: str | Path, *, orphans: OrphanPolicy = "drop", duplicates: DuplicatePolicy = "last"
) -> MovieLens:
    """Load an ml-1m, ml-100k, ml-20m, ml-25m or ml-32m data set from a directory or a .zip.

    The csv releases (ml-20m, ml-25m, ml-32m) have no demographics: their users are the ids
    that rated, with ``MovieLens.occupations == ()``; their movies carry tags from tags.csv.

    ``orphans="drop"`` (default) drops ratings whose user or movie is missing, records the
    count in ``dropped_ratings`` and warns (OrphanRatingsWarning); ``orphans="error"``
    raises DataIntegrityError instead. A (user, movie) pair rated more than once keeps its
    last rating in file order, with a DuplicateRatingsWarning giving the count
    (``duplicates="last"``, the default), or raises DataIntegrityError
    (``duplicates="error"``).
    """
    if orphans not in ("drop", "error"):
        raise ValidationError(f"orphans must be 'drop' or 'error', got {orphans!r}")
    if duplicates not in ("last", "error"):
        raise ValidationError(f"duplicates must be 'last' or 'error', got {duplicates!r}")
    with Source(path) as source:
        fmt = detect_format(source)
        if fmt == "ml-25m":
            ratings_file = "ratings.csv"
            ratings, lines = read_csv_ratings(source)
            catalog = _csv_catalog(source, ratings)
        else:
            catalog = read_catalog(source, fmt)
            ratings_file = "ratings.dat" if fmt == "ml-1m" else "u.data"
            ratings, lines = read_ratings(source, ratings_file, fmt)
        label = source.label(ratings_file)
    ratings, lines, repeated = apply_duplicate_policy(ratings, lines, duplicates, label)
    ratings, dropped = apply_orphan_policy(ratings, lines, catalog, orphans, label)
    notes = (f"format: {fmt}", *catalog.notes)
    if repeated:
        notes += (f"kept the last of repeated ratings: dropped {repeated} from {label}",)
    if dropped:
        notes += (f"dropped {dropped} orphan ratings from {label}",)
    return MovieLens(
        users=catalog.users,
        movies=catalog.movies,
        ratings=ratings,
        occupations=catalog.occupations,
        genres=catalog.genres,
        source=str(path),
        dropped_ratings=dropped,
        notes=notes,
    )


def load_movies_file(path: str | Path) -> Movies:
    """Read one movie file: an ml-1m ``movies.dat``, an ml-100k ``u.item`` or the
    ``movies.csv`` of ml-20m, ml-25m and ml-32m.

    The format comes from the file name, else from the first line (``::`` means ml-1m, the
    csv header ``movieId,title,genres`` the csv releases). For ``u.item``, genre names come
    from a ``u.genre`` next to it when present; for ``movies.csv``, tags from a ``tags.csv``.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataFormatError(f"{file}: no such file")
    if file.name == "movies.dat":
        fmt: Format = "ml-1m"
    elif file.name == "u.item":
        fmt = "ml-100k"
    elif file.name == "movies.csv":
        fmt = "ml-25m"
    else:
        first = next((line for _, line in text_lines(file.read_bytes())), "")
        if first.rstrip() == ",".join(MOVIES_HEADER):
            fmt = "ml-25m"
        else:
            fmt = "ml-1m" if "::" in first else "ml-100k"
    if fmt == "ml-25m":
        with Source.single_file(file, "movies.csv", siblings=("tags.csv",)) as source:
            return read_csv_movies(source).movies
    if fmt == "ml-1m":
        with Source.single_file(file, "movies.dat") as source:
            return _read_ml1m_movies(source)[0]
    with Source.single_file(file, "u.item", siblings=("u.genre",)) as source:
        return _read_ml100k_movies(source, _read_ml100k_genres(source))


def detect_format(source: Source) -> Format:
    """``"ml-1m"`` if the set has ``ratings.dat``, ``"ml-100k"`` if it has ``u.data``,
    ``"ml-25m"`` (the csv format of ml-20m, ml-25m and ml-32m) if it has ``ratings.csv``."""
    if source.exists("ratings.dat"):
        return "ml-1m"
    if source.exists("u.data"):
        return "ml-100k"
    if source.exists("ratings.csv"):
        return "ml-25m"
    raise DataFormatError(
        f"{source.path}: no MovieLens data found (expected ratings.dat, movies.dat, users.dat "
        "for ml-1m, u.data, u.item, u.user for ml-100k or ratings.csv, movies.csv for "
        "ml-20m, ml-25m and ml-32m)"
    )


def _csv_catalog(source: Source, ratings: Ratings) -> _Catalog:
    """A csv release's movies (with tags) and its users: the ids that rated, ascending."""
    read = read_csv_movies(source)
    ids = ratings.user_id
    if len(ids) and np.all(ids[1:] >= ids[:-1]):  # the files are sorted by user: no sort
        first = np.ones(len(ids), dtype=bool)
        np.not_equal(ids[1:], ids[:-1], out=first[1:])
        users = ids[first]
    else:
        users = np.unique(ids)
    return _Catalog(Users(user_id=users), read.movies, (), read.genres, read.notes)


def read_catalog(source: Source, fmt: Format) -> _Catalog:
    """Users and movies (with their vocabularies) of a data set in format ``fmt``."""
    if fmt == "ml-1m":
        users = _read_ml1m_users(source)
        movies, genres, notes = _read_ml1m_movies(source)
        return _Catalog(users, movies, ML1M_OCCUPATIONS, genres, notes)
    occupations = _read_vocabulary(source, "u.occupation", ML100K_OCCUPATIONS)
    genres = _read_ml100k_genres(source)
    users = _read_ml100k_users(source, occupations)
    movies = _read_ml100k_movies(source, genres)
    return _Catalog(users, movies, occupations, genres, ())


def read_ratings(source: Source, name: str, fmt: Format) -> tuple[Ratings, npt.NDArray[np.int64]]:
    """The rating table of file ``name`` and the line number of each row."""
    sep = b"::" if fmt == "ml-1m" else b"\t"
    label = source.label(name)
    values, lines = parse_int_table(source.read(name), sep=sep, names=_RATING_FIELDS, label=label)
    rating = values[:, 2]
    bad = np.flatnonzero((rating < 1) | (rating > 5))
    if len(bad):
        row = int(bad[0])
        raise format_error(label, int(lines[row]), f"rating {rating[row]} is outside 1..5")
    ratings = Ratings(
        user_id=np.ascontiguousarray(values[:, 0]),
        movie_id=np.ascontiguousarray(values[:, 1]),
        rating=rating.astype(np.float32),
        timestamp=np.ascontiguousarray(values[:, 3]),
    )
    return ratings, lines


def apply_duplicate_policy(
    ratings: Ratings, lines: npt.NDArray[np.int64], policy: DuplicatePolicy, label: str
) -> tuple[Ratings, npt.NDArray[np.int64], int]:
    """Keep each (user, movie) pair's last rating in file order (warning with the count), or
    raise DataIntegrityError on the first repeat (``policy="error"``)."""
    n = len(ratings)
    if _strictly_sorted(ratings.user_id, ratings.movie_id):
        return ratings, lines, 0  # sorted by (user, movie) as the files ship: no repeats
    order = np.lexsort((np.arange(n), ratings.movie_id, ratings.user_id))
    users, movies = ratings.user_id[order], ratings.movie_id[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = (users[1:] != users[:-1]) | (movies[1:] != movies[:-1])
    n_repeated = int(n - np.count_nonzero(last))
    if n_repeated == 0:
        return ratings, lines, 0
    earlier = order[~last]
    first = int(earlier.min())
    later = int(order[np.flatnonzero(~last)[np.argmin(earlier)] + 1])
    where = (
        f"first: user {int(ratings.user_id[first])}, movie {int(ratings.movie_id[first])} "
        f"on lines {int(lines[first])} and {int(lines[later])}"
    )
    if policy == "error":
        raise DataIntegrityError(
            f"{label}: {n_repeated} ratings repeat a (user, movie) pair rated again later ({where})"
        )
    warnings.warn(
        f"{label}: {n_repeated} ratings repeat a (user, movie) pair; kept the last rating of "
        f"each ({where})",
        DuplicateRatingsWarning,
        stacklevel=3,
    )
    keep = np.sort(order[last])
    return ratings.take(keep), lines[keep], n_repeated


def _strictly_sorted(users: npt.NDArray[np.int64], movies: npt.NDArray[np.int64]) -> bool:
    """Whether the (user, movie) pairs strictly increase: a linear check before a sort."""
    if len(users) < 2:
        return True
    same_user = users[1:] == users[:-1]
    return bool(np.all((users[1:] > users[:-1]) | (same_user & (movies[1:] > movies[:-1]))))


def apply_orphan_policy(
    ratings: Ratings,
    lines: npt.NDArray[np.int64],
    catalog: _Catalog,
    policy: OrphanPolicy,
    label: str,
) -> tuple[Ratings, int]:
    """Drop (and warn about) or reject ratings whose user or movie is not in the catalog."""
    known = np.isin(ratings.user_id, catalog.users.user_id) & np.isin(
        ratings.movie_id, catalog.movies.movie_id
    )
    n_orphans = int(len(known) - np.count_nonzero(known))
    if n_orphans == 0:
        return ratings, 0
    first = int(np.argmin(known))
    where = (
        f"first at line {int(lines[first])}: user {int(ratings.user_id[first])}, "
        f"movie {int(ratings.movie_id[first])}"
    )
    if policy == "error":
        raise DataIntegrityError(
            f"{label}: {n_orphans} ratings name a user or movie missing from the users or "
            f"movies file ({where})"
        )
    warnings.warn(
        f"{label}: dropped {n_orphans} ratings whose user or movie is missing ({where})",
        OrphanRatingsWarning,
        stacklevel=3,
    )
    return ratings.take(known), n_orphans


def _fields(line: str, sep: str, count: int, label: str, number: int) -> list[str]:
    fields = line.split(sep)
    if len(fields) != count:
        raise format_error(
            label, number, f"expected {count} fields separated by {sep!r}, found {len(fields)}"
        )
    return fields


def _check_unique(ids: Iterable[tuple[int, int]], what: str, label: str) -> None:
    seen: dict[int, int] = {}
    for number, value in ids:
        if value in seen:
            raise format_error(
                label, number, f"duplicate {what} {value} (first on line {seen[value]})"
            )
        seen[value] = number


def _gender(text: str, label: str, number: int) -> str:
    value = text.strip()
    if value not in ("M", "F"):
        raise format_error(label, number, f"bad gender {shown(text)} (expected 'M' or 'F')")
    return value


def _objects(values: list[str]) -> npt.NDArray[np.object_]:
    """Strings as an object array (no fixed width: one long value costs only its length)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _users_table(rows: list[tuple[int, int, str, int, int, str]], label: str) -> Users:
    """Build the Users table from (line, id, gender, age bucket, occupation, zip) rows."""
    _check_unique(((r[0], r[1]) for r in rows), "user id", label)
    return Users(
        user_id=np.array([r[1] for r in rows], dtype=np.int64),
        gender=np.array([r[2] for r in rows], dtype="<U1"),
        age=np.array([r[3] for r in rows], dtype=np.int64),
        occupation=np.array([r[4] for r in rows], dtype=np.int64),
        zip_code=_objects([r[5] for r in rows]),
    )


def _movies_table(rows: list[tuple[int, int, str, int, tuple[str, ...]]], label: str) -> Movies:
    """Build the Movies table from (line, id, title, year, genres) rows."""
    _check_unique(((r[0], r[1]) for r in rows), "movie id", label)
    titles = np.empty(len(rows), dtype=object)
    titles[:] = [r[2] for r in rows]
    genres = np.empty(len(rows), dtype=object)
    genres[:] = [r[4] for r in rows]
    return Movies(
        movie_id=np.array([r[1] for r in rows], dtype=np.int64),
        title=titles,
        year=np.array([r[3] for r in rows], dtype=np.int64),
        genres=genres,
    )


def _read_ml1m_users(source: Source) -> Users:
    label = source.label("users.dat")
    rows = []
    for number, line in text_lines(source.read("users.dat")):
        uid, gender, age, occupation, zip_code = _fields(line, "::", 5, label, number)
        age_value = parse_int(age, "age", label, number)
        if age_value not in AGE_BUCKETS:
            raise format_error(
                label, number, f"age {age_value} is not an ml-1m age bucket {AGE_BUCKETS}"
            )
        occ = parse_int(occupation, "occupation", label, number)
        if not 0 <= occ < len(ML1M_OCCUPATIONS):
            raise format_error(
                label, number, f"occupation {occ} is outside 0..{len(ML1M_OCCUPATIONS) - 1}"
            )
        user_id = parse_int(uid, "user id", label, number)
        gender_value = _gender(gender, label, number)
        rows.append((number, user_id, gender_value, age_value, occ, zip_code.strip()))
    return _users_table(rows, label)


def _read_ml1m_movies(source: Source) -> tuple[Movies, tuple[str, ...], tuple[str, ...]]:
    label = source.label("movies.dat")
    vocabulary = list(ML1M_GENRES)
    known = set(vocabulary)  # a list lookup per genre is quadratic in a crafted file
    rows = []
    for number, line in text_lines(source.read("movies.dat")):
        mid, full_title, genre_field = _fields(line, "::", 3, label, number)
        title, year = split_title(full_title)
        genres = tuple(g for g in genre_field.strip().split("|") if g)
        for genre in genres:
            if genre not in known:
                known.add(genre)
                vocabulary.append(genre)
        rows.append((number, parse_int(mid, "movie id", label, number), title, year, genres))
    extra = vocabulary[len(ML1M_GENRES) :]
    notes = (f"genres beyond the ml-1m list: {', '.join(extra)}",) if extra else ()
    return _movies_table(rows, label), tuple(vocabulary), notes


def _read_vocabulary(source: Source, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Names listed one per line (``u.occupation``), or ``default`` if the file is absent."""
    if not source.exists(name):
        return default
    names = tuple(line.strip() for _, line in text_lines(source.read(name)))
    if not names:
        raise DataFormatError(f"{source.label(name)}: file is empty")
    return names


def _read_ml100k_genres(source: Source) -> tuple[str, ...]:
    """Genre names from ``u.genre`` (``name|id`` lines, ids 0..n-1) or the ml-100k default."""
    if not source.exists("u.genre"):
        return ML100K_GENRES
    label = source.label("u.genre")
    by_id: dict[int, str] = {}
    for number, line in text_lines(source.read("u.genre")):
        name, gid = _fields(line, "|", 2, label, number)
        index = parse_int(gid, "genre id", label, number)
        if index in by_id:
            raise format_error(label, number, f"duplicate genre id {index}")
        by_id[index] = name
    if sorted(by_id) != list(range(len(by_id))) or not by_id:
        raise DataFormatError(f"{label}: genre ids must be 0..n-1, got {sorted(by_id)}")
    return tuple(by_id[i] for i in range(len(by_id)))


def _read_ml100k_users(source: Source, occupations: tuple[str, ...]) -> Users:
    label = source.label("u.user")
    code = {name: i for i, name in enumerate(occupations)}
    rows = []
    for number, line in text_lines(source.read("u.user")):
        uid, age, gender, occupation, zip_code = _fields(line, "|", 5, label, number)
        years = parse_int(age, "age", label, number)
        if years < 0:
            raise format_error(label, number, f"age {years} is negative")
        occ = occupation.strip()
        if occ not in code:
            raise format_error(label, number, f"unknown occupation {shown(occupation)}")
        user_id = parse_int(uid, "user id", label, number)
        bucket = int(age_to_bucket(years))
        gender_value = _gender(gender, label, number)
        rows.append((number, user_id, gender_value, bucket, code[occ], zip_code.strip()))
    return _users_table(rows, label)


def _read_ml100k_movies(source: Source, genres: tuple[str, ...]) -> Movies:
    label = source.label("u.item")
    rows = []
    for number, line in text_lines(source.read("u.item")):
        fields = _fields(line, "|", 5 + len(genres), label, number)
        flags = fields[5:]
        if any(f.strip() not in ("0", "1") for f in flags):
            raise format_error(label, number, "genre flags must be 0 or 1")
        title, year = split_title(fields[1])
        if year == UNKNOWN_YEAR:
            date = fields[2].rstrip()[-4:]
            year = int(date) if _DIGITS4.fullmatch(date) else UNKNOWN_YEAR
        movie_genres = tuple(g for g, f in zip(genres, flags, strict=True) if f.strip() == "1")
        rows.append(
            (number, parse_int(fields[0], "movie id", label, number), title, year, movie_genres)
        )
    return _movies_table(rows, label)
