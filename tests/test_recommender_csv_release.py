"""FusionRecommender on a csv-release data set (no demographics, half stars, tags), end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec import FaissStore, FusionRecommender, ModelConfig
from fusionrec.data import load_movielens, random_split, synthetic_csv_release, write_movielens
from fusionrec.errors import ValidationError
from fusionrec.features import movielens_csv_schema


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[FusionRecommender, object]:
    root = tmp_path_factory.mktemp("ml25m")
    data = synthetic_csv_release(n_users=120, n_movies=80, n_ratings=4_000, seed=2)
    loaded = load_movielens(write_movielens(data, root / "ml-25m", format="ml-25m"))
    train, test = random_split(loaded, test_fraction=0.1, seed=0)
    config = ModelConfig.preset("default", seed=0, rating_min=0.5)  # half stars from 0.5
    rec = FusionRecommender(config, progress=False)
    rec.fit(train, epochs=2)
    return rec, test


def test_trains_with_the_csv_schema(trained: tuple[FusionRecommender, object]) -> None:
    rec, test = trained
    assert rec.bundle.encoder.schema == movielens_csv_schema()
    tags = rec.bundle.encoder.states["item"]["tags"]
    assert "classic" in tags and "drama" in tags
    assert np.isfinite(rec.evaluate(test).rmse)  # type: ignore[arg-type]


def test_recommends_known_users_and_refuses_demographics(
    trained: tuple[FusionRecommender, object], tmp_path: Path
) -> None:
    rec, _ = trained
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    known = rec.recommend(user_id=int(rec.user_ids[0]), k=5)
    assert len(known) == 5
    with pytest.raises(ValidationError, match="no demographic features"):
        rec.recommend(age=25, gender="F", occupation=4, k=5)
    back = FusionRecommender.load(rec.save(tmp_path / "saved"), store=rec.store)
    assert back.items.columns["tags"].tolist() == rec.items.columns["tags"].tolist()
    again = back.recommend(user_id=int(rec.user_ids[0]), k=5)
    assert [r.movie_id for r in again] == [r.movie_id for r in known]
