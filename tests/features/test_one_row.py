"""The one-row serving forms give the batch forms' exact floats and errors.

Serving one new user encodes each raw value with ``Feature.encode_one`` and runs the tower's
``output_one``; both must equal row 0 of ``encode`` and ``outputs`` on a one-row column bit for
bit, so that ``recommend()`` for one user and ``recommend_batch()`` agree exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from test_tower_parity import KIND_CASES, build, column_for

from fusionrec.errors import ValidationError
from fusionrec.features import Categorical, Feature, Features, MultiCategorical, Numeric, Text
from fusionrec.serve.tower import ServingTower

#: raw values beyond what column_for draws: missing, unknown, booleans, odd numbers
EDGE_VALUES: dict[type[Feature], list[Any]] = {
    Categorical: [None, "x", 3, 3.0, "unseen", 10**30, True, False, np.int64(4), np.str_("y")],
    MultiCategorical: [None, (), ["the"], ("zzz", "the", "the"), ["a", None]],
    Text: [None, "", "The BIG red dog of the zoo", "unseen words", 42],
    Numeric: [None, 0, 0.0, 3, -2.5, 2**60, float("nan"), np.float64(1.5), True, "7", np.int32(2)],
}
#: values each kind refuses, with the batch's message
BAD_VALUES: dict[type[Feature], list[Any]] = {
    Categorical: [1.5, b"x", object()],
    MultiCategorical: ["not a list", 3],
    Numeric: ["tall", float("inf"), -math.inf, "inf"],
}


def same(a: Any, b: Any) -> bool:
    """Bit-identical values of one dtype (NaN equal to NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def kind_of(f: Feature) -> type[Feature]:
    return next(k for k in EDGE_VALUES if isinstance(f, k))


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_encode_one_is_row_zero_of_encode(case: str) -> None:
    features = KIND_CASES[case]
    b = build(features, n=12, seed=5)
    rng = np.random.default_rng(0)
    for f in features:
        state = b["states"][f.name]
        for value in [*column_for(f, 12, rng), *EDGE_VALUES[kind_of(f)]]:
            try:
                expected = f.encode(state, [value])[0]
            except ValidationError as exc:
                with pytest.raises(ValidationError) as one:
                    f.encode_one(state, value)
                assert str(one.value) == str(exc)
                continue
            assert same(f.encode_one(state, value), expected), (f, value)


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_encode_one_refuses_what_encode_refuses(case: str) -> None:
    (f,) = KIND_CASES[case]
    state = build([f], n=12, seed=5)["states"][f.name]
    for value in BAD_VALUES.get(kind_of(f), []):
        with pytest.raises(ValidationError) as batch:
            f.encode(state, [value])
        with pytest.raises(ValidationError) as one:
            f.encode_one(state, value)
        assert str(one.value) == str(batch.value)


def test_numeric_missing_value_encodes_as_missing() -> None:
    f = Numeric("year", missing=0)
    state = f.fit([1990, 2000, 0])
    assert math.isnan(f.encode_one(state, 0)) and math.isnan(f.encode_one(state, 0.0))
    assert same(f.encode_one(state, 1995), f.encode(state, [1995])[0])


ALL_KINDS = [
    Categorical("user_id", dim=3, fc=4, id=True),
    Categorical("tags", dim=2, fc=3),
    Numeric("height", fc=2),
    MultiCategorical("genres", dim=3, pooling="mean"),
    Text("title", dim=2, filters=3, window=3, max_words=4),
    Numeric("year", fc=3, missing=0),
]


@pytest.mark.parametrize(
    "features",
    [ALL_KINDS, ALL_KINDS[:1], ALL_KINDS[1:2], ALL_KINDS[2:3], ALL_KINDS[3:5], ALL_KINDS[::-1]],
    ids=["all", "id_only", "categorical_only", "numeric_only", "multi_text", "reversed"],
)
def test_output_one_is_row_zero_of_outputs(features: list[Feature]) -> None:
    b = build(features, n=10, seed=7)
    serving = ServingTower(features, b["weights"], "t.")
    rng = np.random.default_rng(1)
    columns = {f.name: column_for(f, 10, rng) + EDGE_VALUES[kind_of(f)][:4] for f in features}
    for row in range(14):
        values = {f.name: columns[f.name][row] for f in features}
        states = b["states"]
        batch = Features({f.name: f.encode(states[f.name], [values[f.name]]) for f in features})
        one = serving.output_one([f.encode_one(states[f.name], values[f.name]) for f in features])
        assert same(one, serving.outputs(batch)[0])
    table_row = serving.output_one([f.encode_one(b["states"][f.name], None) for f in features])
    again = serving.output_one([f.encode_one(b["states"][f.name], None) for f in features])
    assert same(table_row, again)  # the one-row pass never writes into a feature's table
