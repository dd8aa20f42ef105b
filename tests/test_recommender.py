from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from fusionrec import (
    CollectionNotFoundError,
    FaissStore,
    Filter,
    FusionRecommender,
    MilvusStore,
    ModelConfig,
    ModelDirError,
    NotFittedError,
    Recommendation,
    ValidationError,
)
from fusionrec.data import MovieLens, Movies, random_split


@pytest.fixture(scope="module")
def split(small_data: MovieLens) -> tuple[MovieLens, MovieLens]:
    return random_split(small_data, test_fraction=0.1, seed=0)


@pytest.fixture(scope="module")
def trained(split: tuple[MovieLens, MovieLens]) -> FusionRecommender:
    """One recommender trained once for the module, indexed into an in-memory Faiss store."""
    train, _ = split
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=4, seed=1), progress=False)
    rec.fit(train)
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    return rec


def test_fit_learns_better_than_the_global_mean(
    trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    train, test = split
    result = trained.evaluate(test)
    baseline = float(np.sqrt(np.mean((test.ratings.rating - train.ratings.rating.mean()) ** 2)))
    assert result.n_ratings == len(test.ratings)
    assert result.rmse < baseline - 0.05
    assert result.mae <= result.rmse


def test_evaluate_with_k_reports_top_n(
    trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    result = trained.evaluate(split[1], k=10)
    assert result.k == 10 and result.n_users is not None and result.n_users > 0
    assert result.recall is not None and 0.0 <= result.recall <= 1.0
    assert result.ndcg is not None and 0.0 <= result.ndcg <= 1.0


def test_known_user_gets_k_unseen_movies_best_first(
    trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    train, _ = split
    user = int(train.ratings.user_id[0])
    seen = set(train.ratings.movie_id[train.ratings.user_id == user].tolist())
    recs = trained.recommend(user, k=10)
    assert len(recs) == 10
    assert all(isinstance(r, Recommendation) for r in recs)
    assert not seen & {r.movie_id for r in recs}
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 - 1e-5 <= x <= 1.0 + 1e-5 for x in scores)  # cosine similarities
    with_seen = trained.recommend(user, k=len(train.movies), exclude_seen=False)
    assert seen <= {r.movie_id for r in with_seen}


def test_ratings_match_predict_and_scores_are_the_store_similarity(
    trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    user = int(split[0].ratings.user_id[5])
    recs = trained.recommend(user, k=5)
    predicted = trained.predict(user, [r.movie_id for r in recs])
    np.testing.assert_allclose(predicted, [r.rating for r in recs], rtol=1e-4, atol=1e-4)
    gender, age, occupation = _demo(split[0], user)
    query = trained.bundle.user_vectors(
        trained.bundle.encoder.encode_users(
            {"user_id": [user], "gender": gender, "age": age, "occupation": occupation}
        )
    )
    seen = split[0].ratings.movie_id[split[0].ratings.user_id == user].tolist()
    hits = trained.store.search(query, 5, exclude_ids=[seen])[0]
    assert [r.score for r in recs] == [h.score for h in hits]
    assert recs[0].to_dict()["rating"] == recs[0].rating and "score" in recs[0].to_dict()


def test_default_preset_ranks_by_its_retrieval_head_and_shows_predicted_ratings(
    split: tuple[MovieLens, MovieLens],
) -> None:
    train, _ = split
    rec = FusionRecommender(ModelConfig.preset("default", epochs=2, seed=1), progress=False)
    rec.fit(train)
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    assert not rec.bundle.shared_vectors and rec.bundle.dim == 32
    user = int(train.users.user_id[0])
    recs = rec.recommend(user, k=10)
    query = rec.bundle.user_vectors(rec.bundle.encoder.encode_users(train.users.take([0])))
    seen = train.ratings.movie_id[train.ratings.user_id == user].tolist()
    hits = rec.store.search(query, 10, exclude_ids=[seen])[0]
    assert [r.movie_id for r in recs] == [h.id for h in hits]
    predicted = rec.predict(user, [r.movie_id for r in recs])
    np.testing.assert_allclose(predicted, [r.rating for r in recs], rtol=1e-4, atol=1e-4)
    scores = [r.score for r in recs]  # the ranking score never rises, whatever the ratings do
    assert scores == sorted(scores, reverse=True) == [h.score for h in hits]

    # a movie another process indexed (not in this catalog) is rated from the store's metadata
    movie = train.movies.take([0])
    vector = rec.bundle.movie_vectors(rec.bundle.encoder.encode_movies(movie))
    meta = {"title": "A Brand New Drama", "genres": ["Drama"], "year": 2001}
    rec.store.upsert([999_999], vector, [meta])
    [hit] = rec.recommend(user, k=1, filter=Filter(ids=[999_999]))
    new = Movies(
        movie_id=np.asarray([999_999]),
        title=np.asarray(["A Brand New Drama"], dtype=object),
        year=np.asarray([2001]),
        genres=np.asarray([("Drama",), ()], dtype=object)[:1],
    )
    features = rec.bundle.encoder.encode_users(train.users.take([0]))
    expected = rec.bundle.predict(features, rec.bundle.encoder.encode_movies(new))[0, 0]
    assert hit.movie_id == 999_999 and hit.rating == pytest.approx(float(expected), abs=1e-4)


def _demo(data: MovieLens, user: int) -> tuple[list[str], list[int], list[int]]:
    row = int(np.flatnonzero(data.users.user_id == user)[0])
    users = data.users
    return [str(users.gender[row])], [int(users.age[row])], [int(users.occupation[row])]


def test_new_user_by_demographics_years_or_bucket(trained: FusionRecommender) -> None:
    by_years = trained.recommend(age=30, gender="f", occupation=4, k=7)
    by_bucket = trained.recommend(age=25, gender="F", occupation="college/grad student", k=7)
    assert len(by_years) == 7
    assert [r.movie_id for r in by_years] == [r.movie_id for r in by_bucket]
    other = trained.recommend(age=56, gender="M", occupation=13, k=7)
    assert [r.rating for r in other] != [r.rating for r in by_years]


def test_batch_equals_single_calls(
    trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    users = [int(u) for u in np.unique(split[0].ratings.user_id)[:5]]
    batch = trained.recommend_batch(users, k=6)
    _assert_same_lists(batch, [trained.recommend(u, k=6) for u in users])
    new = trained.recommend_batch(ages=[18, 45], genders=["M", "F"], occupations=[1, 2], k=3)
    _assert_same_lists(new[1:], [trained.recommend(age=45, gender="F", occupation=2, k=3)])


def _assert_same_lists(
    got: list[list[Recommendation]], expected: list[list[Recommendation]]
) -> None:
    """Same movies in the same order; scores equal up to float32 summation order.

    One query is scored by a matrix-vector product, a batch by a matrix product, whose sums
    may round differently in the last bit.
    """
    assert [[r.movie_id for r in row] for row in got] == [
        [r.movie_id for r in row] for row in expected
    ]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose([r.score for r in a], [r.score for r in b], atol=1e-5)
        np.testing.assert_allclose(
            [r.rating for r in a],
            [r.rating for r in b],  # type: ignore[arg-type]
            atol=1e-4,
        )


def test_filter_is_honoured_and_still_returns_k(trained: FusionRecommender) -> None:
    recs = trained.recommend(
        age=35, gender="M", occupation=7, k=5, filter=Filter(genres_any=["Drama"])
    )
    assert len(recs) == 5
    assert all("Drama" in r.genres for r in recs)


def test_similar_movies_excludes_the_movie_itself(
    trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    movie = int(split[0].movies.movie_id[0])
    similar = trained.similar_movies(movie, k=5)
    assert len(similar) == 5 and movie not in {r.movie_id for r in similar}
    [item] = trained.store.get([movie])
    hits = trained.store.search(item.vector, 5, exclude_ids=[movie])[0]
    assert [r.score for r in similar] == [h.score for h in hits]  # the similarity it ranks by
    assert all(r.rating is None for r in similar)
    with pytest.raises(ValidationError, match="not in the store"):
        trained.similar_movies(10_000_000)


def test_reindexing_updates_and_never_duplicates(trained: FusionRecommender) -> None:
    before = trained.store.count()
    trained.index_movies()
    assert trained.store.count() == before


def test_add_movies_makes_an_unseen_movie_recommendable(
    split: tuple[MovieLens, MovieLens],
) -> None:
    train, _ = split
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=1), progress=False)
    rec.fit(train)
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    genres = np.empty(1, dtype=object)
    genres[0] = ("Sci-Fi", "Action")
    new = Movies(
        movie_id=np.array([999_999], dtype=np.int64),
        title=np.array([str(train.movies.title[0])], dtype=object),
        year=np.array([2001], dtype=np.int64),
        genres=genres,
    )
    assert not rec.bundle.encoder.has_movie(999_999)
    rec.add_movies(new)
    assert rec.store.count() == len(train.movies) + 1
    recs = rec.recommend(age=25, gender="M", occupation=12, k=1, filter=Filter(ids=[999_999]))
    assert [r.movie_id for r in recs] == [999_999]
    assert recs[0].genres == ("Sci-Fi", "Action") and recs[0].year == 2001
    assert rec.predict({"age": 25, "gender": "M", "occupation": 12}, [999_999]).shape == (1,)


def test_recommend_from_threads_matches_serial(trained: FusionRecommender) -> None:
    queries = [(18 + i % 5 * 10, "MF"[i % 2], i % 21) for i in range(16)]
    serial = [trained.recommend(age=a, gender=g, occupation=o, k=5) for a, g, o in queries]
    results: list[list[Recommendation] | None] = [None] * len(queries)

    def work(i: int) -> None:
        a, g, o = queries[i]
        results[i] = trained.recommend(age=a, gender=g, occupation=o, k=5)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == serial


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_id": 10_000_000}, "unknown user id"),
        ({"age": 200, "gender": "F", "occupation": 1}, "age"),
        ({"age": 25, "gender": "X", "occupation": 1}, "'M' or 'F'"),
        ({"age": 25, "gender": "F", "occupation": 99}, "occupation"),
        ({"age": 25, "gender": "F"}, "all of age"),
        ({}, "pass a user id"),
        ({"age": 25, "gender": "F", "occupation": 1, "k": 0}, "k must be"),
    ],
)
def test_bad_requests_say_what_to_pass(
    trained: FusionRecommender, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        trained.recommend(**kwargs)  # type: ignore[arg-type]


def test_default_model_is_the_default_preset() -> None:
    rec = FusionRecommender(progress=False)  # nothing is trained or opened yet
    assert rec.config.name == "default"
    assert rec.config == ModelConfig.preset("default")
    assert rec.config.objective == "joint" and rec.config.retrieval_hidden > 0


def test_recommend_before_fit_or_index(tmp_path: Path, tiny_data: MovieLens) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        FusionRecommender(progress=False).recommend(age=25, gender="F", occupation=1)
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=1), progress=False)
    rec.fit(tiny_data)
    rec.store = FaissStore(dim=rec.bundle.dim)
    with pytest.raises(NotFittedError, match="index_movies"):
        rec.recommend(age=25, gender="F", occupation=1)


