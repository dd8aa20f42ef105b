"""Dataset: any catalog's users, items and interactions, the one form training reads.

A :class:`Table` holds one side's entities (their ids and named columns: features to encode,
metadata to display), :class:`Interactions` who interacted with what (with an optional
rating, weight and timestamp). Ids are all int64 or all strings (an SKU). MovieLens data sets
convert without copying their arrays (:meth:`Dataset.from_movielens`), so MovieLens is one
source among others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import MovieLens, Ratings
from fusionrec.errors import ValidationError
from fusionrec.ids import exact_ids
from fusionrec.lookup import IdIndex
from fusionrec.stores.fields import MOVIE_FIELDS

if TYPE_CHECKING:
    from fusionrec.features import Schema

#: int64 ids, or an object array of str ids
EntityIds = npt.NDArray[Any]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

__all__ = [
    "Dataset",
    "EntityIds",
    "Interactions",
    "Table",
    "as_dataset",
    "as_interactions",
    "entity_ids",
]


def entity_ids(values: Any, what: str = "ids") -> EntityIds:
    """Ids as int64 (all integers) or as an object array of str (all strings); else an error.

    Integer ids go through :func:`fusionrec.ids.exact_ids` (no float, bool or overflow);
    string ids must be non-empty. Mixing the two is refused: ``"12"`` and ``12`` would be two
    entities that print the same.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "US":
        arr = values.astype(object)
    elif isinstance(values, np.ndarray) and values.dtype != np.object_:
        return exact_ids(values, what)
    else:
        seq = values if isinstance(values, (list, tuple, np.ndarray)) else list(values)
        if not any(isinstance(v, str) for v in seq):
            return exact_ids(seq, what)  # seq: a generator given as values is consumed by now
        arr = np.empty(len(seq), dtype=object)
        arr[:] = list(seq)
    for pos, value in enumerate(arr.tolist()):
        if not isinstance(value, str) or not value:
            kind = type(value).__name__
            raise ValidationError(
                f"{what} must be all integers or all non-empty strings, got {value!r:.60} "
                f"({kind}) at position {pos}"
            )
    return arr


def _column(values: Any, name: str, n: int) -> npt.NDArray[Any]:
    """A table column as a 1-D array of length ``n`` (lists and tuples stay one value a row)."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        arr = values
    else:
        items = list(values)
        try:
            arr = np.asarray(items)
        except ValueError:  # ragged lists: one object per row below
            arr = np.empty((0, 0))
        if arr.ndim != 1 or arr.dtype.kind in "US":
            arr = np.empty(len(items), dtype=object)
            arr[:] = items
    if len(arr) != n:
        raise ValidationError(f"column {name!r} has {len(arr)} values for {n} ids")
    return arr


@dataclass(frozen=True)
class Table:
    """One side's entities: their ids (column ``id_name``) and other named columns."""

    ids: EntityIds
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    id_name: str = "id"

    def __post_init__(self) -> None:
        ids = entity_ids(self.ids, f"{self.id_name} values")
        object.__setattr__(self, "ids", ids)
        if self.id_name in self.columns:
            raise ValidationError(f"column {self.id_name!r} is the id column; give it as ids")
        cols = {str(k): _column(v, str(k), len(ids)) for k, v in self.columns.items()}
        object.__setattr__(self, "columns", cols)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def string_ids(self) -> bool:
        """Whether the ids are strings (else int64)."""
        return bool(self.ids.dtype == np.object_)

    def take(self, index: npt.ArrayLike) -> Table:
        """Rows at ``index`` (integer positions or a boolean mask)."""
        idx = np.asarray(index)
        return Table(self.ids[idx], {k: v[idx] for k, v in self.columns.items()}, self.id_name)

    def as_columns(self) -> dict[str, npt.NDArray[Any]]:
        """Every column by name, the ids under ``id_name`` (what an encoder reads)."""
        return {self.id_name: self.ids, **self.columns}

    def rows(self, ids: npt.ArrayLike, what: str | None = None) -> IntArray:
        """The row of each id; an unknown id raises :class:`ValidationError` naming it."""
        return IdIndex(self.ids).rows(ids, what or self.id_name)


