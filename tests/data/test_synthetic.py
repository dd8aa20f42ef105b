"""synthetic_movielens: schema, invariants, determinism and the planted, learnable structure."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.data import (
    AGE_BUCKETS,
    ML1M_GENRES,
    ML1M_OCCUPATIONS,
    UNKNOWN_YEAR,
    synthetic_movielens,
)
from fusionrec.errors import ValidationError


def test_default_sizes_and_dtypes() -> None:
    data = synthetic_movielens()
    assert (len(data.users), len(data.movies), len(data.ratings)) == (500, 300, 20_000)
    assert data.users.user_id.dtype == np.int64
    assert data.users.gender.dtype == np.dtype("<U1")
    assert data.users.age.dtype == np.int64
    assert data.users.occupation.dtype == np.int64
    assert data.movies.movie_id.dtype == np.int64
    assert data.movies.title.dtype == object
    assert data.movies.year.dtype == np.int64
    assert data.ratings.rating.dtype == np.float32
    assert data.ratings.timestamp.dtype == np.int64
    assert data.occupations == ML1M_OCCUPATIONS
    assert data.genres == ML1M_GENRES


def test_value_domains() -> None:
    data = synthetic_movielens(seed=3)
    assert set(np.unique(data.users.gender)) <= {"M", "F"}
    assert set(np.unique(data.users.age)) <= set(AGE_BUCKETS)
    assert data.users.occupation.min() >= 0
    assert data.users.occupation.max() < len(ML1M_OCCUPATIONS)
    years = data.movies.year
    assert np.all((years == UNKNOWN_YEAR) | ((years >= 1930) & (years <= 2000)))
    for genres in data.movies.genres:
        assert isinstance(genres, tuple) and genres
        assert set(genres) <= set(ML1M_GENRES)
    for title in data.movies.title:
        assert isinstance(title, str) and title
        title.encode("latin-1")
        assert "::" not in title and "|" not in title and "\t" not in title
    assert set(np.unique(data.ratings.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert np.all(np.diff(data.ratings.timestamp) > 0)
    assert np.all(np.diff(data.movies.movie_id) > 0)


def test_no_duplicate_pairs_and_every_user_rates() -> None:
    data = synthetic_movielens(n_users=200, n_movies=50, n_ratings=5_000, seed=1)
    pairs = data.ratings.user_id * 1_000_000 + data.ratings.movie_id
    assert len(np.unique(pairs)) == len(pairs)
    per_user = np.bincount(data.ratings.user_id, minlength=201)[1:]
    assert per_user.min() >= 5
    assert set(data.ratings.movie_id) <= set(data.movies.movie_id)


def test_full_matrix_is_possible() -> None:
    data = synthetic_movielens(n_users=7, n_movies=4, n_ratings=28)
    pairs = data.ratings.user_id * 100 + data.ratings.movie_id
    assert len(np.unique(pairs)) == 28


def test_deterministic_per_seed() -> None:
    a = synthetic_movielens(seed=7)
    b = synthetic_movielens(seed=7)
    c = synthetic_movielens(seed=8)
    for name in ("user_id", "movie_id", "rating", "timestamp"):
        assert np.array_equal(getattr(a.ratings, name), getattr(b.ratings, name))
    assert list(a.movies.title) == list(b.movies.title)
    assert not np.array_equal(a.ratings.rating, c.ratings.rating)


def test_popularity_is_skewed() -> None:
    data = synthetic_movielens(n_users=1_000, n_movies=400, n_ratings=40_000)
    counts = np.sort(np.bincount(data.ratings.movie_id))[::-1]
    top_decile = counts[: len(data.movies) // 10].sum()
    assert top_decile > 0.25 * len(data.ratings)


def test_demographics_and_genres_carry_signal() -> None:
    data = synthetic_movielens(n_users=2_000, n_movies=300, n_ratings=100_000, seed=2)
    r = data.ratings
    user_pos = np.searchsorted(data.users.user_id, r.user_id)
    movie_pos = np.searchsorted(data.movies.movie_id, r.movie_id)
    gender = data.users.gender[user_pos]
    spreads = []
    for genre in ML1M_GENRES:
        has = np.array([genre in g for g in data.movies.genres])[movie_pos]
        men, women = has & (gender == "M"), has & (gender == "F")
        if men.sum() > 500 and women.sum() > 500:
            spreads.append(abs(r.rating[men].mean() - r.rating[women].mean()))
    assert max(spreads) > 0.2


def test_titles_share_words_with_genres() -> None:
    data = synthetic_movielens(n_movies=500)
    pairs = list(zip(data.movies.title, data.movies.genres, strict=True))
    horror = [t for t, g in pairs if g == ("Horror",)]
    comedy = [t for t, g in pairs if g == ("Comedy",)]
    horror_words = {w for t in horror for w in t.split()}
    comedy_words = {w for t in comedy for w in t.split()}
    assert horror and comedy
    assert len(horror_words & comedy_words) < 0.5 * min(len(horror_words), len(comedy_words))


@pytest.mark.parametrize(
    ("n_users", "n_movies", "n_ratings"),
    [(0, 10, 10), (10, 0, 10), (10, 10, 5), (3, 2, 7)],
)
def test_invalid_sizes(n_users: int, n_movies: int, n_ratings: int) -> None:
    with pytest.raises(ValidationError):
        synthetic_movielens(n_users=n_users, n_movies=n_movies, n_ratings=n_ratings)
