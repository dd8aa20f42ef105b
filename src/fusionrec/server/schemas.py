"""Request and response bodies of the HTTP API, with the bounds that keep one request cheap.

Every list is bounded and every id fits in 64 bits, so a request can neither ask for unbounded
work nor overflow numpy; what pydantic rejects becomes a one-line 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fusionrec.ids import INT64_MAX, INT64_MIN

#: Most results one recommend or similar request may ask for.
MAX_K = 100
#: Most users in one batch-recommend request.
MAX_BATCH_USERS = 1000
#: Most items in one add-items request.
MAX_ADD_ITEMS = 1000
#: Most (user, movie) pairs in one add-interactions request.
MAX_ADD_INTERACTIONS = 10_000
#: Most ids in a filter's id list.
MAX_FILTER_IDS = 10_000
#: Longest filter expression (string form) in a request.
MAX_FILTER_EXPR = 2000
#: Largest request body accepted, in bytes (checked before parsing).
MAX_BODY_BYTES = 2 * 2**20

Id = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
#: A user or item id: an int64, or a string such as an SKU.
EntityId = Id | Annotated[str, Field(min_length=1, max_length=256)]
#: A new user's feature value (what a schema feature's column holds).
FeatureValue = int | float | bool | Annotated[str, Field(max_length=256)] | None
Genre = Annotated[str, Field(min_length=1, max_length=64)]
K = Annotated[int, Field(ge=1, le=MAX_K, description=f"how many results, 1-{MAX_K}")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterIn(_Body):
    """Conditions on items, combined with AND (see ``fusionrec.Filter``)."""

    genres_any: list[Genre] | None = Field(default=None, max_length=64)
    year_between: tuple[Annotated[int, Field(ge=0, le=9999)], ...] | None = Field(
        default=None, min_length=2, max_length=2, description="inclusive [lo, hi]"
    )
    ids: list[Id] | None = Field(default=None, max_length=MAX_FILTER_IDS)
    expr: str | None = Field(
        default=None,
        max_length=MAX_FILTER_EXPR,
        description='a filter in its string form, e.g. "year >= 1990 and not genres '
        "contains_any ['Horror']\" (docs/stores.md)",
    )


class UserIn(_Body):
    """A known user by id, or a new user by features (MovieLens: age, gender, occupation)."""

    user_id: EntityId | None = Field(
        default=None, description="a user id from the training data (int or str)"
    )
    features: dict[Annotated[str, Field(max_length=64)], FeatureValue] | None = Field(
        default=None,
        max_length=64,
        description='a new user\'s features by the schema\'s names, e.g. {"country": "DE"}',
    )
    age: int | None = Field(default=None, ge=1, le=120, description="years or ml-1m bucket")
    gender: str | None = Field(default=None, max_length=8, description="M or F")
    occupation: int | Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="occupation id or name"
    )

    def feature_values(self) -> dict[str, Any]:
        """The new-user features given: ``features`` plus the MovieLens fields that are set."""
        given = {
            name: value
            for name, value in (
                ("age", self.age),
                ("gender", self.gender),
                ("occupation", self.occupation),
            )
            if value is not None
        }
        return {**(self.features or {}), **given}


class RecommendIn(UserIn):
    """One user's top-k request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"age": 25, "gender": "F", "occupation": 4, "k": 5}]},
    )

    k: K = 10
    exclude_seen: bool = True
    filter: FilterIn | None = None


class BatchRecommendIn(_Body):
    """Many users' top-k in one request (known and new users may be mixed)."""

    users: list[UserIn] = Field(min_length=1, max_length=MAX_BATCH_USERS)
    k: K = 10
    exclude_seen: bool = True
    filter: FilterIn | None = None


