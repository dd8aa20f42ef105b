"""FeatureEncoder: explicit vocabularies that turn tables into padded int64 index arrays.

Every vocabulary reserves index ``PAD = 0`` (padding) and ``UNK = 1`` (a value not seen at
fit time); known values get ``2 + position`` in a sorted vocabulary, so encoding is a
vectorized ``searchsorted``. Title words are lowercased ``\\w+`` tokens. The encoder is
saved as JSON next to the model: ids are never derived from ``hash()``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import MovieLens, Movies, Users
from fusionrec.errors import ModelDirError, ValidationError

PAD = 0
UNK = 1
FORMAT_VERSION = 1
_WORD = re.compile(r"\w+")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class UserFeatures:
    """Encoded users: vocabulary indices, one int64 array of length n per feature."""

    user: IntArray
    gender: IntArray
    age: IntArray
    occupation: IntArray

    def __post_init__(self) -> None:
        _check_columns(self, ("user", "gender", "age", "occupation"), ndim=1)

    def __len__(self) -> int:
        return len(self.user)

    def take(self, index: npt.ArrayLike) -> UserFeatures:
        """Rows at ``index``."""
        idx = np.asarray(index)
        return UserFeatures(self.user[idx], self.gender[idx], self.age[idx], self.occupation[idx])


@dataclass(frozen=True)
class MovieFeatures:
    """Encoded movies: id [n], genre indices [n, G], title word indices [n, W], PAD-padded."""

    movie: IntArray
    genres: IntArray
    title: IntArray

    def __post_init__(self) -> None:
        _check_columns(self, ("movie",), ndim=1)
        _check_columns(self, ("genres", "title"), ndim=2)
        n = len(self.movie)
        if self.genres.shape[0] != n or self.title.shape[0] != n:
            raise ValidationError(
                f"MovieFeatures rows differ: movie {n}, genres {self.genres.shape[0]}, "
                f"title {self.title.shape[0]}"
            )

    def __len__(self) -> int:
        return len(self.movie)

    def take(self, index: npt.ArrayLike) -> MovieFeatures:
        """Rows at ``index`` (padding width unchanged)."""
        idx = np.asarray(index)
        return MovieFeatures(self.movie[idx], self.genres[idx], self.title[idx])


def _check_columns(obj: object, names: tuple[str, ...], ndim: int) -> None:
    lengths = set()
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, np.ndarray) or value.dtype != np.int64 or value.ndim != ndim:
            got = (
                f"{value.dtype}[{value.ndim}d]"
                if isinstance(value, np.ndarray)
                else type(value).__name__
            )
            raise ValidationError(
                f"{type(obj).__name__}.{name} must be an int64 array of {ndim} dimension(s), "
                f"got {got}"
            )
        lengths.add(len(value))
    if len(lengths) > 1:
        raise ValidationError(f"{type(obj).__name__} columns differ in length")


def tokenize(title: str) -> list[str]:
    """Lowercased word tokens of a title (what the title vocabulary holds)."""
    return _WORD.findall(title.lower())


def _lookup(vocab: np.ndarray, values: np.ndarray) -> IntArray:
    """Indices of ``values`` in sorted ``vocab`` (2 + position), UNK when absent."""
    out = np.full(values.shape, UNK, dtype=np.int64)
    if len(vocab) == 0 or values.size == 0:
        return out
    pos = np.searchsorted(vocab, values)
    pos_c = np.minimum(pos, len(vocab) - 1)
    hit = vocab[pos_c] == values
    out[hit] = pos_c[hit] + 2
    return out


def _known(vocab: np.ndarray, value: object) -> bool:
    try:
        arr = np.asarray([value], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(_lookup(vocab, arr)[0] != UNK)


def _as_int(values: npt.ArrayLike, name: str, n: int | None = None) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)):
            if np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise ValidationError(f"{name} must hold integers, got {arr.dtype} with fractions")
        else:
            raise ValidationError(f"{name} must hold integers, got dtype {arr.dtype}")
    if n is not None and len(arr) != n:
        raise ValidationError(f"{name} has {len(arr)} values, expected {n}")
    return arr.astype(np.int64, copy=False)


class FeatureEncoder:
    """Vocabularies of user and movie features, fitted on a data set and saved as JSON."""

    def __init__(
        self,
        *,
        user_ids: npt.ArrayLike,
        genders: npt.ArrayLike,
        ages: npt.ArrayLike,
        occupations: npt.ArrayLike,
        movie_ids: npt.ArrayLike,
        genres: npt.ArrayLike,
        words: npt.ArrayLike,
        max_title_words: int = 15,
    ) -> None:
        if max_title_words < 1:
            raise ValidationError(f"max_title_words must be >= 1, got {max_title_words}")
        self.user_ids = np.unique(np.asarray(user_ids, dtype=np.int64))
        self.genders = np.unique(np.asarray(genders, dtype=str))
        self.ages = np.unique(np.asarray(ages, dtype=np.int64))
        self.occupations = np.unique(np.asarray(occupations, dtype=np.int64))
        self.movie_ids = np.unique(np.asarray(movie_ids, dtype=np.int64))
        self.genres = np.unique(np.asarray(genres, dtype=str))
        self.words = np.unique(np.asarray(words, dtype=str))
        self.max_title_words = int(max_title_words)

    # ---- building ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: MovieLens, *, max_title_words: int = 15) -> FeatureEncoder:
        """Vocabularies from every user and movie of ``data`` (ids, demographics, genres, words)."""
        words: set[str] = set()
        for title in data.movies.title:
            words.update(tokenize(str(title)))
        genres: set[str] = set(data.genres)
        for g in data.movies.genres:
            genres.update(str(x) for x in g)
        return cls(
            user_ids=data.users.user_id,
            genders=data.users.gender,
            ages=data.users.age,
            occupations=data.users.occupation,
            movie_ids=data.movies.movie_id,
            genres=np.asarray(sorted(genres), dtype=str),
            words=np.asarray(sorted(words), dtype=str),
            max_title_words=max_title_words,
        )

    # ---- sizes ------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Rows of the user id embedding (vocabulary + PAD + UNK)."""
        return len(self.user_ids) + 2

    @property
    def n_genders(self) -> int:
        """Rows of the gender embedding."""
        return len(self.genders) + 2

    @property
    def n_ages(self) -> int:
        """Rows of the age-bucket embedding."""
        return len(self.ages) + 2

    @property
    def n_occupations(self) -> int:
        """Rows of the occupation embedding."""
        return len(self.occupations) + 2

    @property
    def n_movies(self) -> int:
        """Rows of the movie id embedding."""
        return len(self.movie_ids) + 2

    @property
    def n_genres(self) -> int:
        """Rows of the genre embedding."""
        return len(self.genres) + 2

    @property
    def n_words(self) -> int:
        """Rows of the title word embedding."""
        return len(self.words) + 2

    def has_user(self, user_id: int) -> bool:
        """Whether ``user_id`` has its own vocabulary entry (else it encodes as UNK)."""
        return _known(self.user_ids, user_id)

    def has_movie(self, movie_id: int) -> bool:
        """Whether ``movie_id`` has its own vocabulary entry."""
        return _known(self.movie_ids, movie_id)

    # ---- encoding ---------------------------------------------------------------------------
    def encode_users(self, users: Users) -> UserFeatures:
        """Encode a user table (unknown values map to UNK)."""
        return self.encode_user_values(users.user_id, users.gender, users.age, users.occupation)

    def encode_user_values(
        self,
        user_id: npt.ArrayLike | None,
        gender: npt.ArrayLike,
        age: npt.ArrayLike,
        occupation: npt.ArrayLike,
    ) -> UserFeatures:
        """Encode raw values; ``user_id=None`` (cold start) or unknown ids give UNK."""
        g = np.asarray(gender)
        if g.ndim == 0:
            g = g.reshape(1)
        if g.ndim != 1:
            raise ValidationError(f"gender must be one-dimensional, got shape {g.shape}")
        n = len(g)
        a = _as_int(age, "age", n)
        o = _as_int(occupation, "occupation", n)
        if user_id is None:
            u = np.full(n, UNK, dtype=np.int64)
        else:
            u = _lookup(self.user_ids, _as_int(user_id, "user_id", n))
        return UserFeatures(
            user=u,
            gender=_lookup(self.genders, g.astype(str)),
            age=_lookup(self.ages, a),
            occupation=_lookup(self.occupations, o),
        )

    def encode_movies(self, movies: Movies) -> MovieFeatures:
        """Encode a movie table; genres and titles padded to the longest (titles capped)."""
        n = len(movies)
        movie = _lookup(self.movie_ids, _as_int(movies.movie_id, "movie_id", n))
        return MovieFeatures(
            movie=movie,
            genres=self._ragged(
                [[str(x) for x in g] for g in movies.genres], self.genres, width=None
            ),
            title=self._ragged(
                [tokenize(str(t)) for t in movies.title], self.words, width=self.max_title_words
            ),
        )

    @staticmethod
    def _ragged(rows: list[list[str]], vocab: np.ndarray, width: int | None) -> IntArray:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        if width is not None:
            lengths = np.minimum(lengths, width)
        w = max(1, int(lengths.max()) if len(rows) else 1)
        out = np.zeros((len(rows), w), dtype=np.int64)
        flat = [x for r, k in zip(rows, lengths, strict=True) for x in r[:k]]
        if flat:
            codes = _lookup(vocab, np.asarray(flat, dtype=str))
            row = np.repeat(np.arange(len(rows)), lengths)
            starts = np.cumsum(lengths) - lengths
            col = np.arange(len(flat)) - np.repeat(starts, lengths)
            out[row, col] = codes
        return out

    # ---- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the vocabularies."""
        return {
            "format_version": FORMAT_VERSION,
            "max_title_words": self.max_title_words,
            "user_ids": self.user_ids.tolist(),
            "genders": self.genders.tolist(),
            "ages": self.ages.tolist(),
            "occupations": self.occupations.tolist(),
            "movie_ids": self.movie_ids.tolist(),
            "genres": self.genres.tolist(),
            "words": self.words.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Rebuild from :meth:`to_dict` output; a malformed dict raises :class:`ValidationError`."""
        try:
            version = data["format_version"]
            if version != FORMAT_VERSION:
                raise ValidationError(
                    f"encoder format version {version} is not supported (expected {FORMAT_VERSION})"
                )
            return cls(
                user_ids=np.asarray(data["user_ids"], dtype=np.int64),
                genders=np.asarray(data["genders"], dtype=str),
                ages=np.asarray(data["ages"], dtype=np.int64),
                occupations=np.asarray(data["occupations"], dtype=np.int64),
                movie_ids=np.asarray(data["movie_ids"], dtype=np.int64),
                genres=np.asarray(data["genres"], dtype=str),
                words=np.asarray(data["words"], dtype=str),
                max_title_words=int(data["max_title_words"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"malformed encoder data: {exc!r}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the encoder as JSON atomically (temp file + rename)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureEncoder:
        """Read an encoder written by :meth:`save`."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError as exc:
            raise ModelDirError(f"encoder file not found: {path}") from exc
        except json.JSONDecodeError as exc:
            raise ModelDirError(f"encoder file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelDirError(f"encoder file {path} does not hold a JSON object")
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureEncoder):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"FeatureEncoder(users={len(self.user_ids)}, movies={len(self.movie_ids)}, "
            f"genres={len(self.genres)}, words={len(self.words)})"
        )
