"""The in-memory schema every loader produces: users, movies and ratings as numpy columns.

One schema for ml-1m, ml-100k, the csv releases (ml-20m, ml-25m, ml-32m) and synthetic data,
so everything downstream is format-blind. Tables are immutable dataclasses of equal-length
numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError

#: The ml-1m age buckets; ml-100k ages in years are mapped onto them by :func:`age_to_bucket`.
AGE_BUCKETS: tuple[int, ...] = (1, 18, 25, 35, 45, 50, 56)

#: ml-1m occupation names, indexed by the ids used in ``users.dat``.
ML1M_OCCUPATIONS: tuple[str, ...] = (
    "other or not specified",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)

#: ml-100k occupation names in the order of its ``u.occupation`` file; the index is the id.
ML100K_OCCUPATIONS: tuple[str, ...] = (
    "administrator",
    "artist",
    "doctor",
    "educator",
    "engineer",
    "entertainment",
    "executive",
    "healthcare",
    "homemaker",
    "lawyer",
    "librarian",
    "marketing",
    "none",
    "other",
    "programmer",
    "retired",
    "salesman",
    "scientist",
    "student",
    "technician",
    "writer",
)

#: The genre names of ml-1m ``movies.dat``; ml-100k has the same plus "unknown".
ML1M_GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

#: The genre names of the csv releases (ml-20m, ml-25m, ml-32m): "Children" without the
#: apostrophe and "IMAX"; their "(no genres listed)" reads as no genres.
CSV_GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

#: The year stored for a movie whose title carries none.
UNKNOWN_YEAR = 0

#: What a user without demographics (the csv releases) holds: no gender, age or occupation.
UNKNOWN_GENDER = ""
UNKNOWN_AGE = 0
UNKNOWN_OCCUPATION = -1

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
ObjArray = npt.NDArray[np.object_]
StrArray = npt.NDArray[np.str_]

T = TypeVar("T", "Users", "Movies", "Ratings")


def age_to_bucket(age: int | npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Map ages in years to ml-1m buckets (under 18 -> 1, 18-24 -> 18, ..., 56+ -> 56)."""
    years = np.asarray(age, dtype=np.int64)
    edges = np.asarray(AGE_BUCKETS[1:], dtype=np.int64)
    buckets = np.asarray(AGE_BUCKETS, dtype=np.int64)
    return buckets[np.searchsorted(edges, years, side="right")]


def _check_lengths(table: object) -> None:
    lengths = {f.name: len(getattr(table, f.name)) for f in fields(table)}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise ValidationError(f"{type(table).__name__} columns differ in length: {lengths}")


def _filled(n: int, value: object, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    out = np.empty(n, dtype=dtype)
    out.fill(value)  # fill, not out[:] =, so a tuple is one value per row
    return out


def _take(table: T, index: npt.ArrayLike) -> T:
    idx = np.asarray(index)
    return type(table)(**{f.name: getattr(table, f.name)[idx] for f in fields(table)})


@dataclass(frozen=True)
class Users:
    """User table: id, gender ("M"/"F"), ml-1m age bucket, integer occupation id, zip code.

    ``zip_code`` is the files' text ("" when a source has none; omitted, it is all "").
    Data sets without demographics (the csv releases) give ids only: omitted, gender is
    ``UNKNOWN_GENDER``, age ``UNKNOWN_AGE`` and occupation ``UNKNOWN_OCCUPATION``.
    """

    user_id: IntArray
    gender: StrArray = None  # type: ignore[assignment]
    age: IntArray = None  # type: ignore[assignment]
    occupation: IntArray = None  # type: ignore[assignment]
    zip_code: ObjArray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.user_id)
        defaults: dict[str, tuple[object, npt.DTypeLike]] = {
            "gender": (UNKNOWN_GENDER, "<U1"),
            "age": (UNKNOWN_AGE, np.int64),
            "occupation": (UNKNOWN_OCCUPATION, np.int64),
            "zip_code": ("", object),
        }
        for name, (value, dtype) in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, _filled(n, value, dtype))
        _check_lengths(self)

    def __len__(self) -> int:
        return len(self.user_id)

    def take(self, index: npt.ArrayLike) -> Users:
        """Rows at ``index`` (integer positions or a boolean mask)."""
        return _take(self, index)


@dataclass(frozen=True)
class Movies:
    """Movie table: id, title without the year, year (``UNKNOWN_YEAR`` if absent), genres, tags.

    ``tags`` are the csv releases' user tags of each movie, lowercased, most applied first;
    omitted (ml-100k, ml-1m), every movie has none.
    """

    movie_id: IntArray
    title: ObjArray  # str per movie
    year: IntArray
    genres: ObjArray  # tuple[str, ...] per movie
    tags: ObjArray = None  # type: ignore[assignment]  # tuple[str, ...] per movie

    def __post_init__(self) -> None:
        if self.tags is None:
            object.__setattr__(self, "tags", _filled(len(self.movie_id), (), object))
        _check_lengths(self)

    def __len__(self) -> int:
        return len(self.movie_id)

    def take(self, index: npt.ArrayLike) -> Movies:
        """Rows at ``index`` (integer positions or a boolean mask)."""
        return _take(self, index)


@dataclass(frozen=True)
class Ratings:
    """Rating table: user id, movie id, rating (float32), unix timestamp (int64)."""

    user_id: IntArray
    movie_id: IntArray
    rating: FloatArray
    timestamp: IntArray

    def __post_init__(self) -> None:
        _check_lengths(self)

    def __len__(self) -> int:
        return len(self.user_id)

    def take(self, index: npt.ArrayLike) -> Ratings:
        """Rows at ``index`` (integer positions or a boolean mask)."""
        return _take(self, index)


@dataclass(frozen=True)
class MovieLens:
    """A data set: the three tables plus what a loader learned on the way.

    ``occupations[i]`` is the name of occupation id ``i``; ``dropped_ratings`` counts the
    ratings a loader dropped because their user or movie was missing (never silent).
    """

    users: Users
    movies: Movies
    ratings: Ratings
    occupations: tuple[str, ...] = ML1M_OCCUPATIONS
    genres: tuple[str, ...] = ML1M_GENRES
    source: str = "memory"
    dropped_ratings: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_demographics(self) -> bool:
        """Whether users carry gender, age and occupation (false for the csv releases)."""
        return bool(self.occupations)

    def with_ratings(self, ratings: Ratings) -> MovieLens:
        """The same users and movies with another rating table (how splits are made)."""
        return MovieLens(
            users=self.users,
            movies=self.movies,
            ratings=ratings,
            occupations=self.occupations,
            genres=self.genres,
            source=self.source,
            dropped_ratings=self.dropped_ratings,
            notes=self.notes,
        )

    def __repr__(self) -> str:
        return (
            f"MovieLens(source={self.source!r}, users={len(self.users)}, "
            f"movies={len(self.movies)}, ratings={len(self.ratings)})"
        )