@dataclass(frozen=True)
class Interactions:
    """Who interacted with what: user and item ids, with optional rating, weight and time.

    Without ``rating`` the feedback is implicit (clicks, plays); ``weight`` (e.g. a play count)
    says how much each interaction counts.
    """

    user_id: EntityIds
    item_id: EntityIds
    rating: FloatArray | None = None
    weight: FloatArray | None = None
    timestamp: IntArray | None = None

    def __post_init__(self) -> None:
        n = len(self.user_id)
        for name in ("item_id", "rating", "weight", "timestamp"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise ValidationError(
                    f"interactions: {name} has {len(column)} values for {n} user ids"
                )

    def __len__(self) -> int:
        return len(self.user_id)

    @property
    def explicit(self) -> bool:
        """Whether the interactions carry ratings."""
        return self.rating is not None

    def take(self, index: npt.ArrayLike) -> Interactions:
        """Rows at ``index`` (integer positions or a boolean mask)."""
        idx = np.asarray(index)
        return Interactions(
            self.user_id[idx],
            self.item_id[idx],
            None if self.rating is None else self.rating[idx],
            None if self.weight is None else self.weight[idx],
            None if self.timestamp is None else self.timestamp[idx],
        )


@dataclass(frozen=True)
class Dataset:
    """Users, items and their interactions, plus what training needs to know about them.

    ``schema`` is the features to train with when the caller gives none (None: the caller
    must); ``declared`` adds values to a feature's vocabulary beyond the rows (e.g. every
    genre); ``rating_scale`` is the ratings' (min, max), None for implicit feedback;
    ``display`` names the item columns a store keeps beside the vectors, to show and filter
    (None: every item column of a storable type: str, int, float, bool, list of str).
    """

    users: Table
    items: Table
    interactions: Interactions
    rating_scale: tuple[float, float] | None = None
    schema: Schema | None = None
    declared: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    source: str = "memory"
    notes: tuple[str, ...] = ()
    display: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.display is not None:
            unknown = [c for c in self.display if c not in self.items.columns]
            if unknown:
                raise ValidationError(f"display names item column(s) the items lack: {unknown}")

    @property
    def implicit(self) -> bool:
        """Whether the interactions have no ratings (clicks, plays)."""
        return not self.interactions.explicit

    def with_interactions(self, interactions: Interactions) -> Dataset:
        """The same users and items with other interactions (how splits are made)."""
        return Dataset(
            self.users,
            self.items,
            interactions,
            self.rating_scale,
            self.schema,
            self.declared,
            self.source,
            self.notes,
            self.display,
        )

    @classmethod
    def from_movielens(cls, data: MovieLens) -> Dataset:
        """A MovieLens data set in this form, sharing its arrays (nothing is copied)."""
        from fusionrec.features.movielens import default_schema, movielens_declared

        u, m = data.users, data.movies
        users = Table(
            u.user_id,
            {"gender": u.gender, "age": u.age, "occupation": u.occupation, "zip_code": u.zip_code},
            id_name="user_id",
        )
        items = Table(
            m.movie_id,
            {"title": m.title, "year": m.year, "genres": m.genres, "tags": m.tags},
            id_name="movie_id",
        )
        return cls(
            users,
            items,
            as_interactions(data.ratings),
            rating_scale=(1.0 if data.has_demographics else 0.5, 5.0),  # csv releases: half stars
            schema=default_schema(data),
            declared=movielens_declared(data),
            source=data.source,
            notes=data.notes,
            display=tuple(f.name for f in MOVIE_FIELDS),
        )

    def __repr__(self) -> str:
        kind = "implicit" if self.implicit else "rated"
        return (
            f"Dataset(source={self.source!r}, users={len(self.users)}, "
            f"items={len(self.items)}, interactions={len(self.interactions)} {kind})"
        )


def as_interactions(data: Ratings | Interactions) -> Interactions:
    """A MovieLens rating table as interactions (sharing arrays); interactions unchanged."""
    if isinstance(data, Interactions):
        return data
    if isinstance(data, Ratings):
        return Interactions(data.user_id, data.movie_id, data.rating, None, data.timestamp)
    raise ValidationError(f"expected interactions or ratings, got {type(data).__name__}")


def as_dataset(data: MovieLens | Dataset, name: str = "data") -> Dataset:
    """A MovieLens data set converted (see :meth:`Dataset.from_movielens`); a Dataset as is."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, MovieLens):
        return Dataset.from_movielens(data)
    raise ValidationError(f"{name} must be a Dataset or a MovieLens, got {type(data).__name__}")
