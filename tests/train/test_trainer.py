"""Trainer: learns planted structure, repeats with a seed, stops early, rejects bad input."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from fusionrec import blocks
from fusionrec.config import ModelConfig
from fusionrec.data import Dataset, Interactions, MovieLens, Ratings, random_split
from fusionrec.data.dataset import as_dataset
from fusionrec.errors import ConfigError, ValidationError
from fusionrec.eval.metrics import evaluate_topn, interaction_matrix, relevant_from
from fusionrec.features import FeatureEncoder
from fusionrec.features.kind import dense_grad
from fusionrec.model import FusionModel
from fusionrec.train.engine import Batch
from fusionrec.train.trainer import History, Trainer, WeightAverage, _Encoded, _RankingCheck


def _fit(
    data: MovieLens, config: ModelConfig, validation: MovieLens | None = None
) -> tuple[FusionModel, FeatureEncoder, History]:
    encoder = FeatureEncoder.fit(data)
    model = FusionModel(config, encoder)
    history = Trainer(config, progress=False).fit(model, encoder, data, validation)
    return model, encoder, history


def _test_rmse(
    model: FusionModel, encoder: FeatureEncoder, data: MovieLens, test: MovieLens
) -> float:
    uf, mf = encoder.encode_users(data.users), encoder.encode_movies(data.movies)
    urow = np.searchsorted(data.users.user_id, test.ratings.user_id)
    mrow = np.searchsorted(data.movies.movie_id, test.ratings.movie_id)
    pred = model.predict(uf, mf, urow, mrow)
    return float(np.sqrt(np.mean((pred - test.ratings.rating) ** 2)))


@pytest.mark.parametrize("preset", ["reference", "rating"])
def test_learns_planted_structure(small_data: MovieLens, preset: str) -> None:
    train, test = random_split(small_data, test_fraction=0.1, seed=0)
    config = ModelConfig.preset(preset, epochs=6, seed=1)
    model, encoder, history = _fit(train, config)
    baseline = float(np.sqrt(np.mean((test.ratings.rating - train.ratings.rating.mean()) ** 2)))
    got = _test_rmse(model, encoder, train, test)
    assert got < 0.85 * baseline, (got, baseline)
    assert history.epochs[0].train_loss > history.epochs[-1].train_loss
    assert 1 <= history.best_epoch <= len(history.epochs)
    assert history.best_val_rmse == min(e.val_rmse for e in history.epochs)


def test_same_seed_same_history(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("rating", epochs=2, seed=5, batch_size=64)
    _, _, a = _fit(tiny_data, config)
    _, _, b = _fit(tiny_data, config)
    assert [(e.train_loss, e.val_rmse) for e in a.epochs] == [
        (e.train_loss, e.val_rmse) for e in b.epochs
    ]
    _, _, c = _fit(tiny_data, config.replace(seed=6))
    assert [e.train_loss for e in c.epochs] != [e.train_loss for e in a.epochs]


def test_early_stopping_restores_best_weights(tiny_data: MovieLens) -> None:
    # a learning rate far too high makes validation RMSE worsen after the first epochs
    config = ModelConfig.preset(
        "rating", epochs=12, patience=2, learning_rate=0.05, batch_size=32, refit=False
    )
    train, val = random_split(tiny_data, test_fraction=0.2, seed=0)
    model, encoder, history = _fit(train, config, val)
    assert history.stopped_early and len(history.epochs) < 12
    assert len(history.epochs) - history.best_epoch == 2
    assert _test_rmse(model, encoder, train, val) == pytest.approx(history.best_val_rmse, abs=1e-4)


def test_progress_bar_can_be_on(tiny_data: MovieLens, capsys: pytest.CaptureFixture[str]) -> None:
    config = ModelConfig.preset("reference", epochs=1)
    encoder = FeatureEncoder.fit(tiny_data)
    history = Trainer(config, progress=True).fit(FusionModel(config, encoder), encoder, tiny_data)
    assert len(history.epochs) == 1 and history.epochs[0].samples_per_second > 0
    assert history.to_dict()["n_train"] == history.n_train


def _with(data: MovieLens, **changes: np.ndarray) -> MovieLens:
    return data.with_ratings(dataclasses.replace(data.ratings, **changes))


def test_bad_training_data(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("reference", epochs=1)
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    trainer = Trainer(config, progress=False)
    empty = tiny_data.with_ratings(tiny_data.ratings.take(np.zeros(0, dtype=np.int64)))
    with pytest.raises(ValidationError, match="no ratings"):
        trainer.fit(model, encoder, empty)
    r = tiny_data.ratings.rating.copy()
    r[3] = 7.0
    with pytest.raises(ValidationError, match="outside the configured scale"):
        trainer.fit(model, encoder, _with(tiny_data, rating=r))
    with pytest.raises(ValidationError, match="dtype"):
        trainer.fit(model, encoder, _with(tiny_data, user_id=tiny_data.ratings.user_id.astype(str)))
    orphan = tiny_data.ratings.movie_id.copy()
    orphan[0] = 10**6
    with pytest.raises(ValidationError, match="missing"):
        trainer.fit(model, encoder, _with(tiny_data, movie_id=orphan))
    with pytest.raises(ValidationError, match="MovieLens"):
        trainer.fit(model, encoder, tiny_data.ratings)  # type: ignore[arg-type]
    assert isinstance(tiny_data.ratings, Ratings)


_GRADIENT_CASES = {
    "reference": ("reference", {}),
    "rating": ("rating", {}),
    "biased": ("rating", {"use_biases": True, "learn_scale": True}),
    "retrieval": ("retrieval", {}),
    "retrieval_biased": ("retrieval", {"use_biases": True, "learn_scale": True}),
    "retrieval_plain": ("retrieval", {"logq_correction": False, "mask_accidental_hits": False}),
    "joint_liked": ("default", {"positives": "liked", "joint_weight": 0.7}),
    "joint_biased": ("default", {"use_biases": True, "learn_scale": True, "temperature": 0.3}),
    "joint_shared": ("default", {"retrieval_hidden": 0}),
    "joint_split_plain": ("default", {"retrieval_hidden": 7, "use_biases": False}),
    # 150 rows in softmax blocks of 64, 64 and 22
    "retrieval_blocks": ("retrieval", {"softmax_block": 64}),
    "retrieval_biased_blocks": (
        "retrieval",
        {"use_biases": True, "learn_scale": True, "softmax_block": 64},
    ),
    "joint_blocks": ("default", {"softmax_block": 64}),
    "joint_liked_blocks": ("default", {"positives": "liked", "softmax_block": 32}),
}


def _batch_of(data: MovieLens | Dataset, encoder: FeatureEncoder, config: ModelConfig) -> Batch:
    """150 ratings of ``data`` as one training batch, every third with the unknown user id."""
    trainer = Trainer(config, progress=False)
    trainer._encoder = encoder
    encoded = _Encoded(data, encoder)
    if config.objective != "rating":
        trainer._set_positives(encoded)
    drop = np.zeros(len(encoded), dtype=bool)
    drop[::3] = True
    return trainer._batch(encoded, np.arange(0, 300, 2), drop)


@pytest.mark.parametrize("case", list(_GRADIENT_CASES))
def test_numpy_engine_matches_paddle_autograd(tiny_data: MovieLens, case: str) -> None:
    _check_engines_agree(tiny_data, *_GRADIENT_CASES[case])


def _weighted(data: MovieLens, ratings: bool) -> Dataset:
    """``data`` with weights 0.5 .. 9.5 (and without its ratings unless ``ratings``)."""
    d = Dataset.from_movielens(data)
    r = d.interactions
    weight = np.random.default_rng(2).uniform(0.5, 9.5, len(r)).astype(np.float32)
    return d.with_interactions(
        Interactions(r.user_id, r.item_id, r.rating if ratings else None, weight, r.timestamp)
    )


@pytest.mark.parametrize(
    "case", ["reference", "biased", "retrieval_biased", "joint_liked", "joint_liked_blocks"]
)
def test_numpy_engine_matches_paddle_autograd_with_weights(tiny_data: MovieLens, case: str) -> None:
    _check_engines_agree(_weighted(tiny_data, ratings=True), *_GRADIENT_CASES[case])


@pytest.mark.parametrize(
    "case", ["retrieval", "retrieval_biased", "retrieval_plain", "retrieval_blocks"]
)
def test_numpy_engine_matches_paddle_autograd_on_weighted_clicks(
    tiny_data: MovieLens, case: str
) -> None:
    _check_engines_agree(_weighted(tiny_data, ratings=False), *_GRADIENT_CASES[case])


def _check_engines_agree(data: MovieLens | Dataset, base: str, extra: dict[str, Any]) -> None:
    """The fused numpy step's loss and gradients equal Paddle autograd's on one batch."""
    import paddle

    from fusionrec.train.engine import FusedStep

    config = ModelConfig.preset(base, dropout=0.0, user_id_dropout=0.0, **extra)
    encoder = FeatureEncoder.fit(data)
    model = FusionModel(config, encoder)
    if config.use_biases:  # non-zero biases so their gradients flow through everything
        for layer in (model.user_bias, model.item_bias):
            w = layer.weight
            noise = np.random.default_rng(1).normal(0, 0.3, w.shape).astype("float32")
            w.set_value(paddle.to_tensor(noise))
    batch = _batch_of(data, encoder, config)
    assert (batch.weight is not None) == isinstance(data, Dataset)
    assert (batch.y is None) == (isinstance(data, Dataset) and data.implicit)
    named = dict(model.named_parameters())
    names = [k for k, p in named.items() if not p.stop_gradient]

    reference = Trainer(config, progress=False)._autograd_loss(model, batch)
    reference.backward()
    loss, grads = FusedStep(config, names, encoder).run(batch, model.numpy_weights())
    assert loss == pytest.approx(float(reference), rel=1e-5)
    for k in names:
        grad = named[k].grad  # None: the objective does not use it (user bias in retrieval)
        got = dense_grad(grads[k])
        expected = grad.numpy() if grad is not None else np.zeros_like(got)
        np.testing.assert_allclose(got, expected, atol=2e-6, rtol=1e-4, err_msg=k)


@pytest.mark.parametrize("preset", ["retrieval", "default"])
def test_softmax_blocks_score_each_row_against_its_own_block_only(
    tiny_data: MovieLens, preset: str
) -> None:
    from fusionrec.train.engine import FusedStep

    encoder = FeatureEncoder.fit(tiny_data)

    def loss_of(block: int) -> float:
        config = ModelConfig.preset(
            preset, dropout=0.0, user_id_dropout=0.0, softmax_block=block, joint_weight=1.0
        )
        model = FusionModel(config, encoder)
        names = [k for k, p in model.named_parameters() if not p.stop_gradient]
        batch = _batch_of(tiny_data, encoder, config)  # 150 rows
        return FusedStep(config, names, encoder).run(batch, model.numpy_weights())[0]

    whole = loss_of(0)
    assert loss_of(150) == whole  # one block of every row is the whole batch
    # fewer columns per row: each row's logsumexp runs over a subset of its terms
    assert loss_of(64) < loss_of(100) < whole


@pytest.mark.parametrize("tower", ["user", "item"])
def test_towers_by_value_match_the_per_row_pass(tiny_data: MovieLens, tower: str) -> None:
    from fusionrec.train.engine import FusedStep

    config = ModelConfig.preset("reference")
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    batch = _batch_of(tiny_data, encoder, config)
    names = [k for k, p in model.named_parameters() if not p.stop_gradient]
    engine = getattr(FusedStep(config, names, encoder), tower)
    xs = batch.user_inputs if tower == "user" else batch.item_inputs
    rows = batch.n_users if tower == "user" else batch.n_items
    w = model.numpy_weights()
    ones = np.ones((rows, engine.width), dtype=np.float32)  # dropout that keeps everything
    by_value, per_row = engine.forward(w, xs, None), engine.forward(w, xs, ones)
    assert by_value.index is not None and per_row.index is None
    np.testing.assert_allclose(by_value.y, per_row.y, atol=1e-6)
    dz = np.random.default_rng(3).normal(size=by_value.y.shape).astype(np.float32)
    want, got = engine.backward(w, xs, per_row, dz), engine.backward(w, xs, by_value, dz)
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(
            dense_grad(got[k]), dense_grad(want[k]), atol=1e-5, rtol=1e-4, err_msg=k
        )


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_numpy_optimizer_matches_paddle(optimizer: str) -> None:
    import paddle

    from fusionrec.train.engine import NumpyOptimizer

    config = ModelConfig(optimizer=optimizer, learning_rate=0.01, weight_decay=0.1)
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3)]
    param = paddle.create_parameter([4, 3], "float32")
    param.set_value(start)
    opt = Trainer(config)._optimizer_for([param])
    weights = {"w": start.copy()}
    mine = NumpyOptimizer(config, weights, ["w"])
    for g in grads:
        param.grad = paddle.to_tensor(g)
        opt.step()
        opt.clear_grad()
        mine.step(weights, {"w": g})
    np.testing.assert_allclose(weights["w"], param.numpy(), rtol=1e-5, atol=1e-6)


def test_paddle_engine_trains_too(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("rating", epochs=1, seed=2)
    encoder = FeatureEncoder.fit(tiny_data)
    history = Trainer(config, progress=False, engine="paddle").fit(
        FusionModel(config, encoder), encoder, tiny_data
    )
    assert np.isfinite(history.best_val_rmse)
    with pytest.raises(ValidationError, match="engine"):
        Trainer(config, engine="cuda")


def test_blas_threads_change_speed_not_results(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("reference", epochs=2, seed=4)
    encoder = FeatureEncoder.fit(tiny_data)
    histories = []
    for threads in (1, 2):
        model = FusionModel(config, encoder)
        histories.append(
            Trainer(config, progress=False, threads=threads).fit(model, encoder, tiny_data)
        )
    one, two = ([e.val_rmse for e in h.epochs] for h in histories)
    np.testing.assert_allclose(one, two, rtol=1e-4)
    for bad in (0, 1.5, True):
        with pytest.raises(ValidationError, match="threads"):
            Trainer(config, threads=bad)  # type: ignore[arg-type]


def test_weight_average_is_the_warmed_up_moving_average(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("rating", epochs=1)
    model = FusionModel(config, FeatureEncoder.fit(tiny_data))
    average = WeightAverage(model, decay=0.5)
    name = next(iter(average.weights))
    start = average.weights[name].copy()
    ones = {k: np.ones_like(v) for k, v in average.weights.items()}
    average.update(ones)  # step 1: decay min(0.5, 2/11)
    average.update({k: 2 * v for k, v in ones.items()})  # step 2: decay min(0.5, 3/12)
    d1, d2 = 2 / 11, 3 / 12
    want = (start * d1 + (1 - d1)) * d2 + (1 - d2) * 2
    np.testing.assert_allclose(average.weights[name], want, rtol=1e-6)


@pytest.mark.parametrize("engine", ["numpy", "paddle"])
def test_weight_average_changes_the_kept_weights_not_the_training(
    tiny_data: MovieLens, engine: str
) -> None:
    config = ModelConfig.preset("rating", epochs=3, patience=0, seed=3, batch_size=64, refit=False)
    train, val = random_split(tiny_data, test_fraction=0.2, seed=0)
    runs = []
    for decay in (0.0, 0.9):
        encoder = FeatureEncoder.fit(train)
        model = FusionModel(config.replace(weight_average=decay), encoder)
        history = Trainer(model.config, progress=False, engine=engine).fit(
            model, encoder, train, val
        )
        runs.append((model, encoder, history))
    (_, _, plain), (model, encoder, averaged) = runs
    # the optimizer follows the same path; only the evaluated (and kept) weights differ
    assert [e.train_loss for e in averaged.epochs] == pytest.approx(
        [e.train_loss for e in plain.epochs], rel=1e-5
    )
    assert [e.val_rmse for e in averaged.epochs] != [e.val_rmse for e in plain.epochs]
    assert _test_rmse(model, encoder, train, val) == pytest.approx(averaged.best_val_rmse, abs=1e-4)


def test_weight_average_must_be_a_decay() -> None:
    with pytest.raises(ConfigError, match="weight_average"):
        ModelConfig(weight_average=1.0)


def test_refit_trains_again_on_training_and_validation(tiny_data: MovieLens) -> None:
    # 64-row steps at the 256-row preset's lr: the schedule this tiny set's check was set on
    config = ModelConfig.preset(
        "rating",
        epochs=4,
        patience=0,
        seed=4,
        batch_size=64,
        learning_rate=1e-3,
        weight_average=0.0,
    )
    train, val = random_split(tiny_data, test_fraction=0.2, seed=0)
    plain_model, encoder, plain = _fit(train, config.replace(refit=False), val)
    model, _, history = _fit(train, config.replace(refit=True), val)
    # the first pass is the plain run; the refit repeats its kept number of epochs on all data
    assert [e.train_loss for e in history.epochs] == [e.train_loss for e in plain.epochs]
    assert len(history.refit_epochs) == history.best_epoch
    assert history.n_refit == len(train.ratings) + len(val.ratings)
    assert all(np.isnan(e.val_rmse) for e in history.refit_epochs)
    assert history.to_dict()["n_refit"] == history.n_refit
    refit_rmse = _test_rmse(model, encoder, train, val)
    assert refit_rmse < _test_rmse(plain_model, encoder, train, val)  # it has seen val now
    again, _, _ = _fit(train, config.replace(refit=True), val)
    assert _test_rmse(again, encoder, train, val) == refit_rmse


def test_warm_refit_epochs_continues_from_the_kept_epoch(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("rating", epochs=6, patience=0, seed=4, batch_size=64)
    train, val = random_split(tiny_data, test_fraction=0.2, seed=0)
    plain_model, encoder, plain = _fit(train, config.replace(refit=False), val)
    model, _, history = _fit(train, config.replace(warm_refit_epochs=2), val)
    assert [e.train_loss for e in history.epochs] == [e.train_loss for e in plain.epochs]
    assert len(history.refit_epochs) == 2 != history.best_epoch
    assert history.n_refit == len(train.ratings) + len(val.ratings)
    # onward from the kept epoch, not from the initial weights: its loss starts where that
    # epoch's ended, far below the first epoch's
    kept = history.epochs[history.best_epoch - 1].train_loss
    first = history.refit_epochs[0].train_loss
    assert abs(first - kept) < 0.5 * (history.epochs[0].train_loss - kept)
    _, _, restarted = _fit(train, config.replace(warm_refit_epochs=0), val)
    assert restarted.refit_epochs[0].train_loss > first
    warm_rmse = _test_rmse(model, encoder, train, val)
    assert warm_rmse < _test_rmse(plain_model, encoder, train, val)  # it has seen val now
    again, _, _ = _fit(train, config.replace(warm_refit_epochs=2), val)
    assert _test_rmse(again, encoder, train, val) == warm_rmse
    _, _, short = _fit(train, config.replace(epochs=1, warm_refit_epochs=3), val)
    assert len(short.refit_epochs) == 1  # never more than the kept epoch count


def test_warm_refit_epochs_keeps_adam_and_the_average(tiny_data: MovieLens) -> None:
    """The continuing refit resumes the optimizer's step count and moments and the average."""
    config = ModelConfig.preset("rating", epochs=3, patience=0, seed=1, batch_size=64)
    train, val = random_split(tiny_data, test_fraction=0.2, seed=0)
    encoder = FeatureEncoder.fit(train)
    model = FusionModel(config.replace(warm_refit_epochs=1), encoder)
    trainer = Trainer(config.replace(warm_refit_epochs=1), progress=False)
    history = trainer.fit(model, encoder, train, val)
    steps = -(-history.n_train // 64) * history.best_epoch + -(-history.n_refit // 64)
    _, optimizer, _ = trainer._numpy_state(model)
    assert optimizer.t == steps
    assert trainer._average is not None and trainer._average.steps == steps
    assert trainer._kept is None  # the snapshot is dropped once used


def test_max_samples_caps_the_early_stopping_run_in_whole_epochs(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("rating", epochs=6, patience=0, batch_size=64, refit=False)
    train, val = random_split(tiny_data, test_fraction=0.2, seed=0)
    n = len(train.ratings)
    _, _, full = _fit(train, config, val)
    _, _, capped = _fit(train, config.replace(max_samples=2 * n + n // 2), val)
    _, _, tiny = _fit(train, config.replace(max_samples=1), val)
    assert len(full.epochs) == 6
    assert [e.train_loss for e in capped.epochs] == [e.train_loss for e in full.epochs[:2]]
    assert len(tiny.epochs) == 1
    with pytest.raises(ConfigError, match="max_samples"):
        ModelConfig(max_samples=-1)


def test_warm_refit_epochs_is_checked() -> None:
    with pytest.raises(ConfigError, match="warm_refit_epochs"):
        ModelConfig(warm_refit_epochs=-1)
    with pytest.raises(ValidationError, match="numpy engine"):
        Trainer(ModelConfig(warm_refit_epochs=2), engine="paddle")
    Trainer(ModelConfig(warm_refit_epochs=2, refit=False), engine="paddle")


def test_progress_prints_one_flushed_line_per_epoch_and_refit_epoch(
    tiny_data: MovieLens, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ModelConfig.preset("default", epochs=2, patience=0, batch_size=64)
    encoder = FeatureEncoder.fit(tiny_data)
    history = Trainer(config, progress=True).fit(FusionModel(config, encoder), encoder, tiny_data)
    lines = capsys.readouterr().err.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    refits = [line for line in lines if line.startswith("refit epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert len(refits) == len(history.refit_epochs) == history.best_epoch
    first = history.epochs[0]
    assert f"loss {first.train_loss:.4f}, validation RMSE {first.val_rmse:.4f}" in epochs[0]
    assert all("samples/s, elapsed " in line for line in epochs + refits)
    assert "validation" not in refits[0]


def test_no_progress_prints_nothing(
    tiny_data: MovieLens, capsys: pytest.CaptureFixture[str]
) -> None:
    _fit(tiny_data, ModelConfig.preset("rating", epochs=1))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_lazy_adam_leaves_untouched_embedding_rows_and_updates_dense_weights() -> None:
    from fusionrec.train.engine import NumpyOptimizer

    rng = np.random.default_rng(0)
    weights = {n: rng.normal(size=(4, 3)).astype(np.float32) for n in ("emb", "fc")}
    start = {n: w.copy() for n, w in weights.items()}
    grads = {n: rng.normal(size=(4, 3)).astype(np.float32) for n in ("emb", "fc")}
    for g in grads.values():
        g[2] = 0.0
    config = ModelConfig(weight_decay=0.1, lazy_adam=True)
    NumpyOptimizer(config, weights, ["emb", "fc"], frozenset({"emb"})).step(weights, grads)
    np.testing.assert_array_equal(weights["emb"][2], start["emb"][2])
    assert not np.array_equal(weights["fc"][2], start["fc"][2])  # dense Adam: L2 still moves it
    assert not np.array_equal(weights["emb"][[0, 1, 3]], start["emb"][[0, 1, 3]])
    dense = {n: w.copy() for n, w in start.items()}
    NumpyOptimizer(config.replace(lazy_adam=False), dense, ["emb", "fc"], frozenset({"emb"})).step(
        dense, grads
    )
    np.testing.assert_array_equal(dense["fc"], weights["fc"])
    assert not np.array_equal(dense["emb"][2], start["emb"][2])


def test_lazy_adam_reaches_the_embedding_tables_of_a_fit(tiny_data: MovieLens) -> None:
    config = ModelConfig.preset("default", epochs=1, lazy_adam=True)
    encoder = FeatureEncoder.fit(tiny_data)
    trainer = Trainer(config, progress=False)
    history = trainer.fit(FusionModel(config, encoder), encoder, tiny_data)
    assert np.isfinite(history.best_val_rmse)
    (_, optimizer), *_ = trainer._numpy.values()
    assert any("user_bias" in n for n in optimizer.lazy)
    assert sum(n.endswith("emb.weight") for n in optimizer.lazy) >= 4  # ids, genres, title...
    with pytest.raises(ValidationError, match="numpy engine"):
        Trainer(config, engine="paddle")
    with pytest.raises(ConfigError, match="lazy_adam"):
        ModelConfig.preset("reference", lazy_adam=True)


@pytest.mark.parametrize(("preset", "select_on"), [("default", "rmse"), ("retrieval", "ndcg")])
def test_validation_in_row_blocks_keeps_the_history_and_weights(
    small_data: MovieLens, monkeypatch: pytest.MonkeyPatch, preset: str, select_on: str
) -> None:
    """Validation RMSE, validation NDCG and the calibration run their towers, pair gathers
    and score matrices in blocks; tiny blocks give the figures and weights of one pass."""
    config = ModelConfig.preset(
        preset, epochs=2, patience=0, refit=False, user_hidden=16, movie_hidden=16
    )
    assert config.early_stopping_metric == select_on
    model, _, history = _fit(small_data, config)
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 64)
    monkeypatch.setattr(blocks, "BLOCK_CELLS", 1_000)  # 5 users x 200 movies per score block
    blocked, _, blocked_history = _fit(small_data, config)

    def figures(h: History) -> list[tuple[float, float, float]]:
        return [(e.train_loss, e.val_rmse, e.val_ndcg) for e in h.epochs]

    np.testing.assert_array_equal(figures(blocked_history), figures(history))
    assert blocked_history.best_epoch == history.best_epoch
    for name, value in model.numpy_weights().items():
        np.testing.assert_array_equal(blocked.numpy_weights()[name], value, err_msg=name)


def test_validation_ndcg_is_the_full_ranking_over_dense_masks(small_data: MovieLens) -> None:
    """The blocked NDCG@10 check equals evaluate_topn over the dense [users, movies] scores
    and masks it replaced."""
    config = ModelConfig.preset("retrieval", epochs=1, user_hidden=16, movie_hidden=16)
    train, val = random_split(small_data, test_fraction=0.1, seed=0)
    model, encoder, _ = _fit(train, config, val)
    train_set, val_set = as_dataset(train), as_dataset(val)
    check = _RankingCheck(train_set, val_set, config, _Encoded(val_set, encoder))
    users, movies = val_set.users.ids, val_set.items.ids
    seen = interaction_matrix(train_set.interactions, users, movies)
    relevant = relevant_from(val_set.interactions, users, movies, min_rating=config.liked_rating)
    scores = model.encode_users(check.users) @ model.encode_movies(check.movies).T
    rows = np.flatnonzero(relevant.any(axis=1))
    assert rows.size > 50
    want = evaluate_topn(scores, rows, seen, relevant, k=10).ndcg
    assert check.ndcg(model) == want
