"""The numpy engine: gradients in row form train exactly as their dense tables would."""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle
import pytest

from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens
from fusionrec.features import FeatureEncoder
from fusionrec.features.kind import RowGrad, dense_grad
from fusionrec.model import FusionModel
from fusionrec.train.engine import FusedStep, NumpyOptimizer
from fusionrec.train.trainer import Trainer, WeightAverage, _Encoded

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("reference", {}),  # rows only: SGD without weight decay
    "sgd_decay": ("reference", {"weight_decay": 1e-3}),  # the dense rule
    "adam_dropout": ("rating", {}),  # dense Adam, every feature per row
    "adam_by_value": ("rating", {"dropout": 0.0, "user_id_dropout": 0.0}),
    "lazy_adam": ("rating", {"lazy_adam": True}),
    "joint": ("default", {}),
}


def _tables(model: FusionModel) -> frozenset[str]:
    return frozenset(
        f"{name}.weight"
        for name, layer in model.named_sublayers()
        if isinstance(layer, paddle.nn.Embedding)
    )


@pytest.mark.parametrize("case", list(CASES))
def test_row_form_gradients_train_to_the_bit_as_their_dense_tables(
    tiny_data: MovieLens, case: str
) -> None:
    preset, overrides = CASES[case]
    config = ModelConfig.preset(preset, batch_size=64, **overrides)
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    trainer = Trainer(config, progress=False)
    trainer._encoder = encoder
    data = _Encoded(tiny_data, encoder)
    if config.objective != "rating":
        trainer._set_positives(data)
    names = [k for k, p in model.named_parameters() if not p.stop_gradient]
    tables = _tables(model) & set(names)
    runs = []
    for _ in range(2):
        weights = model.numpy_weights()
        runs.append(
            (
                weights,
                FusedStep(config, names, encoder),
                NumpyOptimizer(config, weights, names, tables),
            )
        )
    drop = np.random.default_rng(0).random(len(data)) < config.user_id_dropout
    order = np.random.default_rng(1).permutation(len(data))
    row_form = 0
    for begin in range(0, 6 * config.batch_size, config.batch_size):
        batch = trainer._batch(data, order[begin : begin + config.batch_size], drop)
        for i, (weights, step, optimizer) in enumerate(runs):
            _, grads = step.run(batch, weights)
            row_form += sum(isinstance(g, RowGrad) for g in grads.values())
            if i == 1:
                grads = {k: dense_grad(g) for k, g in grads.items()}
            optimizer.step(weights, grads)
    assert row_form > 0
    (rows_trained, *_), (dense_trained, *_) = runs
    for name in names:
        np.testing.assert_array_equal(rows_trained[name], dense_trained[name], err_msg=name)


def test_lazy_weight_average_matches_the_stepwise_one(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("rating")
    model = FusionModel(config, FeatureEncoder.fit(tiny_data))
    stepwise, lazy = WeightAverage(model, 0.95), WeightAverage(model, 0.95)
    weights = {k: v.copy() for k, v in stepwise.weights.items()}
    table = "user_tower.user_id.emb.weight"
    rng = np.random.default_rng(4)
    for _ in range(60):
        rows = rng.choice(len(weights[table]) // 2, 3, replace=False)  # half never changes
        lazy.catch_up(weights, {table: rows})
        for name, w in weights.items():  # the table at its rows, the rest everywhere
            if name == table:
                w[rows] += rng.normal(0, 0.1, w[rows].shape).astype(np.float32)
            else:
                w += rng.normal(0, 0.1, w.shape).astype(np.float32)
        stepwise.update(weights)
        lazy.update(weights, {table: rows})
    assert not np.allclose(lazy.weights[table], stepwise.weights[table], rtol=1e-3)  # behind
    lazy.settle(weights)
    for name in weights:
        if name == table:  # closed form against 60 float32 roundings: equal to a few ulps
            np.testing.assert_allclose(
                lazy.weights[name], stepwise.weights[name], rtol=2e-6, atol=2e-8
            )
        else:
            np.testing.assert_array_equal(lazy.weights[name], stepwise.weights[name])
