"""Paddle towers: shapes, normalization, title masking and the packed-title fast path."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from fusionrec import blocks
from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens
from fusionrec.features import PAD, FeatureEncoder, Features
from fusionrec.features.text import pack_windows
from fusionrec.model import FusionModel
from fusionrec.model.fusion import tower_inputs

#: the two rating presets, the rating-bias variant whose vectors carry two extra dimensions, and
#: the default preset (joint objective) whose store vectors come from a separate retrieval head
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "reference": ("reference", {}),
    "rating": ("rating", {}),
    "biased": ("rating", {"use_biases": True, "learn_scale": True, "score_scale": 1.0}),
    "split": ("default", {"retrieval_hidden": 8}),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def built(
    request: pytest.FixtureRequest, tiny_data: MovieLens
) -> tuple[FusionModel, FeatureEncoder]:
    preset, extra = VARIANTS[request.param]
    config = ModelConfig.preset(preset, user_hidden=24, movie_hidden=24, **extra)
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    model.eval()
    return model, encoder


def test_vectors_have_model_dim_and_unit_norm(
    built: tuple[FusionModel, FeatureEncoder], tiny_data: MovieLens
) -> None:
    model, encoder = built
    u = model.encode_users(encoder.encode_users(tiny_data.users))
    m = model.encode_movies(encoder.encode_movies(tiny_data.movies))
    assert u.dtype == np.float32 and m.dtype == np.float32
    assert u.shape == (len(tiny_data.users), model.dim)
    assert m.shape == (len(tiny_data.movies), model.dim)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)


def test_inner_product_orders_like_predicted_rating(
    built: tuple[FusionModel, FeatureEncoder], tiny_data: MovieLens
) -> None:
    model, encoder = built
    if model.config.split_heads:
        pytest.skip("a separate retrieval head ranks by its own score (see the test below)")
    if model.config.use_biases:  # make the item bias matter
        w = model.item_bias.weight
        w.set_value(
            paddle.to_tensor(np.random.default_rng(0).normal(0, 0.5, w.shape).astype("float32"))
        )
    uf = encoder.encode_users(tiny_data.users.take([0]))
    mf = encoder.encode_movies(tiny_data.movies)
    ip = (model.encode_users(uf) @ model.encode_movies(mf).T)[0]
    n = len(mf)
    original = model.config
    model.config = original.replace(clip_ratings=False)
    try:
        pred = model.predict(uf, mf, np.zeros(n, np.int64), np.arange(n))
    finally:
        model.config = original
    assert np.array_equal(np.argsort(-ip, kind="stable"), np.argsort(-pred, kind="stable"))


def test_split_heads_store_the_retrieval_units_and_rate_with_the_others(
    tiny_data: MovieLens,
) -> None:
    config = ModelConfig.preset("default", user_hidden=24, movie_hidden=24, retrieval_hidden=8)
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    model.eval()
    uf = encoder.encode_users(tiny_data.users.take([0]))
    mf = encoder.encode_movies(tiny_data.movies)
    u_out = model.user_tower(*tower_inputs(model.user_tower, uf))
    m_out = model.item_tower(*tower_inputs(model.item_tower, mf))
    assert u_out.shape[1] == m_out.shape[1] == 32 and model.dim == 8
    tail = m_out.numpy()[:, 24:]
    np.testing.assert_allclose(
        model.encode_movies(mf), tail / np.linalg.norm(tail, axis=1, keepdims=True), atol=1e-6
    )
    head_u, head_m = u_out.numpy()[:, :24], m_out.numpy()[:, :24]
    cos = (head_m @ head_u[0]) / (np.linalg.norm(head_m, axis=1) * np.linalg.norm(head_u[0]))
    n = len(mf)
    expected = float(model.scale.numpy()[0]) * cos + float(model.global_mean.numpy()[0])
    expected += model.item_bias.weight.numpy()[mf["movie_id"], 0]
    expected += float(model.user_bias.weight.numpy()[uf["user_id"][0], 0])
    pred = model.predict(uf, mf, np.zeros(n, np.int64), np.arange(n))
    clipped = np.clip(expected, config.rating_min, config.rating_max)
    np.testing.assert_allclose(pred, clipped, atol=1e-5)


def test_title_padding_does_not_change_the_movie_vector(
    built: tuple[FusionModel, FeatureEncoder], tiny_data: MovieLens
) -> None:
    model, encoder = built
    mf = encoder.encode_movies(tiny_data.movies)
    wider = Features(
        {
            "movie_id": mf["movie_id"],
            "genres": np.pad(mf["genres"], ((0, 0), (0, 3)), constant_values=PAD),
            "title": np.pad(mf["title"], ((0, 0), (0, 5)), constant_values=PAD),
        }
    )
    np.testing.assert_allclose(model.encode_movies(mf), model.encode_movies(wider), atol=1e-6)


def test_packed_titles_match_padded_path(
    built: tuple[FusionModel, FeatureEncoder], tiny_data: MovieLens
) -> None:
    model, encoder = built
    mf = encoder.encode_movies(tiny_data.movies)
    tower = model.item_tower
    title = tower.features[2]
    windows = title.gather(title.prepare(mf["title"]), np.arange(len(mf)))
    assert len(windows.windows) == int((mf["title"] != PAD).sum())
    with paddle.no_grad():
        m, g = paddle.to_tensor(mf["movie_id"]), paddle.to_tensor(mf["genres"])
        padded = tower(m, g, paddle.to_tensor(mf["title"])).numpy()
        packed = tower(m, g, windows).numpy()
    np.testing.assert_allclose(padded, packed, atol=1e-5)


def test_packed_windows_see_neighbours() -> None:
    title = np.asarray([[5, 6, 7, 0], [8, 0, 0, 0]], dtype=np.int64)
    windows, owner = pack_windows(title, 3)
    assert windows.tolist() == [[0, 5, 6], [5, 6, 7], [6, 7, 0], [0, 8, 0]]
    assert owner.tolist() == [0, 0, 0, 1]


def test_towers_work_alone(built: tuple[FusionModel, FeatureEncoder], tiny_data: MovieLens) -> None:
    model, encoder = built
    uf = encoder.encode_users(tiny_data.users)
    with paddle.no_grad():
        h = model.user_tower(*tower_inputs(model.user_tower, uf))
    assert h.shape == [len(uf), model.config.user_hidden + model.config.retrieval_hidden]
    assert float(paddle.abs(h).max()) <= 1.0


def test_same_seed_same_initial_weights(tiny_data: MovieLens) -> None:
    encoder = FeatureEncoder.fit(tiny_data)
    a = FusionModel(ModelConfig.preset("reference", seed=4), encoder).numpy_weights()
    b = FusionModel(ModelConfig.preset("reference", seed=4), encoder).numpy_weights()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_row_blocks_give_the_one_pass_vectors_and_ratings(
    variant: str, small_data: MovieLens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Towers and pair gathers run in row blocks; blocks of 64 rows over 400 users, 200
    movies and 1,001 pairs give bit for bit the numbers of one pass."""
    preset, extra = VARIANTS[variant]
    config = ModelConfig.preset(preset, user_hidden=24, movie_hidden=24, **extra)
    encoder = FeatureEncoder.fit(small_data)
    model = FusionModel(config, encoder)
    model.eval()
    users = encoder.encode_users(small_data.users)
    movies = encoder.encode_movies(small_data.movies)
    rng = np.random.default_rng(0)
    urow = rng.integers(0, len(users), 1_001)
    mrow = rng.integers(0, len(movies), 1_001)

    def passes() -> list[np.ndarray]:
        return [
            model.encode_users(users),
            model.encode_movies(movies),
            model.predict(users, movies, urow, mrow),
            model.predict(users, movies, urow, mrow, raw=True),
        ]

    whole = passes()
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 64)
    for got, want in zip(passes(), whole, strict=True):
        np.testing.assert_array_equal(got, want)
