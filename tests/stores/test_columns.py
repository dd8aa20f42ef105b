"""The Faiss store's column masks agree with the predicates' reference semantics."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.stores import And, ContainsAny, Eq, Ids, Not, OneOf, Or, Predicate, Range
from fusionrec.stores._columns import Columns
from fusionrec.stores.fields import MOVIE_FIELDS, normalize_metadata
from fusionrec.testing import PRODUCT_FIELDS, random_items, random_products

PRODUCT_PREDICATES: list[Predicate] = [
    Eq("brand", "O'Neil"),
    Eq("in_stock", False),
    Eq("price", 3.2),
    OneOf("stock", [-2, 4, 9]),
    OneOf("brand", ["acme", "nobody"]),
    Range("price", 5, 20.5),
    Range("price", lo=5, include_lo=False),
    Range("stock", hi=3, include_hi=False),
    ContainsAny("category", ["tools", "sale"]),
    ContainsAny("category", ["absent"]),
    Not(ContainsAny("category", ["tools"])),
    Or(Eq("brand", "acme"), And(Range("price", hi=10), Not(Eq("in_stock", True)))),
    Ids([7, 14, 99_999]),
    Not(Ids([7])),
]


def _check(label_to_id: np.ndarray, meta: dict[int, dict[str, object]], fields, preds) -> None:  # type: ignore[no-untyped-def]
    columns = Columns(label_to_id, meta, fields)
    for predicate in preds:
        want = np.array(
            [i >= 0 and predicate.matches(int(i), meta[int(i)]) for i in label_to_id.tolist()]
        )
        np.testing.assert_array_equal(columns.mask(predicate), want, err_msg=str(predicate))


def test_product_masks_equal_matches_with_dead_labels() -> None:
    ids, _, raw = random_products(120, 4)
    meta = {
        int(i): normalize_metadata(m, n, PRODUCT_FIELDS)
        for n, (i, m) in enumerate(zip(ids, raw, strict=True))
    }
    labels = ids.copy()
    dead = labels[::7].tolist()
    labels[::7] = -1
    for item_id in dead:
        del meta[item_id]
    _check(labels, meta, PRODUCT_FIELDS, PRODUCT_PREDICATES)


@pytest.mark.parametrize("n", [0, 1, 50])
def test_movie_masks_equal_matches(n: int) -> None:
    ids, _, raw = random_items(n, 4)
    meta = {int(i): normalize_metadata(m, 0) for i, m in zip(ids, raw, strict=True)}
    preds: list[Predicate] = [
        ContainsAny("genres", ["Drama", "Film-Noir"]),
        Range("year", 1960, 1969),
        Not(Range("year", lo=1990)) & Ids([int(i) for i in ids[::3]] or [1]),
    ]
    _check(ids, meta, MOVIE_FIELDS, preds)
