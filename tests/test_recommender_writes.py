"""FusionRecommender.add_interactions and user_ids: what a server records after training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec import FusionRecommender, ValidationError
from fusionrec.data import MovieLens


@pytest.fixture(scope="module")
def rec(indexed_rec: FusionRecommender) -> FusionRecommender:
    return indexed_rec


def test_user_ids_are_the_training_users_ascending(
    rec: FusionRecommender, tiny_data: MovieLens
) -> None:
    assert rec.user_ids.tolist() == sorted(tiny_data.users.user_id.tolist())


def test_added_interactions_are_excluded_and_saved(rec: FusionRecommender, tmp_path: Path) -> None:
    user = 4
    before = [r.movie_id for r in rec.recommend(user, k=3)]
    assert rec.add_interactions([user] * 3, before) == 3
    assert rec.add_interactions([user], [before[0]]) == 0  # already seen: nothing new
    after = [r.movie_id for r in rec.recommend(user, k=3)]
    assert len(after) == 3 and not set(before) & set(after)
    rec.save(tmp_path / "model")
    loaded = FusionRecommender.load(tmp_path / "model", store=rec.store, progress=False)
    assert [r.movie_id for r in loaded.recommend(user, k=3)] == after


def test_add_interactions_accepts_numpy_ids_and_nothing(rec: FusionRecommender) -> None:
    movie = int(rec.movies.movie_id[0])
    assert rec.add_interactions(np.array([7]), np.array([movie])) in (0, 1)
    assert rec.add_interactions([], []) == 0


@pytest.mark.parametrize(
    ("users", "movies", "message"),
    [
        ([99999], [1], "unknown user id 99999"),
        ([4], [99999], "unknown item id 99999"),
        ([4, 5], [1], "differ in length"),
        ([True], [1], "user ids must be integers"),
        ([4], ["1"], "unknown item id '1'"),  # a str id among int ids
        ([4], [1, "1"], "all integers or all non-empty strings"),
        ([2**70], [1], "64-bit range"),
    ],
)
def test_add_interactions_rejects_bad_ids(
    rec: FusionRecommender, users: list[object], movies: list[object], message: str
) -> None:
    seen_before = len(rec._require_seen())
    with pytest.raises(ValidationError, match=message):
        rec.add_interactions(users, movies)  # type: ignore[arg-type]
    assert len(rec._require_seen()) == seen_before


def test_add_users_normalizes_movielens_demographics(rec: FusionRecommender) -> None:
    new_id = int(rec.user_ids.max()) + 1
    added = rec.add_users(
        {"user_id": [new_id], "age": [30], "gender": ["female"], "occupation": [rec.occupations[2]]}
    )
    assert added == 1
    by_id = [r.movie_id for r in rec.recommend(new_id, k=5)]
    assert by_id == [r.movie_id for r in rec.recommend(age=30, gender="F", occupation=2, k=5)]
    with pytest.raises(ValidationError, match="all of age=, gender= and occupation="):
        rec.add_users({"user_id": [new_id + 1], "age": [30]})
