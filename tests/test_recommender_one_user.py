"""recommend() for one user takes a lean one-row path; it must answer as the batch path does.

``recommend(**features)`` encodes a new user's raw values straight into the user tower and
rates the hits as one row; ``recommend(user_id)`` does the same with a known user's stored
values; ``recommend_batch`` runs the general path over columns. Their results must be equal to
the last bit, and their errors the same, on every preset and on a schema with a feature of
every kind on the user side.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from fusionrec import FaissStore, FusionRecommender, ModelConfig
from fusionrec.data import MovieLens
from fusionrec.data.dataset import Dataset, Interactions, Table
from fusionrec.errors import FusionrecError
from fusionrec.features import Categorical, MultiCategorical, Numeric, Schema, Text
from fusionrec.stores import parse_filter


def fitted(data: MovieLens | Dataset, preset: str) -> FusionRecommender:
    rec = FusionRecommender(ModelConfig.preset(preset, epochs=1, seed=0), progress=False)
    rec.fit(data)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    return rec


def assert_same_answer(rec: FusionRecommender, features: dict[str, Any], **options: Any) -> None:
    """recommend(**features) and recommend_batch for the same user: equal results or errors."""
    columns = {name: [value] for name, value in features.items()}
    assert_same_results(
        lambda: rec.recommend_batch(users=columns, **options)[0],
        lambda: rec.recommend(**options, **features),
    )


def assert_same_known(rec: FusionRecommender, user_id: Any, **options: Any) -> None:
    """recommend(user_id) and recommend_batch([user_id]): equal results or errors."""
    assert_same_results(
        lambda: rec.recommend_batch([user_id], **options)[0],
        lambda: rec.recommend(user_id, **options),
    )


def assert_same_results(batch: Any, one: Any) -> None:
    """The batch call and the one-user call: equal results bit for bit, or the same error."""
    try:
        expected = batch()
    except FusionrecError as exc:
        with pytest.raises(type(exc)) as raised:
            one()
        assert str(raised.value) == str(exc)
        return
    got = one()
    assert got == expected
    for a, b in zip(got, expected, strict=True):  # bit for bit, and the same types
        assert type(a.item_id) is type(b.item_id)
        assert a.score.hex() == b.score.hex()
        assert (a.rating is None and b.rating is None) or a.rating.hex() == b.rating.hex()  # type: ignore[union-attr]


@pytest.mark.parametrize("preset", ["rating", "default", "retrieval", "reference"])
def test_one_new_user_matches_the_batch_path(small_data: MovieLens, preset: str) -> None:
    rec = fitted(small_data, preset)
    ages, genders = [1, 18, 25, 56, "35", 0], ["M", "F", "female", "X"]
    for age, gender, occupation in itertools.product(ages, genders, [0, 4, 20, "writer", 21]):
        assert_same_answer(rec, {"age": age, "gender": gender, "occupation": occupation}, k=7)
    assert_same_answer(rec, {"age": 25, "gender": "F"})  # demographics go together
    assert_same_answer(rec, {"age": 25, "gender": "F", "occupation": 4, "colour": "red"})
    where = parse_filter("year >= 1990")
    assert_same_answer(rec, {"age": 25, "gender": "F", "occupation": 4}, k=5, filter=where)
    assert_same_answer(rec, {"age": 45, "gender": "M", "occupation": 1}, k=10_000)


def every_kind_dataset(implicit: bool) -> Dataset:
    """Users with a feature of each kind (string ids), items with a few, random interactions."""
    rng = np.random.default_rng(0)
    n_users, n_items = 80, 50
    likes = [tuple(rng.choice(["a", "b", "c", "d"], int(rng.integers(0, 3)))) for _ in range(80)]
    users = Table(
        [f"u{i}" for i in range(n_users)],
        {
            "country": rng.choice(["DE", "FR", "US"], n_users).astype(object),
            "height": rng.normal(170, 10, n_users),
            "likes": likes,
            "bio": rng.choice(["likes red shoes", "a quiet reader", "runs"], n_users).astype(
                object
            ),
        },
        id_name="uid",
    )
    items = Table(
        [f"S{i}" for i in range(n_items)],
        {
            "cat": rng.choice(["x", "y"], n_items).astype(object),
            "price": rng.uniform(1, 50, n_items),
        },
        id_name="sku",
    )
    n = 1200
    interactions = Interactions(
        np.asarray(rng.choice(users.ids, n), dtype=object),
        np.asarray(rng.choice(items.ids, n), dtype=object),
        None if implicit else rng.integers(1, 6, n).astype(np.float32),
    )
    schema = Schema(
        user=(
            Categorical("uid", id=True, dim=4, fc=4),
            Categorical("country", dim=3, fc=3),
            Numeric("height", fc=3),
            MultiCategorical("likes", dim=3),
            Text("bio", dim=3, filters=3, max_words=4),
        ),
        item=(Categorical("sku", id=True, dim=4, fc=4), Categorical("cat", dim=3, fc=3)),
    )
    return Dataset(
        users,
        items,
        interactions,
        rating_scale=None if implicit else (1.0, 5.0),
        schema=schema,
        source="every kind",
        display=("cat", "price"),
    )


@pytest.mark.parametrize(
    ("preset", "implicit"), [("rating", False), ("default", False), ("retrieval", True)]
)
def test_one_new_user_of_every_feature_kind_matches_the_batch_path(
    preset: str, implicit: bool
) -> None:
    rec = fitted(every_kind_dataset(implicit), preset)
    countries = ["DE", "XX", None]
    heights = [150.0, 171, None, math.nan, "tall", math.inf]
    likes: list[Any] = [("a",), ["b", "zz"], [], None, "a"]
    bios = ["a quiet reader", "nothing known", None, ""]
    for country, height, liked, bio in itertools.product(countries, heights, likes, bios):
        assert_same_answer(rec, {"country": country, "height": height, "likes": liked, "bio": bio})
    assert_same_answer(rec, {"height": 165.5}, k=3)
    assert_same_answer(rec, {"likes": ["c"]}, k=3, filter=parse_filter("price < 20"))
    assert_same_answer(rec, {"shoe_size": 42})


@pytest.mark.parametrize("preset", ["rating", "default", "retrieval", "reference"])
def test_one_known_user_matches_the_batch_path(small_data: MovieLens, preset: str) -> None:
    rec = fitted(small_data, preset)
    for user_id in small_data.users.user_id[:25].tolist():
        assert_same_known(rec, user_id, k=7)
        assert_same_known(rec, user_id, k=7, exclude_seen=False)
    user = int(small_data.users.user_id[3])
    assert_same_known(rec, user, k=5, filter=parse_filter("year >= 1990"))
    assert_same_known(rec, user, k=10_000)  # every item left after the seen ones
    assert_same_known(rec, np.int64(user))
    for bad in (10**9, "nobody", 2.5, True):
        assert_same_known(rec, bad)


@pytest.mark.parametrize(
    ("preset", "implicit"), [("rating", False), ("default", False), ("retrieval", True)]
)
def test_one_known_user_of_every_feature_kind_matches_the_batch_path(
    preset: str, implicit: bool
) -> None:
    data = every_kind_dataset(implicit)
    rec = fitted(data, preset)
    for user_id in data.users.ids.tolist():
        assert_same_known(rec, user_id, k=6)
    assert_same_known(rec, "u3", k=4, filter=parse_filter("price < 20"))
    assert_same_known(rec, "u-unknown")
    assert_same_known(rec, 3)
