"""Implicit feedback and interaction weights: learns, weights steer it, bad configs refused."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from fusionrec.config import ModelConfig
from fusionrec.data import Dataset, Interactions, MovieLens, Table, random_split
from fusionrec.errors import ValidationError
from fusionrec.eval.metrics import TopNResult, evaluate_split
from fusionrec.features import FeatureEncoder
from fusionrec.features.categorical import Categorical
from fusionrec.features.schema import Schema
from fusionrec.model import FusionModel
from fusionrec.train.trainer import History, Trainer, _concat

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
N_SEGMENTS = 4
N_CUSTOMERS = 160
N_SKUS = 60
SCHEMA = Schema(
    user=(Categorical("customer", dim=8, fc=8, id=True), Categorical("segment", dim=4, fc=4)),
    item=(Categorical("sku", dim=8, fc=8, id=True), Categorical("category", dim=4, fc=4)),
)


def _clicks(seed: int = 0, per_customer: int = 12) -> Dataset:
    """Customers of a segment click the SKUs of its category (85%) or any SKU; string ids.

    Every SKU is about equally popular, so popularity ranks no better than chance while the
    segment -> category structure is there to learn.
    """
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, N_SEGMENTS, N_CUSTOMERS)
    category = np.arange(N_SKUS) % N_SEGMENTS
    users = Table(
        np.array([f"c{i:03d}" for i in range(N_CUSTOMERS)], dtype=object),
        {"segment": np.array([f"s{s}" for s in segment], dtype=object)},
        id_name="customer",
    )
    items = Table(
        np.array([f"SKU-{i:03d}" for i in range(N_SKUS)], dtype=object),
        {"category": np.array([f"k{c}" for c in category], dtype=object)},
        id_name="sku",
    )
    user_rows, item_rows = [], []
    for u in range(N_CUSTOMERS):
        own = np.flatnonzero(category == segment[u])
        picks: set[int] = set()
        while len(picks) < per_customer:
            pool = own if rng.random() < 0.85 else np.arange(N_SKUS)
            picks.add(int(rng.choice(pool)))
        user_rows += [u] * per_customer
        item_rows += sorted(picks)
    clicks = Interactions(users.ids[user_rows], items.ids[item_rows])
    return Dataset(users, items, clicks, schema=SCHEMA)


def _config(**overrides: object) -> ModelConfig:
    settings: dict[str, object] = {
        "epochs": 8,
        "user_hidden": 32,
        "movie_hidden": 32,
        "batch_size": 64,
        "seed": 1,
        **overrides,
    }
    return ModelConfig.preset("retrieval", **settings)


def _fit(
    data: Dataset, config: ModelConfig, validation: Dataset | None = None, engine: str = "numpy"
) -> tuple[FusionModel, FeatureEncoder, History]:
    encoder = FeatureEncoder.fit(data)
    model = FusionModel(config, encoder)
    history = Trainer(config, progress=False, engine=engine).fit(model, encoder, data, validation)
    return model, encoder, history


def _vectors(
    model: FusionModel, encoder: FeatureEncoder, data: Dataset
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    users = model.encode_users(encoder.encode_users(data.users.as_columns()))
    items = model.encode_movies(encoder.encode_items(data.items.as_columns()))
    return users, items


def _popularity(train: Dataset, test: Dataset) -> TopNResult:
    counts = np.bincount(train.items.rows(train.interactions.item_id), minlength=len(train.items))
    return evaluate_split(
        train, test, score_fn=lambda rows: np.tile(counts.astype(float), (len(rows), 1))
    )


def test_implicit_clicks_with_string_ids_beat_popularity_and_chance() -> None:
    data = _clicks()
    assert data.implicit and data.users.string_ids
    train, test = random_split(data, test_fraction=0.2, seed=0)
    model, encoder, history = _fit(train, _config())
    assert history.selected_on == "ndcg" and history.best_val_ndcg > 0
    assert all(np.isnan(e.val_rmse) for e in history.epochs)  # nothing rating-based ran
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss
    users, items = _vectors(model, encoder, train)
    got = evaluate_split(train, test, user_vectors=users, item_vectors=items)
    rng = np.random.default_rng(0)
    chance = evaluate_split(
        train, test, score_fn=lambda rows: rng.random((len(rows), len(train.items)))
    )
    popular = _popularity(train, test)
    assert got.n_users == chance.n_users > 100
    assert got.ndcg > 2 * max(chance.ndcg, popular.ndcg), (got.ndcg, chance.ndcg, popular.ndcg)
    assert got.recall > 2 * max(chance.recall, popular.recall)


def test_implicit_training_from_movielens_without_ratings(tiny_data: MovieLens) -> None:
    full = Dataset.from_movielens(tiny_data)
    r = full.interactions
    clicks = full.with_interactions(Interactions(r.user_id, r.item_id, timestamp=r.timestamp))
    config = ModelConfig.preset("retrieval", epochs=2, batch_size=64)
    model, _, history = _fit(clicks, config)
    assert history.n_train + history.n_validation == len(r)
    assert history.best_epoch in (1, 2) and np.isfinite(history.best_val_ndcg)
    # no rating calibration or global mean was fitted: the model keeps its initial values
    assert model.calibration.numpy().tolist() == [1.0, 0.0]
    assert float(model.global_mean.numpy()[0]) == (config.rating_min + config.rating_max) / 2


def _ranks_of(
    item: int, users: npt.NDArray[np.float32], items: npt.NDArray[np.float32]
) -> IntArray:
    """Each user's 0-based rank of ``item`` in a full ranking (lower is better)."""
    scores = users @ items.T
    ranks: IntArray = (scores > scores[:, [item]]).sum(axis=1)
    return ranks


