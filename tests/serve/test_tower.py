"""The numpy serving tower: outputs over row blocks equal the one-pass outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fusionrec import blocks
from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens, synthetic_movielens, write_movielens
from fusionrec.data.movielens import load_movielens
from fusionrec.features import FeatureEncoder
from fusionrec.model import FusionModel
from fusionrec.serve.bundle import ModelBundle


@pytest.fixture(scope="module")
def csv_release(tmp_path_factory: pytest.TempPathFactory) -> MovieLens:
    """A small data set in the ml-25m csv format: the schema with tags (a multi-valued
    feature whose serving share gathers [rows, tags, width])."""
    data = synthetic_movielens(n_users=300, n_movies=150, n_ratings=4_000, seed=5)
    rng = np.random.default_rng(5)
    tags = np.empty(len(data.movies), dtype=object)
    tags[:] = [tuple(f"tag {w}" for w in rng.choice(40, rng.integers(0, 6), False)) for _ in tags]
    data = dataclasses.replace(data, movies=dataclasses.replace(data.movies, tags=tags))
    folder = tmp_path_factory.mktemp("csv") / "ml-25m"
    write_movielens(data, folder, "ml-25m")
    loaded = load_movielens(folder)
    assert any(loaded.movies.tags)
    return loaded


@pytest.mark.parametrize("preset", ["rating", "default"])
def test_vectors_over_row_blocks_equal_one_pass(
    preset: str, csv_release: MovieLens, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ModelConfig.preset(preset, user_hidden=16, movie_hidden=16, rating_min=0.5)
    encoder = FeatureEncoder.fit(csv_release)
    bundle = ModelBundle.from_model(FusionModel(config, encoder), encoder, config)
    users = encoder.encode_users(csv_release.users)
    movies = encoder.encode_items(csv_release.movies)

    def passes() -> list[np.ndarray]:
        return [
            bundle.user_outputs(users),
            bundle.movie_outputs(movies),
            bundle.user_vectors(users),
            bundle.movie_vectors(movies),
            bundle.predict(users, movies),
        ]

    whole = passes()
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 64)
    for got, want in zip(passes(), whole, strict=True):
        np.testing.assert_array_equal(got, want)
