"""FeatureEncoder: explicit vocabularies that turn tables into padded int64 index arrays.

Every vocabulary reserves index ``PAD = 0`` (padding) and ``UNK = 1`` (a value not seen at
fit time); known values get ``2 + position`` in a sorted vocabulary, so encoding is a
vectorized ``searchsorted`` for integer vocabularies and a dict lookup for string ones.
Title words are lowercased ``\\w+`` tokens cut to ``MAX_TOKEN_CHARS`` characters. String
vocabularies are tuples of Python strings, never fixed-width numpy text arrays: one
pathological title costs memory in proportion to its length, not times the vocabulary size.
The encoder is saved as JSON next to the model: ids are never derived from ``hash()``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
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
#: Title tokens longer than this are cut to this many characters (a cap on vocabulary memory).
MAX_TOKEN_CHARS = 64
_WORD = re.compile(r"\w+")
# Up to this many values, a column is encoded with a dict lookup per value: numpy's fixed cost
# (about 5 us a column) would otherwise dominate encoding one user for recommend().
_FEW = 8

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


_ENCODER_KEYS = (
    "format_version",
    "max_title_words",
    "user_ids",
    "genders",
    "ages",
    "occupations",
    "movie_ids",
    "genres",
    "words",
)
_INT64_MAX = 2**63 - 1


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sorted_ints(data: dict[str, Any], key: str) -> IntArray:
    """``data[key]`` as int64 if it is a strictly increasing list of int64-sized integers."""
    values = data[key]
    if not isinstance(values, list) or not all(
        _is_int(v) and -_INT64_MAX - 1 <= v <= _INT64_MAX for v in values
    ):
        raise ValidationError(f"{key} must be a list of 64-bit integers")
    if any(a >= b for a, b in itertools.pairwise(values)):
        raise ValidationError(f"{key} must be sorted and distinct")
    return np.asarray(values, dtype=np.int64)


def _sorted_strs(data: dict[str, Any], key: str) -> list[str]:
    """``data[key]`` if it is a strictly increasing list of strings."""
    values = data[key]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValidationError(f"{key} must be a list of strings")
    if any(a >= b for a, b in itertools.pairwise(values)):
        raise ValidationError(f"{key} must be sorted and distinct")
    return values


def tokenize(title: str) -> list[str]:
    """Lowercased word tokens of a title, each cut to ``MAX_TOKEN_CHARS`` characters."""
    return [word[:MAX_TOKEN_CHARS] for word in _WORD.findall(title.lower())]


def _str_vocabulary(values: Iterable[object]) -> tuple[str, ...]:
    """Sorted distinct strings, as plain Python strings (variable length in memory)."""
    return tuple(sorted({str(v) for v in values}))


def _str_index(vocab: Sequence[str]) -> dict[str, int]:
    return {value: i + 2 for i, value in enumerate(vocab)}


def _lookup_str(index: dict[str, int], values: Iterable[object], n: int) -> IntArray:
    """Indices of ``values`` in a string vocabulary's ``index``, UNK when absent."""
    return np.fromiter((index.get(str(v), UNK) for v in values), dtype=np.int64, count=n)


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
        self.genders = _str_vocabulary(np.asarray(genders, dtype=object).ravel())
        self.ages = np.unique(np.asarray(ages, dtype=np.int64))
        self.occupations = np.unique(np.asarray(occupations, dtype=np.int64))
        self.movie_ids = np.unique(np.asarray(movie_ids, dtype=np.int64))
        self.genres = _str_vocabulary(np.asarray(genres, dtype=object).ravel())
        self.words = _str_vocabulary(np.asarray(words, dtype=object).ravel())
        self.max_title_words = int(max_title_words)
        self._gender_index = _str_index(self.genders)
        self._genre_index = _str_index(self.genres)
        self._word_index = _str_index(self.words)
        self._code_maps: dict[str, dict[Any, int]] = {}

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
            genres=sorted(genres),
            words=sorted(words),
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
        g = np.asarray(gender, dtype=object)
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
            u = self._encode("user_ids", _as_int(user_id, "user_id", n))
        return UserFeatures(
            user=u,
            gender=_lookup_str(self._gender_index, g, n),
            age=self._encode("ages", a),
            occupation=self._encode("occupations", o),
        )

    def _encode(self, vocabulary: str, values: np.ndarray) -> IntArray:
        """:func:`_lookup` in an integer vocabulary; a few values go through a cached dict."""
        if values.size > _FEW:
            return _lookup(getattr(self, vocabulary), values)
        codes = self._code_maps.get(vocabulary)
        if codes is None:
            vocab = getattr(self, vocabulary).tolist()
            codes = self._code_maps[vocabulary] = {v: i + 2 for i, v in enumerate(vocab)}
        return np.array([codes.get(v, UNK) for v in values.tolist()], dtype=np.int64)

    def encode_movies(self, movies: Movies) -> MovieFeatures:
        """Encode a movie table; genres and titles padded to the longest (titles capped)."""
        n = len(movies)
        movie = _lookup(self.movie_ids, _as_int(movies.movie_id, "movie_id", n))
        return MovieFeatures(
            movie=movie,
            genres=self._ragged(
                [[str(x) for x in g] for g in movies.genres], self._genre_index, width=None
            ),
            title=self._ragged(
                [tokenize(str(t)) for t in movies.title],
                self._word_index,
                width=self.max_title_words,
            ),
        )

    @staticmethod
    def _ragged(rows: list[list[str]], index: dict[str, int], width: int | None) -> IntArray:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        if width is not None:
            lengths = np.minimum(lengths, width)
        w = max(1, int(lengths.max()) if len(rows) else 1)
        out = np.zeros((len(rows), w), dtype=np.int64)
        flat = [x for r, k in zip(rows, lengths, strict=True) for x in r[:k]]
        if flat:
            codes = _lookup_str(index, flat, len(flat))
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
            "genders": list(self.genders),
            "ages": self.ages.tolist(),
            "occupations": self.occupations.tolist(),
            "movie_ids": self.movie_ids.tolist(),
            "genres": list(self.genres),
            "words": list(self.words),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Rebuild from :meth:`to_dict` output; a malformed dict raises :class:`ValidationError`.

        Every vocabulary must be what :meth:`to_dict` writes: sorted, distinct, of the right
        type (integers within int64, strings; title words at most ``MAX_TOKEN_CHARS`` long).
        """
        if not isinstance(data, dict):
            raise ValidationError(f"encoder data must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValidationError(
                f"encoder format version {version!r} is not supported (expected {FORMAT_VERSION})"
            )
        missing = sorted(set(_ENCODER_KEYS) - set(data))
        if missing:
            raise ValidationError(f"malformed encoder data: missing {missing}")
        max_words = data["max_title_words"]
        if not _is_int(max_words) or not 1 <= max_words <= _INT64_MAX:
            raise ValidationError(f"max_title_words must be a positive integer, got {max_words!r}")
        words = _sorted_strs(data, "words")
        long_word = next((w for w in words if len(w) > MAX_TOKEN_CHARS), None)
        if long_word is not None:
            raise ValidationError(
                f"words holds a token of {len(long_word)} characters "
                f"(tokens are at most {MAX_TOKEN_CHARS})"
            )
        return cls(
            user_ids=_sorted_ints(data, "user_ids"),
            genders=_sorted_strs(data, "genders"),
            ages=_sorted_ints(data, "ages"),
            occupations=_sorted_ints(data, "occupations"),
            movie_ids=_sorted_ints(data, "movie_ids"),
            genres=_sorted_strs(data, "genres"),
            words=words,
            max_title_words=max_words,
        )

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
        return (
            f"FeatureEncoder(users={len(self.user_ids)}, movies={len(self.movie_ids)}, "
            f"genres={len(self.genres)}, words={len(self.words)})"
        )