class ItemIn(_Body):
    """A new item: a movie (``movie_id``, ``title``, ``genres``, ``year``), or any catalog's
    item (``item_id`` plus its columns by name, e.g. ``"price": 12.5``)."""

    model_config = ConfigDict(extra="allow")

    movie_id: Id | None = None
    item_id: EntityId | None = None
    title: str | None = Field(default=None, min_length=1, max_length=500)
    genres: list[Genre] | None = Field(default=None, max_length=32)
    year: int | None = Field(default=None, ge=0, le=9999, description="0 if unknown")

    @model_validator(mode="after")
    def _one_id(self) -> ItemIn:
        if (self.item_id is None) == (self.movie_id is None):
            raise ValueError("give the item's id as item_id, or movie_id for a movie")
        if self.movie_id is not None and self.title is None:
            raise ValueError("a movie (movie_id) needs a title")
        for name, value in (self.model_extra or {}).items():
            if len(name) > 64 or not _column_value(value):
                raise ValueError(
                    f"column {name[:64]!r}: a value is a number, str, bool or list of str"
                )
        return self

    def columns(self) -> dict[str, Any]:
        """The item's columns (id aside): the movie fields given and the extra ones."""
        given = {"title": self.title, "genres": self.genres, "year": self.year}
        out = {name: value for name, value in given.items() if value is not None}
        return {**out, **(self.model_extra or {})}


def _column_value(value: Any) -> bool:
    """Whether ``value`` fits a catalog column: a scalar, or a short list of short strings."""
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= 2000
    return (
        isinstance(value, list)
        and len(value) <= 256
        and all(isinstance(v, str) and len(v) <= 256 for v in value)
    )


class AddItemsIn(_Body):
    """Items to encode and upsert into the store (an existing id is replaced)."""

    items: list[ItemIn] = Field(min_length=1, max_length=MAX_ADD_ITEMS)


class InteractionIn(_Body):
    """A known user has seen (rated, bought, watched) a catalog item (``movie_id``: old name)."""

    user_id: EntityId
    item_id: EntityId | None = None
    movie_id: EntityId | None = None

    @model_validator(mode="after")
    def _one_item(self) -> InteractionIn:
        if (self.item_id is None) == (self.movie_id is None):
            raise ValueError("give the item as item_id (or movie_id), once")
        return self

    @property
    def item(self) -> int | str:
        item = self.item_id if self.item_id is not None else self.movie_id
        assert item is not None
        return item


class AddInteractionsIn(_Body):
    """Interactions to record, so ``exclude_seen`` leaves those items out."""

    interactions: list[InteractionIn] = Field(min_length=1, max_length=MAX_ADD_INTERACTIONS)


class HitOut(BaseModel):
    """One result: ``score`` ranks the list; ``rating`` is the predicted rating if any.

    The item's display fields (MovieLens: title, genres, year) follow as further keys;
    ``movie_id`` repeats an int ``item_id`` for clients of the MovieLens form.
    """

    model_config = ConfigDict(extra="allow")

    item_id: int | str
    movie_id: int | None = None
    score: float
    rating: float | None = None


class HitsOut(BaseModel):
    items: list[HitOut]


class BatchHitsOut(BaseModel):
    results: list[list[HitOut]]


class ItemOut(BaseModel):
    """One item: its id, its display fields (as further keys) and whether it is indexed."""

    model_config = ConfigDict(extra="allow")

    item_id: int | str
    movie_id: int | None = None
    indexed: bool = Field(description="whether the item is in the vector store")


class AddedOut(BaseModel):
    received: int
    added: int = Field(description="items upserted, or interaction pairs that were new")


class StatusOut(BaseModel):
    status: str
    items: int | None = None
    detail: str | None = None


class ModelOut(BaseModel):
    """What the page and monitoring need to know; never a filesystem path."""

    fusionrec_version: str
    preset: str
    dim: int
    store: dict[str, Any]
    users: dict[str, Any]
    items: dict[str, Any]
    new_user_fields: list[dict[str, Any]]
    filters: dict[str, Any]
    limits: dict[str, int]
