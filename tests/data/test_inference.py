"""infer_schema: one feature kind per column, by the documented rules."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.data import Dataset, Interactions, Table, infer_schema
from fusionrec.data.inference import CATEGORICAL_MAX_INTS, SkippedColumnWarning
from fusionrec.errors import ValidationError
from fusionrec.features import Categorical, MultiCategorical, Numeric, Text


def _items(columns: dict[str, object], n: int) -> Dataset:
    ids = np.arange(n, dtype=np.int64)
    items = Table(ids, columns, id_name="item_id")  # type: ignore[arg-type]
    users = Table(np.array([1], dtype=np.int64), {}, id_name="user_id")
    clicks = Interactions(np.ones(n, dtype=np.int64), ids)
    return Dataset(users, items, clicks)


def test_kinds_follow_the_rules() -> None:
    n = 2 * CATEGORICAL_MAX_INTS
    codes = np.arange(n, dtype=np.int64) % CATEGORICAL_MAX_INTS
    titles = np.array([f"the item number {i}" for i in range(n)], dtype=object)
    brands = np.array([f"brand {i % 3}" for i in range(n)], dtype=object)
    tags = np.empty(n, dtype=object)
    tags[:] = [("a",) if i % 2 else ("a", "b") for i in range(n)]
    data = _items(
        {
            "code": codes,
            "views": np.arange(n, dtype=np.int64),
            "price": np.linspace(1, 2, n),
            "on_sale": np.arange(n) % 2 == 0,
            "title": titles,
            "brand": brands,
            "tags": tags,
        },
        n,
    )
    schema = infer_schema(data)
    assert schema.user == (Categorical("user_id", dim=32, fc=32, id=True),)
    assert schema.item == (
        Categorical("item_id", dim=32, fc=32, id=True),
        Categorical("code"),
        Numeric("views"),
        Numeric("price"),
        Categorical("on_sale", dim=8, fc=8),
        Text("title"),
        Categorical("brand"),
        MultiCategorical("tags"),
    )


def test_unusable_columns_are_left_out_with_a_warning() -> None:
    empty = np.array([None, None], dtype=object)
    mixed = np.array(["a", 1], dtype=object)
    with pytest.warns(SkippedColumnWarning) as caught:
        schema = infer_schema(_items({"notes": empty, "mixed": mixed, "unit price": empty}, 2))
    assert [f.name for f in schema.item] == ["item_id"]
    messages = sorted(str(w.message) for w in caught)
    assert any("'notes' is not a feature: it has no values" in m for m in messages)
    assert any("'mixed' is not a feature: its values are of several types" in m for m in messages)
    assert any(
        "'unit price' is not a feature: its name is not a Python identifier" in m for m in messages
    )
    with pytest.raises(ValidationError, match="needs a Dataset"):
        infer_schema("data")  # type: ignore[arg-type]
