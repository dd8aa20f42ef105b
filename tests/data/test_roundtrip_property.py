"""Property: any writable data set survives write_movielens -> load_movielens exactly."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fusionrec.data import (
    AGE_BUCKETS,
    ML1M_GENRES,
    ML1M_OCCUPATIONS,
    MovieLens,
    Movies,
    Ratings,
    Users,
    load_movielens,
    write_movielens,
)

_TRAILING_YEAR = re.compile(r"\(\d{4}\)\s*$")

titles = st.text(
    alphabet=st.characters(
        min_codepoint=32, max_codepoint=255, blacklist_categories=("Cc",), blacklist_characters="|"
    ),
    min_size=1,
    max_size=20,
).filter(
    lambda t: (
        t == t.strip()
        and "::" not in t
        and not t.startswith(":")
        and not t.endswith(":")
        and not _TRAILING_YEAR.search(t)
    )
)


@st.composite
def datasets(draw: st.DrawFn) -> MovieLens:
    user_ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=6, unique=True))
    movie_ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=6, unique=True))
    n_users, n_movies = len(user_ids), len(movie_ids)
    users = Users(
        user_id=np.array(user_ids, dtype=np.int64),
        gender=np.array(
            draw(st.lists(st.sampled_from("MF"), min_size=n_users, max_size=n_users)), dtype="<U1"
        ),
        age=np.array(
            draw(st.lists(st.sampled_from(AGE_BUCKETS), min_size=n_users, max_size=n_users)),
            dtype=np.int64,
        ),
        occupation=np.array(
            draw(st.lists(st.integers(0, 20), min_size=n_users, max_size=n_users)), dtype=np.int64
        ),
    )
    title_array = np.empty(n_movies, dtype=object)
    title_array[:] = draw(st.lists(titles, min_size=n_movies, max_size=n_movies))
    genre_array = np.empty(n_movies, dtype=object)
    genre_array[:] = [
        tuple(g for g in ML1M_GENRES if g in chosen)
        for chosen in draw(
            st.lists(
                st.sets(st.sampled_from(ML1M_GENRES), max_size=4),
                min_size=n_movies,
                max_size=n_movies,
            )
        )
    ]
    years = draw(
        st.lists(
            st.one_of(st.just(0), st.integers(1000, 9999)), min_size=n_movies, max_size=n_movies
        )
    )
    movies = Movies(
        np.array(movie_ids, dtype=np.int64),
        title_array,
        np.array(years, dtype=np.int64),
        genre_array,
    )
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(user_ids),
                st.sampled_from(movie_ids),
                st.integers(1, 5),
                st.integers(0, 2**40),
            ),
            max_size=15,
            unique_by=lambda r: (r[0], r[1]),  # a repeated pair loads as its last rating
        )
    )
    ratings = Ratings(
        user_id=np.array([r[0] for r in rows], dtype=np.int64),
        movie_id=np.array([r[1] for r in rows], dtype=np.int64),
        rating=np.array([r[2] for r in rows], dtype=np.float32),
        timestamp=np.array([r[3] for r in rows], dtype=np.int64),
    )
    return MovieLens(users, movies, ratings, ML1M_OCCUPATIONS, ML1M_GENRES)


@settings(max_examples=40, deadline=None)
@given(data=datasets(), fmt=st.sampled_from(["ml-1m", "ml-100k"]), as_zip=st.booleans())
def test_write_load_round_trip(data: MovieLens, fmt: str, as_zip: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_movielens(data, Path(folder) / ("set.zip" if as_zip else "set"), fmt)  # type: ignore[arg-type]
        loaded = load_movielens(path, orphans="error")
    for table in ("users", "movies", "ratings"):
        left, right = getattr(data, table), getattr(loaded, table)
        for column in left.__dataclass_fields__:
            x, y = getattr(left, column), getattr(right, column)
            assert x.dtype == y.dtype
            assert x.tolist() == y.tolist(), (table, column)
    assert loaded.genres == data.genres
    assert loaded.occupations == data.occupations
