"""examples/schema_features.py: zip code and year added by schema lines alone, end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fusionrec import FaissStore, FusionRecommender, ModelConfig, synthetic_movielens
from fusionrec.data import load_movielens, random_split, write_movielens
from fusionrec.features import table_columns

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from schema_features import EXTENDED


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[FusionRecommender, object]:
    root = tmp_path_factory.mktemp("ml100k")
    data = synthetic_movielens(n_users=120, n_movies=80, n_ratings=4_000, seed=2)
    # through the ml-100k files: the loader keeps the zip codes, the titles carry the years
    write_movielens(data, root / "ml-100k", format="ml-100k")
    loaded = load_movielens(root / "ml-100k")
    train, test = random_split(loaded, test_fraction=0.1, seed=0)
    rec = FusionRecommender(ModelConfig.preset("default"), schema=EXTENDED, progress=False)
    rec.fit(train, epochs=2)
    return rec, test


def test_the_towers_read_the_new_columns(trained: tuple[FusionRecommender, object]) -> None:
    rec, test = trained
    weights = rec._model.numpy_weights()
    assert weights["user_tower.zip_code.emb.weight"].shape == (2 + 10, 8)  # digits 0-9
    assert weights["item_tower.year.fc.weight"].shape == (1, 8)
    assert rec.bundle.encoder.states["item"]["year"].std > 0
    assert np.isfinite(rec.evaluate(test).rmse)  # type: ignore[arg-type]


def test_saved_and_served_like_any_model(
    trained: tuple[FusionRecommender, object], tmp_path: Path
) -> None:
    rec, _ = trained
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    known = rec.recommend(user_id=1, k=5)
    cold = rec.recommend(age=25, gender="F", occupation=4, k=5)  # no zip code: unknown region
    assert len(known) == 5 and len(cold) == 5
    back = FusionRecommender.load(rec.save(tmp_path / "saved"), store=rec.store)
    bundle = back.bundle
    assert bundle.encoder.schema == EXTENDED and back.schema == EXTENDED
    users = rec.bundle.encoder.encode_users(rec.users.as_columns())
    np.testing.assert_array_equal(bundle.user_vectors(users), rec.bundle.user_vectors(users))


def test_exported_towers_take_the_new_inputs(
    trained: tuple[FusionRecommender, object], tmp_path: Path
) -> None:
    import json

    import paddle

    from fusionrec.serve.model_dir import save_model_dir

    rec, _ = trained
    encoder = rec.bundle.encoder
    save_model_dir(tmp_path / "m", rec._model, encoder, rec.config)
    files = tmp_path / "m" / json.loads((tmp_path / "m" / "meta.json").read_text())["version"]
    users = encoder.encode_users(rec.users.as_columns())
    movies = table_columns(rec.movies)
    movies["year"] = [None, *movies["year"][1:].tolist()]  # one unknown year: the learned default
    items = encoder.encode_items(movies)
    assert items["year"].dtype == np.float32 and np.isnan(items["year"][0])
    for folder, features, side, expected in (
        ("user_tower", users, EXTENDED.user, rec.bundle.user_vectors(users)),
        ("movie_tower", items, EXTENDED.item, rec.bundle.movie_vectors(items)),
    ):
        tower = paddle.jit.load(str(files / folder / "inference"))
        out = tower(*(paddle.to_tensor(features[f.name]) for f in side)).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)
