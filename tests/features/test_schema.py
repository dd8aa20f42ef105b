"""Schema, feature specs and encoder states: validation, encoding rules and JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusionrec.errors import ValidationError
from fusionrec.features import (
    PAD,
    UNK,
    Categorical,
    FeatureEncoder,
    Features,
    MultiCategorical,
    Numeric,
    Schema,
    Text,
    Vocabulary,
    movielens_schema,
)
from fusionrec.features.schema import feature_from_dict

SCHEMA = Schema(
    user=(Categorical("uid", id=True), Categorical("zip", min_count=2), Numeric("age")),
    item=(MultiCategorical("tags", pooling="mean"), Text("name", window=1, max_words=2)),
)
USERS = {"uid": [10, 20, 30], "zip": ["a", "a", "b"], "age": [20.0, None, 40.0]}
ITEMS = {"tags": [("x", "y"), (), ("y",)], "name": ["Big Red Dog", "", "dog"]}


def test_encoder_rules_and_json_round_trip() -> None:
    enc = FeatureEncoder.fit_columns(SCHEMA, USERS, ITEMS, extra={"tags": ["z"]})
    users = enc.encode("user", {"uid": [20, 99, 10], "zip": ["a", "b", "c"], "age": [30, None, 50]})
    np.testing.assert_array_equal(users["uid"], [3, UNK, 2])
    np.testing.assert_array_equal(users["zip"], [2, UNK, UNK])  # "b" seen once < min_count
    np.testing.assert_allclose(users["age"][[0, 2]], [0.0, 2.0], atol=1e-6)  # (x - 30) / 10
    assert np.isnan(users["age"][1])
    items = enc.encode("item", ITEMS)
    assert enc.states["item"]["tags"].values == ("x", "y", "z")
    np.testing.assert_array_equal(items["tags"], [[2, 3], [PAD, PAD], [3, PAD]])
    np.testing.assert_array_equal(items["name"], [[2, 4], [PAD, PAD], [3, PAD]])  # cut at 2
    again = FeatureEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert again == enc and again.schema == SCHEMA
    assert enc.input_rows("user") == {"uid": 5, "zip": 3, "age": None}


def test_features_take_and_lengths() -> None:
    f = Features({"a": np.arange(3), "b": np.zeros((3, 2))})
    assert len(f) == 3 and len(f.take([2])) == 1
    with pytest.raises(ValidationError, match="differ in length"):
        Features({"a": np.arange(3), "b": np.zeros(2)})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Categorical("bad name"), "identifier"),
        (lambda: Categorical("out"), "reserved"),
        (lambda: Categorical("c", dim=0), "dim must be an int >= 1"),
        (lambda: Text("t", window=2), "window must be odd"),
        (lambda: MultiCategorical("m", pooling="max"), "pooling"),
        (lambda: Schema(user=(), item=(Numeric("n"),)), "at least one feature"),
        (
            lambda: Schema(
                user=(Categorical("a", id=True), Categorical("b", id=True)), item=SCHEMA.item
            ),
            "several ids",
        ),
        (lambda: Schema(user=(Numeric("a"), Numeric("a")), item=SCHEMA.item), "repeated: a"),
        (lambda: feature_from_dict({"kind": "image"}), "unknown kind"),
        (lambda: feature_from_dict({"kind": "numeric", "name": "n", "dim": 3}), "unknown field"),
        (lambda: Schema.from_dict({"schema_version": 0}), "schema version 0"),
        (lambda: Vocabulary([1, "a"], "v"), "mixes ints and strings"),
        (lambda: Vocabulary([1.5], "v"), "not an int or str"),
    ],
)
def test_invalid_specs_name_the_problem(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


def test_a_side_may_be_only_its_id_or_have_none() -> None:
    schema = Schema(user=(Categorical("uid", id=True),), item=(Text("name"),))
    assert schema.id_of("user") is not None and schema.id_of("item") is None
    assert Schema.from_dict(schema.to_dict()) == schema


def test_movielens_schema_has_the_books_sizes() -> None:
    schema = movielens_schema(user_extra=[Categorical("zip_code", prefix=1)])
    sizes = [(f.name, f.dim, f.width) for f in schema.user if isinstance(f, Categorical)]
    assert sizes == [
        ("user_id", 32, 32),
        ("gender", 16, 16),
        ("age", 16, 16),
        ("occupation", 16, 16),
        ("zip_code", 16, 16),
    ]
    movie_id, genres, title = schema.item
    assert (movie_id.width, genres.width, title.width) == (32, 32, 32)
    assert isinstance(title, Text) and (title.dim, title.window, title.max_words) == (32, 3, 15)
    assert schema.id_of("user") == schema.user[0] and schema.id_of("item") == movie_id