def test_a_heavier_interaction_is_ranked_higher() -> None:
    data = _clicks(seed=2)
    r = data.interactions
    target = "SKU-008"  # a SKU of category k0, about as popular as its peers
    heavy = np.where(r.item_id == target, np.float32(20.0), np.float32(1.0)).astype(np.float32)
    weighted = data.with_interactions(Interactions(r.user_id, r.item_id, weight=heavy))
    config = _config(epochs=4, patience=0)
    plain_model, encoder, _ = _fit(data, config)
    heavy_model, heavy_encoder, _ = _fit(weighted, config)
    item = int(data.items.rows(np.array([target], dtype=object))[0])
    before = _ranks_of(item, *_vectors(plain_model, encoder, data))
    after = _ranks_of(item, *_vectors(heavy_model, heavy_encoder, data))
    fans = data.users.columns["segment"] == "s0"  # the customers who click category k0
    assert after[fans].mean() < 0.25 * before[fans].mean() and after[fans].mean() < 1.0
    assert after.mean() < before.mean()


def test_weights_of_one_train_like_no_weights(tiny_data: MovieLens) -> None:
    data = Dataset.from_movielens(tiny_data)
    r = data.interactions
    ones = data.with_interactions(
        Interactions(r.user_id, r.item_id, r.rating, np.ones(len(r), np.float32), r.timestamp)
    )
    for preset in ("rating", "retrieval", "default"):
        config = ModelConfig.preset(preset, epochs=2, batch_size=64, refit=False)
        _, _, plain = _fit(data, config)
        _, _, weighted = _fit(ones, config)
        for a, b in zip(plain.epochs, weighted.epochs, strict=True):
            assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4), preset
            assert b.val_rmse == pytest.approx(a.val_rmse, rel=1e-3), preset


def test_rating_weights_pull_heavy_predictions_toward_their_ratings(tiny_data: MovieLens) -> None:
    data = Dataset.from_movielens(tiny_data)
    r = data.interactions
    assert r.rating is not None
    heavy_rows = r.rating == 1.0  # the rare lowest ratings, made to count 30 times
    weight = np.where(heavy_rows, np.float32(30.0), np.float32(1.0)).astype(np.float32)
    weighted = data.with_interactions(Interactions(r.user_id, r.item_id, r.rating, weight))
    config = ModelConfig.preset("rating", epochs=4, batch_size=64, refit=False, patience=0)
    errors = []
    for d in (data, weighted):
        model, encoder, _ = _fit(d, config)
        users = encoder.encode_users(data.users.as_columns())
        items = encoder.encode_items(data.items.as_columns())
        rows = np.flatnonzero(heavy_rows)
        pred = model.predict(
            users, items, data.users.rows(r.user_id[rows]), data.items.rows(r.item_id[rows])
        )
        errors.append(float(np.mean((pred - r.rating[rows]) ** 2)))
    assert errors[1] < 0.7 * errors[0], errors