def test_unknown_training_option_is_rejected(tiny_data: MovieLens) -> None:
    from fusionrec import ConfigError

    with pytest.raises(ConfigError, match="epochz"):
        FusionRecommender(progress=False).fit(tiny_data, epochz=3)


def test_save_load_gives_the_same_recommendations_on_milvus_lite(
    tmp_path: Path, split: tuple[MovieLens, MovieLens]
) -> None:
    train, test = split
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=2), progress=False)
    rec.fit(train)
    rec.store = MilvusStore(uri=str(tmp_path / "m.db"), collection="movies", dim=rec.bundle.dim)
    rec.index_movies()
    user = int(train.ratings.user_id[0])
    known = rec.recommend(user, k=8)
    new = rec.recommend(age=45, gender="M", occupation=17, k=8)
    rec.save(tmp_path / "model")
    rec.close()

    loaded = FusionRecommender.load(tmp_path / "model")
    try:
        assert [r.movie_id for r in loaded.recommend(user, k=8)] == [r.movie_id for r in known]
        again = loaded.recommend(age=45, gender="M", occupation=17, k=8)
        assert [r.movie_id for r in again] == [r.movie_id for r in new]
        np.testing.assert_allclose([r.score for r in again], [r.score for r in new], atol=1e-4)
        np.testing.assert_allclose(
            [r.rating for r in again],
            [r.rating for r in new],
            atol=1e-4,  # type: ignore[arg-type]
        )
        assert loaded.evaluate(test).rmse == pytest.approx(rec.evaluate(test).rmse, abs=1e-5)
    finally:
        loaded.close()
    elsewhere = FusionRecommender.load(tmp_path / "model", store_options={"collection": "other"})
    with pytest.raises(CollectionNotFoundError, match="read-only store never creates"):
        elsewhere.recommend(user, k=8)
    writable = {"collection": "other", "read_only": False}
    elsewhere = FusionRecommender.load(tmp_path / "model", store_options=writable)
    try:
        with pytest.raises(NotFittedError, match="store is empty"):
            elsewhere.recommend(user, k=8)
        assert elsewhere.store.settings()["collection"] == "other"
    finally:
        elsewhere.close()


def test_save_load_with_a_given_store(
    tmp_path: Path, trained: FusionRecommender, split: tuple[MovieLens, MovieLens]
) -> None:
    trained.save(tmp_path / "model")
    loaded = FusionRecommender.load(tmp_path / "model", store=trained.store)
    user = int(split[0].ratings.user_id[3])
    assert loaded.recommend(user, k=5) == trained.recommend(user, k=5)


def test_load_rejects_missing_partial_and_foreign_dirs(
    tmp_path: Path, trained: FusionRecommender
) -> None:
    with pytest.raises(ModelDirError, match="no such model directory"):
        FusionRecommender.load(tmp_path / "nope")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "recommender.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelDirError, match="missing"):
        FusionRecommender.load(tmp_path / "partial")
    trained.save(tmp_path / "future")
    state = tmp_path / "future" / "recommender.json"
    state.write_text(json.dumps({"format_version": 99}), encoding="utf-8")
    with pytest.raises(ModelDirError, match="format version"):
        FusionRecommender.load(tmp_path / "future")
