"""Filter validation and semantics, and argument validation shared by every backend."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.errors import FilterError, ValidationError
from fusionrec.stores import Filter
from fusionrec.stores.base import normalize_excludes, normalize_metadata, validate_items


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"genres_any": []}, "empty"),
        ({"genres_any": "Drama"}, "sequence"),
        ({"genres_any": ["Drama", 3]}, "non-empty string"),
        ({"genres_any": ["Dra\nma"]}, "control"),
        ({"year_between": (2000, 1990)}, "lo > hi"),
        ({"year_between": (1990,)}, "pair"),
        ({"year_between": (1990.5, 2000)}, "integers"),
        ({"ids": [1, "2"]}, "integer"),
        ({"ids": [True]}, "integer"),
    ],
)
def test_invalid_filters_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        Filter(**kwargs)  # type: ignore[arg-type]


def test_fields_combine_with_and() -> None:
    flt = Filter(genres_any=["Drama", "Comedy"], year_between=(1990, 1999), ids=[1, 2, 3])
    meta = {"title": "t", "genres": ["Comedy"], "year": 1995}
    assert flt.matches(1, meta)
    assert not flt.matches(4, meta)
    assert not flt.matches(1, {**meta, "year": 2000})
    assert not flt.matches(1, {**meta, "genres": ["Horror"]})
    assert Filter().matches(9, meta)


def test_filters_are_hashable_values_and_round_trip() -> None:
    a = Filter(genres_any=["Drama", "Drama"], ids=np.array([3, 1]))
    b = Filter(genres_any=("Drama",), ids=[3, 1])
    assert a == b and hash(a) == hash(b)
    assert Filter.from_dict(a.to_dict()) == a
    with pytest.raises(FilterError, match="unknown"):
        Filter.from_dict({"genre": ["Drama"]})


def test_metadata_is_checked_not_dropped() -> None:
    assert normalize_metadata(None, 0) == {"title": "", "genres": [], "year": 0}
    with pytest.raises(ValidationError, match="unknown key"):
        normalize_metadata({"title": "x", "rating": 4}, 2)
    with pytest.raises(ValidationError, match="year"):
        normalize_metadata({"year": "1995"}, 0)
    with pytest.raises(ValidationError, match="genres"):
        normalize_metadata({"genres": "Drama"}, 0)


def test_upsert_batches_are_validated() -> None:
    vectors = np.ones((2, 4), dtype=np.float32)
    with pytest.raises(ValidationError, match="duplicates"):
        validate_items([1, 1], vectors, None, 4)
    with pytest.raises(ValidationError, match="integers"):
        validate_items([1.5, 2.0], vectors, None, 4)
    ids, vec, meta = validate_items(np.array([5, 6]), vectors.astype(np.float64), None, 4)
    assert ids.dtype == np.int64 and vec.dtype == np.float32 and len(meta) == 2


def test_exclusions_shared_or_per_query() -> None:
    assert normalize_excludes([1, 2], 3) == [frozenset({1, 2})] * 3
    assert normalize_excludes([[1], [2]], 2) == [frozenset({1}), frozenset({2})]
    assert normalize_excludes(None, 2) == [frozenset(), frozenset()]
    assert normalize_excludes(np.array([4, 5]), 1) == [frozenset({4, 5})]
    with pytest.raises(ValidationError, match="mixes"):
        normalize_excludes([1, [2]], 2)  # type: ignore[list-item]