def _implicit(data: Dataset) -> Dataset:
    r = data.interactions
    return data.with_interactions(Interactions(r.user_id, r.item_id, weight=r.weight))


@pytest.mark.parametrize(
    ("preset", "overrides", "match"),
    [
        (
            "rating",
            {},
            r"objective 'rating' needs them; train with ModelConfig.preset\('retrieval'\)",
        ),
        ("default", {}, r"objective 'joint' needs them.*preset\('retrieval'\)"),
        ("retrieval", {"positives": "liked"}, "positives='liked' needs them"),
        ("retrieval", {"select_on": "rmse"}, "select_on='rmse' needs them"),
    ],
)
def test_configs_that_need_ratings_are_refused_on_implicit_data(
    preset: str, overrides: dict[str, object], match: str
) -> None:
    data = _clicks()
    config = ModelConfig.preset(preset, epochs=1, **overrides)
    encoder = FeatureEncoder.fit(data)
    with pytest.raises(ValidationError, match=match):
        Trainer(config, progress=False).fit(FusionModel(config, encoder), encoder, data)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bad_weights_are_refused(bad: float) -> None:
    data = _clicks()
    r = data.interactions
    weight = np.ones(len(r), np.float32)
    weight[5] = bad
    config = _config(epochs=1)
    encoder = FeatureEncoder.fit(data)
    trainer = Trainer(config, progress=False)
    with pytest.raises(ValidationError, match="weight must be finite and > 0"):
        trainer.fit(
            FusionModel(config, encoder),
            encoder,
            data.with_interactions(Interactions(r.user_id, r.item_id, weight=weight)),
        )


def test_validation_must_match_the_training_data_kind(tiny_data: MovieLens) -> None:
    rated = Dataset.from_movielens(tiny_data)
    train, val = random_split(rated, test_fraction=0.2, seed=0)
    config = ModelConfig.preset("retrieval", epochs=1)
    encoder = FeatureEncoder.fit(train)
    trainer = Trainer(config, progress=False)
    with pytest.raises(ValidationError, match="both have ratings or both lack them"):
        trainer.fit(FusionModel(config, encoder), encoder, _implicit(train), val)
    with pytest.raises(ValidationError, match="no interactions"):
        none = np.zeros(0, dtype=np.int64)
        empty = _implicit(train).with_interactions(_implicit(train).interactions.take(none))
        trainer.fit(FusionModel(config, encoder), encoder, empty)


def test_implicit_validation_and_refit_carry_the_weights() -> None:
    data = _clicks()
    r = data.interactions
    weight = np.arange(1, len(r) + 1, dtype=np.float32)
    weighted = data.with_interactions(Interactions(r.user_id, r.item_id, weight=weight))
    train, val = random_split(weighted, test_fraction=0.2, seed=0)
    config = _config(epochs=2, refit=True)
    _, _, history = _fit(train, config, val)
    assert history.n_refit == len(r) and len(history.refit_epochs) == history.best_epoch
    both = _concat(train.interactions, val.interactions)
    assert both.weight is not None
    assert sorted(both.weight.tolist()) == weight.tolist()
    unweighted = _concat(train.interactions, _implicit(_clicks()).interactions.take([0, 1]))
    assert unweighted.weight is not None and unweighted.weight[-2:].tolist() == [1.0, 1.0]


def test_paddle_engine_trains_implicit_weighted_data() -> None:
    data = _clicks()
    r = data.interactions
    weight = (np.arange(len(r)) % 3 + 1).astype(np.float32)
    weighted = data.with_interactions(Interactions(r.user_id, r.item_id, weight=weight))
    config = _config(epochs=2, dropout=0.0)  # the engines draw dropout masks differently
    _, _, numpy_history = _fit(weighted, config)
    _, _, paddle_history = _fit(weighted, config, engine="paddle")
    for a, b in zip(numpy_history.epochs, paddle_history.epochs, strict=True):
        assert b.train_loss == pytest.approx(a.train_loss, rel=1e-5)
