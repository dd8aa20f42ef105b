"""What the facade returns: a ranked :class:`Recommendation` and an :class:`EvaluationResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusionrec.stores import Hit


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended item, in the order of a ranked list.

    ``score`` is what the list is ranked by, so it never rises down a list: the store's
    similarity, the inner product of unit vectors (cosine, in [-1, 1]). ``rating`` is the
    model's predicted rating of the item for the user, where there is one (``recommend`` on a
    model trained on ratings); it need not fall down the list when a separate retrieval head
    ranks (the ``default`` preset), and it is None for :meth:`FusionRecommender.similar_items`
    and for a model trained on implicit feedback. ``metadata`` holds the item's display fields
    as the store returned them (for MovieLens: title, genres, year).
    """

    item_id: int | str
    score: float
    rating: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def movie_id(self) -> int:
        """The item id of a MovieLens model (an int)."""
        return int(self.item_id)

    @property
    def title(self) -> str:
        """The ``title`` field ("" when the items have none)."""
        return str(self.metadata.get("title", ""))

    @property
    def genres(self) -> tuple[str, ...]:
        """The ``genres`` field as a tuple (empty when the items have none)."""
        return tuple(self.metadata.get("genres", ()))

    @property
    def year(self) -> int:
        """The ``year`` field (0 when the items have none)."""
        return int(self.metadata.get("year", 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields: ``item_id``, ``score``, ``rating`` and the metadata fields.

        An int item id is also given as ``movie_id``, so MovieLens clients written before
        the generic form (the web page, scripts reading ``movie_id``) keep working.
        """
        out: dict[str, Any] = {"item_id": self.item_id}
        if isinstance(self.item_id, int):
            out["movie_id"] = self.item_id
        out.update(self.metadata)
        out["score"] = self.score
        out["rating"] = self.rating
        return out


@dataclass(frozen=True)
class EvaluationResult:
    """Rating-prediction error on a test set (None without ratings), plus top-N metrics.

    ``n_ratings`` counts the test interactions. A model trained on implicit feedback, or
    test data without ratings, gets top-N metrics only.
    """

    rmse: float | None
    mae: float | None
    n_ratings: int
    k: int | None = None
    recall: float | None = None
    ndcg: float | None = None
    hit_rate: float | None = None
    n_users: int | None = None


_new = object.__new__
_slots = vars(Recommendation)  # the slot descriptors: setting through them skips __setattr__
_set_item_id = _slots["item_id"].__set__
_set_score = _slots["score"].__set__
_set_rating = _slots["rating"].__set__
_set_metadata = _slots["metadata"].__set__


def recommendations(
    hits: Sequence[Hit], ratings: Sequence[float | None], decode: Any
) -> list[Recommendation]:
    """Store hits as Recommendations, keys decoded (``decode`` is ``int`` for int ids).

    Equal to ``Recommendation(decode(hit.id), float(hit.score), rating, hit.metadata)`` per
    hit, but filled through the slots directly: a frozen dataclass's ``__init__`` sets each
    field with ``object.__setattr__``, which took a tenth of a one-user ``recommend()`` on
    Faiss for ten hits.
    """
    out = []
    for hit, rating in zip(hits, ratings, strict=True):
        made = _new(Recommendation)
        _set_item_id(made, decode(hit.id))
        _set_score(made, float(hit.score))
        _set_rating(made, rating)
        _set_metadata(made, hit.metadata)
        out.append(made)
    return out
