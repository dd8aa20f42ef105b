"""The backend-neutral vector store API: VectorStore, Hit, StoredItem and Filter.

Every backend subclasses :class:`VectorStore` and implements the ``_``-prefixed hooks; the
public methods here validate arguments once (shapes, dimensions, finiteness, metadata, filters)
so that all backends reject the same bad input with the same :mod:`fusionrec.errors` type.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from fusionrec.errors import DimensionMismatchError, FilterError, StoreError, ValidationError
from fusionrec.ids import exact_ids
from fusionrec.stores.fields import MOVIE_FIELDS, Fields, MetadataField, normalize_metadata
from fusionrec.stores.filters import (
    And,
    ContainsAny,
    Ids,
    Predicate,
    Range,
    check_filter_ids,
    matches_nothing,
)

FloatMatrix = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
#: ``exclude_ids`` of a search: one id list (or int64 array) for all queries, or one per query.
ExcludeIds = Sequence[Sequence[int] | IdArray] | Sequence[int] | IdArray | None


@dataclass(slots=True)
class Hit:
    """One search result: the item id, its inner-product score and its metadata.

    A plain slotted dataclass, not a frozen one: every search builds k of them, and a frozen
    dataclass's ``__init__`` costs three times as much (measurable on sub-0.1 ms searches).
    """

    id: int
    score: float
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StoredItem:
    """An item read back from a store: id, float32 vector and metadata."""

    id: int
    vector: FloatMatrix
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Filter(Predicate):
    """The MovieLens convenience filter: conditions combined with AND; ``None`` does not constrain.

    ``genres_any``: the item has at least one of these genres. ``year_between``: inclusive
    ``(lo, hi)`` on the item's year. ``ids``: the item id is one of these (an empty sequence
    matches nothing). It is the predicate ``ContainsAny("genres", ...) & Range("year", lo, hi)
    & Ids(...)`` (see :meth:`core`). Invalid values raise :class:`~fusionrec.errors.FilterError`.
    """

    genres_any: tuple[str, ...] | None = None
    year_between: tuple[int, int] | None = None
    ids: tuple[int, ...] | None = None
    _genre_set: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __init__(
        self,
        genres_any: Sequence[str] | None = None,
        year_between: Sequence[int] | None = None,
        ids: Sequence[int] | None = None,
    ) -> None:
        object.__setattr__(self, "genres_any", _check_genres(genres_any))
        object.__setattr__(self, "year_between", _check_years(year_between))
        object.__setattr__(self, "ids", check_filter_ids(ids))
        object.__setattr__(self, "_genre_set", frozenset(self.genres_any or ()))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        """Whether one item satisfies every condition (the reference semantics)."""
        if self.ids is not None and item_id not in self.ids:
            return False
        if self.year_between is not None:
            lo, hi = self.year_between
            if not lo <= int(metadata["year"]) <= hi:
                return False
        return self.genres_any is None or not self._genre_set.isdisjoint(metadata["genres"])

    def core(self) -> Predicate | None:
        """The same conditions as leaf predicates (None: no condition)."""
        parts: list[Predicate] = []
        if self.genres_any is not None:
            parts.append(ContainsAny("genres", self.genres_any))
        if self.year_between is not None:
            parts.append(Range("year", *self.year_between))
        if self.ids is not None:
            parts.append(Ids(self.ids))
        return None if not parts else parts[0] if len(parts) == 1 else And(*parts)

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        core = self.core()
        if core is not None:
            core.check(fields)

    def __str__(self) -> str:
        core = self.core()
        return "" if core is None else str(core)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` inverts it."""
        return {
            "genres_any": None if self.genres_any is None else list(self.genres_any),
            "year_between": None if self.year_between is None else list(self.year_between),
            "ids": None if self.ids is None else list(self.ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Filter:
        """Build a filter from :meth:`to_dict` output; unknown keys raise FilterError."""
        unknown = set(data) - {"genres_any", "year_between", "ids"}
        if unknown:
            raise FilterError(f"unknown filter field(s): {sorted(unknown)}")
        return cls(data.get("genres_any"), data.get("year_between"), data.get("ids"))


def _check_genres(genres: Sequence[str] | None) -> tuple[str, ...] | None:
    if genres is None:
        return None
    if isinstance(genres, str) or not isinstance(genres, Sequence):
        raise FilterError(f"genres_any must be a sequence of strings, got {type(genres).__name__}")
    if len(genres) == 0:
        raise FilterError("genres_any is empty: pass None for no genre condition")
    for genre in genres:
        if not isinstance(genre, str) or not genre:
            raise FilterError(f"genres_any holds {genre!r}: every genre must be a non-empty string")
        if any(ord(ch) < 32 for ch in genre):
            raise FilterError(f"genres_any holds {genre!r}: control characters are not allowed")
    return tuple(dict.fromkeys(genres))


def _check_years(years: Sequence[int] | None) -> tuple[int, int] | None:
    if years is None:
        return None
    if isinstance(years, str) or not isinstance(years, Sequence) or len(years) != 2:
        raise FilterError(f"year_between must be a (lo, hi) pair, got {years!r}")
    lo, hi = years
    for value in (lo, hi):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise FilterError(f"year_between must hold integers, got {years!r}")
    if lo > hi:
        raise FilterError(f"year_between has lo > hi: {years!r}")
    return int(lo), int(hi)


_FLOAT32 = np.dtype(np.float32)
_all_true = np.logical_and.reduce


def as_matrix(vectors: npt.ArrayLike, dim: int, what: str) -> FloatMatrix:
    """Validate vectors as a finite float32 ``[n, dim]`` matrix (a 1-D vector becomes n=1)."""
    if (  # already one: only the finiteness to check (every search's query takes this path)
        vectors.__class__ is np.ndarray
        and vectors.dtype is _FLOAT32
        and vectors.ndim == 2
        and vectors.shape[1] == dim
        and vectors.strides == (4 * dim, 4)  # C-contiguous (cheaper to read than flags)
        and (  # one row: its dot product is finite unless a value is not (or it overflows)
            (vectors.shape[0] == 1 and math.isfinite(vectors[0] @ vectors[0]))
            or _all_true(np.isfinite(vectors), axis=None)
        )
    ):
        return vectors
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} are not numeric: {exc}") from exc
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValidationError(f"{what} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} have dimension {arr.shape[1]} but the store has dimension {dim}"
        )
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValidationError(f"{what} row {bad} holds NaN or infinity")
    return np.ascontiguousarray(arr)


def validate_items(
    ids: Sequence[int] | npt.ArrayLike,
    vectors: npt.ArrayLike,
    metadata: Sequence[Mapping[str, Any] | None] | None,
    dim: int,
    fields: Fields = MOVIE_FIELDS,
) -> tuple[IdArray, FloatMatrix, list[dict[str, Any]]]:
    """Validate an upsert batch: equal lengths, unique int64 ids, finite vectors, metadata."""
    id_arr = exact_ids(ids)
    vec = as_matrix(vectors, dim, "vectors") if id_arr.size else np.zeros((0, dim), np.float32)
    if vec.shape[0] != id_arr.size:
        raise ValidationError(f"got {id_arr.size} ids but {vec.shape[0]} vectors")
    if metadata is None:
        meta = [normalize_metadata(None, i, fields) for i in range(id_arr.size)]
    else:
        if len(metadata) != id_arr.size:
            raise ValidationError(f"got {id_arr.size} ids but {len(metadata)} metadata items")
        meta = [normalize_metadata(m, i, fields) for i, m in enumerate(metadata)]
    if np.unique(id_arr).size != id_arr.size:
        raise ValidationError("ids hold duplicates within one batch")
    return id_arr, vec, meta


def normalize_excludes(exclude_ids: ExcludeIds, n_queries: int) -> list[frozenset[int]]:
    """One exclusion set per query: a flat id list applies to every query."""
    if exclude_ids is None:
        return [frozenset()] * n_queries
    if isinstance(exclude_ids, np.ndarray) and exclude_ids.ndim == 1:
        return [_id_set(exclude_ids)] * n_queries
    items = list(exclude_ids)
    if not items:
        return [frozenset()] * n_queries
    nested = [not isinstance(x, (int, np.integer)) for x in items]
    if all(nested):
        if len(items) != n_queries:
            raise ValidationError(
                f"exclude_ids has {len(items)} lists but there are {n_queries} queries"
            )
        return [_id_set(e) for e in items]
    if any(nested):
        raise ValidationError("exclude_ids mixes ids and lists of ids")
    return [_id_set(items)] * n_queries


def _id_set(ids: Any) -> frozenset[int]:
    """Validated exclusion ids as a set of plain ints (``tolist`` converts in one C loop)."""
    return frozenset(exact_ids(np.asarray(ids), "exclude_ids").tolist())


def check_k(k: int) -> int:
    """k must be a positive integer."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")
    return int(k)


class VectorStore(ABC):
    """A collection of (id, vector, metadata) items ranked by inner product.

    Vectors are float32 and expected L2-normalized, so the inner product is the cosine.
    Subclasses set ``backend`` (their registry name) and implement the ``_``-prefixed hooks;
    validation happens here, once, for every backend.
    """

    backend: str = ""

    @property
    @abstractmethod
    def dim(self) -> int:
        """The vector dimension."""

    @property
    @abstractmethod
    def exact(self) -> bool:
        """Whether search returns exactly the brute-force top k."""

    @property
    def fields(self) -> Fields:
        """The metadata fields this store keeps (default: the MovieLens title, genres, year)."""
        return MOVIE_FIELDS

    def upsert(
        self,
        ids: Sequence[int] | npt.ArrayLike,
        vectors: npt.ArrayLike,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Insert items, replacing any stored item with the same id (batched internally)."""
        self._check_open()
        id_arr, vec, meta = validate_items(ids, vectors, metadata, self.dim, self.fields)
        if id_arr.size:
            self._upsert(id_arr, vec, meta)

    def delete(self, ids: Sequence[int] | npt.ArrayLike) -> None:
        """Remove items by id; ids not stored are ignored."""
        self._check_open()
        id_arr = np.unique(exact_ids(ids))
        if id_arr.size:
            self._delete(id_arr)

    def count(self) -> int:
        """The number of stored items."""
        self._check_open()
        return self._count()

    def get(self, ids: Sequence[int] | npt.ArrayLike) -> list[StoredItem]:
        """Read items back, in the order asked; ids not stored are left out."""
        self._check_open()
        id_arr = exact_ids(ids)
        if not id_arr.size:
            return []
        found = {item.id: item for item in self._get(np.unique(id_arr))}
        return [found[i] for i in dict.fromkeys(int(x) for x in id_arr) if i in found]

    def search(
        self,
        queries: npt.ArrayLike,
        k: int,
        filter: Predicate | None = None,
        exclude_ids: ExcludeIds = None,
    ) -> list[list[Hit]]:
        """The k best items per query by inner product, best first.

        ``queries`` is ``[n, dim]`` or one ``[dim]`` vector (the result is still a list of one
        list). ``filter`` is a :class:`Filter` or any predicate over :attr:`fields` (checked
        before searching: FilterError). ``exclude_ids`` is one id list for all queries or one
        list per query; excluded items do not count toward k, so each query gets k hits while
        enough items remain.
        """
        self._check_open()
        q = as_matrix(queries, self.dim, "queries")
        if k.__class__ is not int or k < 1:  # a plain positive int needs no further check
            k = check_k(k)
        core = None if filter is None else self.check_filter(filter)
        excludes = normalize_excludes(exclude_ids, q.shape[0])
        if q.shape[0] == 0 or (core is not None and matches_nothing(core)):
            self._check_searchable()
            return [[] for _ in range(q.shape[0])]
        return self._search(q, k, core, excludes)

    def check_filter(self, filter: Predicate | None) -> Predicate | None:
        """``filter`` checked against this store's fields, in core form (None: no condition)."""
        if filter is None:
            return None
        if not isinstance(filter, Predicate):
            raise FilterError(f"filter must be a fusionrec.stores predicate, got {type(filter)}")
        filter.check({spec.name: spec for spec in self.fields})
        return filter.core()

    def replace_all(
        self,
        ids: Sequence[int] | npt.ArrayLike,
        vectors: npt.ArrayLike,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Replace the whole content at once; searches meanwhile answer from the old content."""
        self._check_open()
        id_arr, vec, meta = validate_items(ids, vectors, metadata, self.dim, self.fields)
        self._replace_all(id_arr, vec, meta)

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """A JSON-able dict (with a ``backend`` key) that ``open_store`` reopens."""

    @abstractmethod
    def close(self) -> None:
        """Release resources (files, locks, connections); idempotent."""

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(f"{type(self).__name__} is closed")

    def _check_searchable(self) -> None:  # noqa: B027 - optional hook
        """Raise CollectionNotFoundError if there is nothing to search; default: no check."""

    @abstractmethod
    def _upsert(self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]) -> None:
        """Store validated, batch-unique items, replacing existing ids."""

    @abstractmethod
    def _delete(self, ids: IdArray) -> None:
        """Remove unique ids."""

    @abstractmethod
    def _count(self) -> int:
        """Number of items."""

    @abstractmethod
    def _get(self, ids: IdArray) -> list[StoredItem]:
        """Stored items among unique ids, any order."""

    @abstractmethod
    def _search(
        self,
        queries: FloatMatrix,
        k: int,
        filter: Predicate | None,
        excludes: list[frozenset[int]],
    ) -> list[list[Hit]]:
        """Search validated queries; must return k hits per query while enough items qualify.

        ``filter`` is in core form: Eq, OneOf, Range, ContainsAny, Ids, And, Or, Not only.
        """

    @abstractmethod
    def _replace_all(
        self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]
    ) -> None:
        """Swap in new content atomically with respect to concurrent searches."""


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Indices of the k largest of one row of scores, best first (ties: lower index first).

    The one-row path of :func:`top_k_rows`, without its 2-D gathers: about half the time,
    which matters inside a sub-0.1 ms single-query search.
    """
    n = scores.shape[0]
    k = min(k, n)
    top = np.argpartition(scores, n - k)[n - k :] if 0 < k < n else np.arange(k)
    order: npt.NDArray[np.intp] = top[np.lexsort((top, -scores[top]))]
    return order


def top_k_rows(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Column indices of the k largest scores per row, best first (ties: lower index first)."""
    if scores.shape[0] == 1:
        return top_k(scores[0], k)[None, :]
    n = scores.shape[1]
    k = min(k, n)
    if k == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.intp)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(n), (scores.shape[0], 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def finite_score(value: float) -> float:
    """A plain Python float for a score (guards numpy scalar leakage into results)."""
    out = float(value)
    if not math.isfinite(out):
        raise StoreError(f"backend returned a non-finite score {out}")
    return out


def finite_scores(values: list[float]) -> list[float]:
    """:func:`finite_score` for a row of plain floats, checked in one pass."""
    if not all(map(math.isfinite, values)):
        raise StoreError(f"backend returned a non-finite score in {values}")
    return values
