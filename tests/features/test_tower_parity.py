"""Every feature kind, alone and composed into random towers, computes the same in all engines.

Paddle's autograd is the reference: the numpy training engine's forward and gradients (by value
and per row with a dropout mask) and the numpy serving forward must match it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import paddle
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionrec.features import Categorical, Feature, Features, MultiCategorical, Numeric, Text
from fusionrec.features.kind import dense_grad
from fusionrec.model.towers import Tower
from fusionrec.serve.tower import ServingTower
from fusionrec.train.tower import TowerEngine

WORDS = ("the", "big", "red", "dog", "a", "cat", "of", "zoo")
PREFIX = "t."


def column_for(f: Feature, n: int, rng: np.random.Generator) -> list[Any]:
    """A raw column of ``n`` rows that ``f`` reads (missing values and empty rows included)."""
    if isinstance(f, Categorical):
        pool = ["x", "y", "z", "w"] if f.name.endswith("s") else [3, 1, 4, 15, 9]
        return [pool[i] for i in rng.integers(0, len(pool), n)]
    if isinstance(f, MultiCategorical):
        return [tuple(rng.choice(WORDS, int(rng.integers(0, 4)))) for _ in range(n)]
    if isinstance(f, Text):
        return [" ".join(rng.choice(WORDS, int(rng.integers(0, 7)))) for _ in range(n)]
    assert isinstance(f, Numeric)
    return [None if rng.random() < 0.3 else float(rng.normal(3, 2)) for _ in range(n)]


def build(features: Sequence[Feature], n: int, seed: int, hidden: int = 5) -> dict[str, Any]:
    """A Paddle tower with random weights, its inputs, and the numpy views of both."""
    rng = np.random.default_rng(seed)
    columns = {f.name: column_for(f, n, rng) for f in features}
    fit_rows = max(1, n - 2)  # the last rows may hold values the vocabulary never saw: UNK
    states = {f.name: f.fit(columns[f.name][:fit_rows]) for f in features}
    encoded = {f.name: f.encode(states[f.name], columns[f.name]) for f in features}
    paddle.seed(seed)
    tower = Tower(features, states, hidden, dropout=0.0)
    for p in tower.parameters():  # PAD rows and the numeric defaults too: nothing left at zero
        p.set_value(rng.normal(0, 0.5, p.shape).astype("float32"))
    weights = {PREFIX + k: v.numpy() for k, v in tower.state_dict().items()}
    return {"tower": tower, "states": states, "encoded": encoded, "weights": weights}


def paddle_outputs(tower: Tower, encoded: dict[str, Any], mask: np.ndarray | None) -> Any:
    inputs = [paddle.to_tensor(encoded[f.name]) for f in tower.features]
    if mask is None:
        return tower(*inputs)
    parts = [tower._sub_layers[f.name](x) for f, x in zip(tower.features, inputs, strict=True)]
    return paddle.tanh(tower.out(paddle.concat(parts, axis=1) * paddle.to_tensor(mask)))


def check_training_parity(features: Sequence[Feature], n: int, seed: int, dropout: bool) -> None:
    b = build(features, n, seed)
    tower: Tower = b["tower"]
    engine = TowerEngine(features, b["states"], PREFIX)
    rng = np.random.default_rng(seed + 1)
    mask = None
    if dropout:
        mask = ((rng.random((n, engine.width)) >= 0.3) / 0.7).astype(np.float32)
    y = paddle_outputs(tower, b["encoded"], mask)
    r = rng.normal(0, 1, y.shape).astype(np.float32)
    tower.clear_gradients()
    paddle.sum(y * paddle.to_tensor(r)).backward()

    xs = [f.gather(f.prepare(b["encoded"][f.name]), np.arange(n)) for f in features]
    tp = engine.forward(b["weights"], xs, mask)
    np.testing.assert_allclose(tp.y, y.numpy(), rtol=1e-5, atol=1e-5)
    grads = engine.backward(b["weights"], xs, tp, r * (1 - tp.y * tp.y))
    expected = {
        PREFIX + k: (p.grad.numpy() if p.grad is not None else np.zeros(p.shape, "float32"))
        for k, p in tower.named_parameters()
    }
    assert sorted(grads) == sorted(expected)
    for name, g in expected.items():
        got = dense_grad(grads[name])
        # float32 sums in a different order: their rounding follows the terms' size, so an
        # element that cancels to near zero is held to the array's scale, not its own
        scale = max(1.0, float(np.abs(g).max(initial=0.0)))
        np.testing.assert_allclose(got, g, rtol=1e-4, atol=1e-5 * scale, err_msg=name)


def check_serving_parity(features: Sequence[Feature], n: int, seed: int) -> None:
    b = build(features, n, seed)
    tower: Tower = b["tower"]
    tower.eval()
    with paddle.no_grad():
        expected = paddle_outputs(tower, b["encoded"], None).numpy()
    serving = ServingTower(features, b["weights"], PREFIX)
    got = serving.outputs(Features(b["encoded"]))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


KIND_CASES: dict[str, list[Feature]] = {
    "categorical_by_value": [Categorical("tags", dim=3, fc=4)],
    "categorical_id": [Categorical("item_id", dim=3, fc=4, id=True)],
    "categorical_min_count": [Categorical("tags", dim=2, fc=3, min_count=3)],
    "multi_sum": [MultiCategorical("genres", dim=4)],
    "multi_mean": [MultiCategorical("genres", dim=4, pooling="mean")],
    "text": [Text("title", dim=3, filters=4, window=3, max_words=5)],
    "text_window_5": [Text("title", dim=2, filters=3, window=5, max_words=4)],
    "numeric": [Numeric("year", fc=3)],
}


@pytest.mark.parametrize("dropout", [False, True], ids=["by_value", "per_row"])
@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_each_kind_trains_like_paddle_autograd(case: str, dropout: bool) -> None:
    check_training_parity(KIND_CASES[case], n=9, seed=3, dropout=dropout)


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_each_kind_serves_like_paddle_inference(case: str) -> None:
    check_serving_parity(KIND_CASES[case], n=9, seed=4)


@st.composite
def towers(draw: st.DrawFn) -> list[Feature]:
    """1-4 features of random kinds and sizes (at most one id)."""
    small = st.integers(1, 4)
    kinds = draw(
        st.lists(st.sampled_from(["cat", "id", "multi", "text", "num"]), min_size=1, max_size=4)
    )
    if kinds.count("id") > 1:
        kinds = [k for k in kinds if k != "id"] + ["id"]
    out: list[Feature] = []
    for i, kind in enumerate(kinds):
        name = f"f{i}"
        if kind in ("cat", "id"):
            out.append(Categorical(name, dim=draw(small), fc=draw(small), id=kind == "id"))
        elif kind == "multi":
            pooling = draw(st.sampled_from(["sum", "mean"]))
            out.append(MultiCategorical(name, dim=draw(small), pooling=pooling))
        elif kind == "text":
            window = draw(st.sampled_from([1, 3, 5]))
            out.append(Text(name, dim=draw(small), filters=draw(small), window=window))
        else:
            out.append(Numeric(name, fc=draw(small)))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features=towers(), n=st.integers(1, 12), seed=st.integers(0, 1000), dropout=st.booleans())
def test_random_towers_train_like_paddle_autograd(
    features: list[Feature], n: int, seed: int, dropout: bool
) -> None:
    check_training_parity(features, n, seed, dropout)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features=towers(), n=st.integers(1, 12), seed=st.integers(0, 1000))
def test_random_towers_serve_like_paddle_inference(
    features: list[Feature], n: int, seed: int
) -> None:
    check_serving_parity(features, n, seed)
