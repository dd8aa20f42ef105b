"""The MovieLens schema reproduces the hand-wired model exactly: vocabularies, seeded initial
weights, the numpy engine's towers (bit for bit) and the serving towers."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from fusionrec._fused import FusedStep
from fusionrec._numpy_towers import NumpyTowers
from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens
from fusionrec.features import FeatureEncoder, SchemaEncoder
from fusionrec.features.movielens import movielens_declared, movielens_schema, table_columns
from fusionrec.features.text import Windows
from fusionrec.model import FusionModel
from fusionrec.model.towers import Tower
from fusionrec.serve.tower import ServingTower
from fusionrec.train.tower import TowerEngine
from fusionrec.training import Trainer, _Encoded

OLD_TO_NEW = {
    "user_tower.user_": "user_tower.user_id.",
    "user_tower.gender_": "user_tower.gender.",
    "user_tower.age_": "user_tower.age.",
    "user_tower.occupation_": "user_tower.occupation.",
    "movie_tower.movie_": "item_tower.movie_id.",
    "movie_tower.genre_": "item_tower.genres.",
    "movie_tower.word_": "item_tower.title.",
    "movie_tower.title_conv": "item_tower.title.conv",
    "movie_tower.out": "item_tower.out",
}


def new_name(old: str) -> str:
    for a, b in OLD_TO_NEW.items():
        if old.startswith(a):
            return b + old[len(a) :]
    return old


def fitted(data: MovieLens, config: ModelConfig) -> SchemaEncoder:
    return SchemaEncoder.fit(
        movielens_schema(config),
        table_columns(data.users),
        table_columns(data.movies),
        movielens_declared(data),
    )


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return ModelConfig.preset("rating", user_hidden=12, movie_hidden=12, dropout=0.25)


def test_encodes_like_the_feature_encoder(tiny_data: MovieLens, config: ModelConfig) -> None:
    old = FeatureEncoder.fit(tiny_data)
    new = fitted(tiny_data, config)
    users = new.encode("user", table_columns(tiny_data.users))
    movies = new.encode("item", table_columns(tiny_data.movies))
    u, m = old.encode_users(tiny_data.users), old.encode_movies(tiny_data.movies)
    for a, b in (("user_id", u.user), ("gender", u.gender), ("age", u.age)):
        np.testing.assert_array_equal(users[a], b)
    np.testing.assert_array_equal(users["occupation"], u.occupation)
    np.testing.assert_array_equal(movies["movie_id"], m.movie)
    np.testing.assert_array_equal(movies["genres"], m.genres)
    np.testing.assert_array_equal(movies["title"], m.title)
    assert SchemaEncoder.from_dict(new.to_dict()) == new


def test_towers_start_from_the_same_seeded_weights(
    tiny_data: MovieLens, config: ModelConfig
) -> None:
    old = FusionModel(config, FeatureEncoder.fit(tiny_data)).numpy_weights()
    new = fitted(tiny_data, config)
    paddle.seed(config.seed)
    schema = new.schema
    user = Tower(schema.user, new.states["user"], config.user_hidden, config.dropout)
    item = Tower(schema.item, new.states["item"], config.movie_hidden, config.dropout)
    weights = {f"user_tower.{k}": v.numpy() for k, v in user.state_dict().items()}
    weights.update({f"item_tower.{k}": v.numpy() for k, v in item.state_dict().items()})
    towers = {new_name(k): v for k, v in old.items() if k.split(".")[0].endswith("_tower")}
    assert sorted(towers) == sorted(weights)
    for name, value in towers.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)


@pytest.mark.parametrize("dropout", [False, True], ids=["by_value", "per_row"])
def test_training_towers_match_the_fused_step_bit_for_bit(
    tiny_data: MovieLens, config: ModelConfig, dropout: bool
) -> None:
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    w_old = model.numpy_weights()
    rng = np.random.default_rng(0)
    for k in w_old:
        w_old[k] = rng.normal(0, 0.3, w_old[k].shape).astype(np.float32)
    w_new = {new_name(k): v for k, v in w_old.items()}
    encoded = _Encoded(tiny_data, encoder, config.title_window)
    drop = np.zeros(len(encoded.y), dtype=bool)
    drop[::3] = True
    b = Trainer(config, progress=False)._batch(encoded, np.arange(0, 300, 2), drop)
    fused = FusedStep(config, [k for k in w_old if k not in ("global_mean", "calibration")])
    new = fitted(tiny_data, config)
    user = TowerEngine(new.schema.user, new.states["user"], "user_tower.")
    item = TowerEngine(new.schema.item, new.states["item"], "item_tower.")
    mu = mm = None
    if dropout:
        mu = ((rng.random((len(b.user_ids[0]), user.width)) >= 0.3) / 0.7).astype(np.float32)
        mm = ((rng.random((len(b.movie), item.width)) >= 0.3) / 0.7).astype(np.float32)
    xs_user = list(b.user_ids)
    xs_item = [b.movie, b.genres, Windows(b.windows, b.owner, len(b.movie))]
    checks = (
        (fused._user_forward, fused._user_backward, user, xs_user, mu),
        (fused._movie_forward, fused._movie_backward, item, xs_item, mm),
    )
    for old_forward, old_backward, engine, xs, mask in checks:
        old_pass = old_forward(b, w_old, mask)
        new_pass = engine.forward(w_new, xs, mask)
        np.testing.assert_array_equal(new_pass.y, old_pass.y)
        dz = rng.normal(0, 1, old_pass.y.shape).astype(np.float32)
        old_grads = {new_name(k): v for k, v in old_backward(b, w_old, old_pass, dz).items()}
        new_grads = engine.backward(w_new, xs, new_pass, dz)
        assert sorted(new_grads) == sorted(old_grads)
        for name, g in old_grads.items():
            np.testing.assert_array_equal(new_grads[name], g, err_msg=name)


def test_serving_towers_match_the_numpy_towers(tiny_data: MovieLens, config: ModelConfig) -> None:
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    w_old = model.numpy_weights()
    rng = np.random.default_rng(1)
    for k in w_old:
        if k.endswith("weight") or k.endswith("bias"):
            w_old[k] = rng.normal(0, 0.3, w_old[k].shape).astype(np.float32)
    w_new = {new_name(k): v for k, v in w_old.items()}
    old = NumpyTowers(config, w_old)
    new = fitted(tiny_data, config)
    users = new.encode("user", table_columns(tiny_data.users))
    movies = new.encode("item", table_columns(tiny_data.movies))
    user = ServingTower(new.schema.user, w_new, "user_tower.")
    item = ServingTower(new.schema.item, w_new, "item_tower.")
    np.testing.assert_array_equal(
        user.outputs(users), old.user_outputs(encoder.encode_users(tiny_data.users))
    )
    np.testing.assert_array_equal(
        item.outputs(movies), old.movie_outputs(encoder.encode_movies(tiny_data.movies))
    )
