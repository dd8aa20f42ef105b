"""Dataset, Table and Interactions: the generic form of any catalog's data."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.data import Dataset, Interactions, Table, synthetic_movielens
from fusionrec.data.dataset import as_dataset, as_interactions, entity_ids
from fusionrec.errors import ValidationError


def test_entity_ids_keep_ints_and_strings_and_refuse_a_mix() -> None:
    assert entity_ids([3, 1]).dtype == np.int64
    assert entity_ids(i for i in (3, 1)).tolist() == [3, 1]  # a generator is read once
    assert entity_ids(str(i) for i in (3, 1)).tolist() == ["3", "1"]
    skus = entity_ids(np.array(["A-1", "B-2"]))
    assert skus.dtype == object and skus.tolist() == ["A-1", "B-2"]
    with pytest.raises(ValidationError, match="position 1"):
        entity_ids(["A-1", 2], "item ids")
    with pytest.raises(ValidationError, match="non-empty"):
        entity_ids(["A-1", ""])
    with pytest.raises(ValidationError, match="integers"):
        entity_ids([1.5, 2.0])


def test_table_columns_take_and_rows() -> None:
    table = Table(["b", "a"], {"price": [2.5, 1.0], "tags": [("x",), ("x", "y")]}, "sku")
    assert table.string_ids and len(table) == 2
    assert table.columns["tags"].dtype == object and table.columns["tags"][1] == ("x", "y")
    assert list(table.as_columns()) == ["sku", "price", "tags"]
    assert table.rows(["a"]).tolist() == [1]
    assert table.take([1]).columns["price"].tolist() == [1.0]
    with pytest.raises(ValidationError, match="unknown sku 'c'"):
        table.rows(["c"])
    with pytest.raises(ValidationError, match="2 ids"):
        Table([1, 2], {"price": [1.0]})


def test_interactions_lengths_and_implicit() -> None:
    clicks = Interactions(np.array([1, 2]), np.array(["a", "b"], dtype=object))
    assert not clicks.explicit and len(clicks.take([1])) == 1
    with pytest.raises(ValidationError, match="weight"):
        Interactions(np.array([1, 2]), np.array([3, 4]), weight=np.ones(3, dtype=np.float32))


def test_movielens_converts_without_copying() -> None:
    ml = synthetic_movielens(n_users=20, n_movies=15, n_ratings=200, seed=1)
    data = as_dataset(ml)
    assert isinstance(data, Dataset) and not data.implicit
    assert data.interactions.rating is ml.ratings.rating
    assert data.items.columns["title"] is ml.movies.title
    assert data.users.id_name == "user_id" and data.items.id_name == "movie_id"
    assert data.rating_scale == (1.0, 5.0) and data.schema is not None
    assert data.display == ("title", "genres", "year")
    assert data.with_interactions(data.interactions.take([0])).display == data.display
    assert as_interactions(ml.ratings).item_id is ml.ratings.movie_id
    with pytest.raises(ValidationError, match="Dataset or a MovieLens"):
        as_dataset("data.csv")  # type: ignore[arg-type]


def test_display_names_existing_item_columns() -> None:
    users, items = Table([1]), Table(["a"], {"price": [1.0]})
    clicks = Interactions(np.array([1]), np.array(["a"], dtype=object))
    assert Dataset(users, items, clicks, display=("price",)).implicit
    with pytest.raises(ValidationError, match="colour"):
        Dataset(users, items, clicks, display=("colour",))
