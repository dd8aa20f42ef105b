"""Synthetic MovieLens-shaped data with planted structure, for tests, examples and benchmarks.

Real MovieLens files may not be redistributed, so tests and demos use this generator. The data
is learnable on purpose: user tastes follow demographics, movie factors follow genres, titles
share words with their genres and popularity is Zipf-skewed, so a model that uses the features
beats one that does not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import (
    AGE_BUCKETS,
    CSV_GENRES,
    ML1M_GENRES,
    ML1M_OCCUPATIONS,
    UNKNOWN_YEAR,
    MovieLens,
    Movies,
    Ratings,
    Users,
)
from fusionrec.errors import ValidationError

#: Latent dimension of the planted tastes and movie factors.
LATENT_DIM = 8

#: Words typical of each genre (same order as ``ML1M_GENRES``); titles draw from them.
GENRE_WORDS: tuple[tuple[str, ...], ...] = (
    ("Strike", "Bullet", "Fury", "Mission", "Target", "Blast"),
    ("Quest", "Island", "Treasure", "Journey", "Expedition", "Lost"),
    ("Toon", "Bunny", "Magic", "Kingdom", "Dragon", "Tale"),
    ("Puppy", "Kids", "Little", "Friends", "Holiday", "School"),
    ("Wedding", "Crazy", "Party", "Silly", "Buddies", "Vacation"),
    ("Heist", "Mob", "Gangster", "Deal", "Cop", "Street"),
    ("Story", "Life", "Nature", "Truth", "Voices", "Portrait"),
    ("Heart", "Family", "Tears", "Years", "Letters", "Promise"),
    ("Wizard", "Realm", "Sword", "Spell", "Enchanted", "Fairy"),
    ("Shadow", "Dame", "Night", "Smoke", "Rain", "Alley"),
    ("Blood", "Scream", "Nightmare", "Haunting", "Curse", "Zombie"),
    ("Song", "Dance", "Melody", "Broadway", "Rhythm", "Café"),
    ("Secret", "Clue", "Riddle", "Puzzle", "Stranger", "Vanishing"),
    ("Love", "Kiss", "Paris", "Amour", "Romance", "Noël"),
    ("Star", "Galaxy", "Robot", "Planet", "Alien", "Future"),
    ("Danger", "Edge", "Fear", "Hunt", "Pursuit", "Silent"),
    ("Battle", "Soldier", "Front", "Victory", "Platoon", "Empire"),
    ("Outlaw", "Frontier", "Ranch", "Sheriff", "Gun", "Canyon"),
)

#: Genre-neutral words mixed into titles (Latin-1 accents included on purpose).
COMMON_WORDS: tuple[str, ...] = (
    "City",
    "Man",
    "Woman",
    "Day",
    "Return",
    "Last",
    "Big",
    "Blue",
    "House",
    "King",
    "Road",
    "Summer",
    "Dark",
    "Time",
    "Señor",
    "Über",
)

_AGE_PROBS = (0.04, 0.18, 0.35, 0.20, 0.09, 0.08, 0.06)
_FIRST_TIMESTAMP = 956_703_932  # 2000-04-25, where ml-1m starts


def synthetic_movielens(
    n_users: int = 500,
    n_movies: int = 300,
    n_ratings: int = 20_000,
    seed: int = 0,
) -> MovieLens:
    """A deterministic synthetic data set in the shared schema (ml-1m genres and occupations).

    Ratings are integers 1..5 (float32) from user bias + movie bias + taste·factor + noise,
    where tastes derive from gender, age bucket and occupation and factors from genres.
    Every user gets at least ``min(5, n_ratings // n_users, n_movies)`` ratings; no
    (user, movie) pair repeats; rows are sorted by strictly increasing timestamp.
    """
    _validate(n_users, n_movies, n_ratings)
    rng = np.random.default_rng(seed)
    n_genres = len(ML1M_GENRES)

    users, taste = _make_users(rng, n_users)
    movies, factor, popularity = _make_movies(rng, n_movies, n_genres)
    user_idx, movie_idx = _sample_pairs(rng, n_users, n_movies, n_ratings, popularity)

    user_bias = rng.normal(0.0, 0.35, n_users)
    log_pop = np.log(popularity)
    movie_bias = 0.25 * (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9)
    movie_bias += rng.normal(0.0, 0.3, n_movies)
    affinity = 0.5 * np.einsum("ij,ij->i", taste[user_idx], factor[movie_idx])
    noise = rng.normal(0.0, 0.5, len(user_idx))
    raw = 3.3 + user_bias[user_idx] + movie_bias[movie_idx] + affinity + noise
    rating = np.clip(np.rint(raw), 1, 5).astype(np.float32)

    gaps = rng.integers(1, 180, len(user_idx), dtype=np.int64)
    timestamp = _FIRST_TIMESTAMP + np.cumsum(gaps)
    ratings = Ratings(
        user_id=users.user_id[user_idx],
        movie_id=movies.movie_id[movie_idx],
        rating=rating,
        timestamp=timestamp,
    )
    return MovieLens(
        users=users,
        movies=movies,
        ratings=ratings,
        occupations=ML1M_OCCUPATIONS,
        genres=ML1M_GENRES,
        source=f"synthetic(seed={seed})",
        notes=(
            f"synthetic: n_users={n_users} n_movies={n_movies} n_ratings={n_ratings} "
            f"seed={seed} latent_dim={LATENT_DIM}",
        ),
    )


def synthetic_csv_release(
    n_users: int = 500,
    n_movies: int = 300,
    n_ratings: int = 20_000,
    seed: int = 0,
) -> MovieLens:
    """:func:`synthetic_movielens` shaped like ml-20m/25m/32m: users are ids only, ratings
    half stars, genres the csv releases' names, and movies carry lowercase tags.

    A deterministic 40% of the ratings lose half a star (5 -> 4.5, ..., 1 -> 0.5); a movie's
    tags are its genre names lowercased, plus ``"classic"`` before 1970; every tenth movie
    has none.
    """
    base = synthetic_movielens(n_users, n_movies, n_ratings, seed)
    rng = np.random.default_rng(seed + 1)
    rating = base.ratings.rating - np.float32(0.5) * (rng.random(len(base.ratings)) < 0.4)
    renamed = {"Children's": "Children"}
    genres = np.empty(len(base.movies), dtype=object)
    genres[:] = [tuple(renamed.get(g, g) for g in row) for row in base.movies.genres]
    tags = np.empty(len(base.movies), dtype=object)
    for i, (row, year) in enumerate(zip(genres, base.movies.year.tolist(), strict=True)):
        old = ("classic",) if UNKNOWN_YEAR < year < 1970 else ()
        tags[i] = () if i % 10 == 0 else (*(g.lower() for g in row), *old)
    movies = Movies(
        movie_id=base.movies.movie_id,
        title=base.movies.title,
        year=base.movies.year,
        genres=genres,
        tags=tags,
    )
    ratings = Ratings(
        user_id=base.ratings.user_id,
        movie_id=base.ratings.movie_id,
        rating=rating.astype(np.float32),
        timestamp=base.ratings.timestamp,
    )
    return MovieLens(
        users=Users(user_id=base.users.user_id),
        movies=movies,
        ratings=ratings,
        occupations=(),
        genres=CSV_GENRES,
        source=f"synthetic-csv(seed={seed})",
        notes=(*base.notes, "csv release: half stars, tags, no demographics"),
    )


def _validate(n_users: int, n_movies: int, n_ratings: int) -> None:
    if n_users < 1 or n_movies < 1:
        raise ValidationError(f"need n_users >= 1 and n_movies >= 1, got {n_users}, {n_movies}")
    if n_ratings < n_users:
        raise ValidationError(
            f"n_ratings={n_ratings} is below n_users={n_users}: every user needs a rating"
        )
    if n_ratings > n_users * n_movies:
        raise ValidationError(
            f"n_ratings={n_ratings} exceeds n_users * n_movies = {n_users * n_movies} "
            "(no duplicate pairs are generated)"
        )


def _make_users(rng: np.random.Generator, n: int) -> tuple[Users, npt.NDArray[np.float64]]:
    """Users with demographics and a latent taste that is mostly explained by them."""
    gender_idx = (rng.random(n) < 0.28).astype(np.int64)  # 1 = "F"
    age_idx = rng.choice(len(AGE_BUCKETS), size=n, p=_AGE_PROBS)
    occupation = rng.integers(0, len(ML1M_OCCUPATIONS), n, dtype=np.int64)
    scale = 0.45
    w_gender = rng.normal(0.0, scale, (2, LATENT_DIM))
    w_age = rng.normal(0.0, scale, (len(AGE_BUCKETS), LATENT_DIM))
    w_occ = rng.normal(0.0, scale, (len(ML1M_OCCUPATIONS), LATENT_DIM))
    taste = w_gender[gender_idx] + w_age[age_idx] + w_occ[occupation]
    taste += rng.normal(0.0, 0.3, (n, LATENT_DIM))
    user_id = np.arange(1, n + 1, dtype=np.int64)
    users = Users(
        user_id=user_id,
        gender=np.array(["M", "F"])[gender_idx].astype("<U1"),
        age=np.asarray(AGE_BUCKETS, dtype=np.int64)[age_idx],
        occupation=occupation,
        zip_code=np.array(
            [f"{u * 7919 % 100_000:05d}" for u in user_id.tolist()], dtype=object
        ),  # derived from the id: no random draws, so the rest of the data is unchanged
    )
    return users, taste


def _make_movies(
    rng: np.random.Generator, n: int, n_genres: int
) -> tuple[Movies, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Movies with 1-3 genres, a genre-driven latent factor, Zipf popularity and a title."""
    genre_weight = rng.dirichlet(np.full(n_genres, 1.5))
    primary = rng.choice(n_genres, size=n, p=genre_weight)
    genre_matrix = np.zeros((n, n_genres), dtype=bool)
    genre_matrix[np.arange(n), primary] = True
    for _ in range(2):
        extra = rng.choice(n_genres, size=n, p=genre_weight)
        genre_matrix[np.arange(n), extra] |= rng.random(n) < 0.45

    v_genre = rng.normal(0.0, 0.6, (n_genres, LATENT_DIM))
    counts = genre_matrix.sum(axis=1, keepdims=True)
    factor = (genre_matrix @ v_genre) / np.sqrt(counts)
    factor += rng.normal(0.0, 0.25, (n, LATENT_DIM))

    rank = rng.permutation(n)
    popularity = np.power(rank + 1.0, -0.9, dtype=np.float64)

    year = np.clip(np.rint(2000 - rng.gamma(1.6, 9.0, n)), 1930, 2000).astype(np.int64)
    year[rng.random(n) < 0.01] = UNKNOWN_YEAR
    id_span = n + max(1, n // 15)
    movie_id = np.sort(rng.choice(id_span, size=n, replace=False)).astype(np.int64) + 1

    genre_names = np.empty(n, dtype=object)
    genre_names[:] = [tuple(ML1M_GENRES[g] for g in np.flatnonzero(row)) for row in genre_matrix]
    movies = Movies(
        movie_id=movie_id,
        title=_make_titles(rng, primary, genre_matrix),
        year=year,
        genres=genre_names,
    )
    return movies, factor, popularity


def _make_titles(
    rng: np.random.Generator, primary: npt.NDArray[np.int64], genre_matrix: npt.NDArray[np.bool_]
) -> npt.NDArray[np.object_]:
    """Titles of 1-4 words, most drawn from the movie's genres, some with ml-style quirks."""
    n = len(primary)
    n_words = rng.integers(1, 5, n)
    per_genre = len(GENRE_WORDS[0])
    genre_pick = rng.integers(0, per_genre, (n, 4))
    common_pick = rng.integers(0, len(COMMON_WORDS), (n, 4))
    use_common = rng.random((n, 4)) < 0.3
    use_secondary = rng.random((n, 4)) < 0.4
    article = rng.random(n)
    sequel = rng.random(n) < 0.05
    titles = np.empty(n, dtype=object)
    for i in range(n):
        own = np.flatnonzero(genre_matrix[i])
        words = []
        for j in range(int(n_words[i])):
            if j > 0 and use_common[i, j]:
                words.append(COMMON_WORDS[common_pick[i, j]])
                continue
            g = own[genre_pick[i, j] % len(own)] if use_secondary[i, j] else primary[i]
            words.append(GENRE_WORDS[g][genre_pick[i, j]])
        title = " ".join(words)
        if article[i] < 0.15:
            title += ", The"
        elif article[i] < 0.2:
            title = "A " + title
        if sequel[i]:
            title += " II"
        titles[i] = title
    return titles


def _sample_pairs(
    rng: np.random.Generator,
    n_users: int,
    n_movies: int,
    n_ratings: int,
    popularity: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct (user, movie) index pairs: skewed user activity, popularity-weighted movies.

    Per user, movies are drawn without replacement by the Gumbel top-k trick, in chunks of
    users so memory stays bounded. Returned pairs are shuffled (they become time order).
    """
    counts = _activity(rng, n_users, n_movies, n_ratings)
    log_pop = np.log(popularity).astype(np.float32)
    user_parts: list[npt.NDArray[np.int64]] = []
    movie_parts: list[npt.NDArray[np.int64]] = []
    chunk = max(1, 4_000_000 // n_movies)
    for start in range(0, n_users, chunk):
        stop = min(n_users, start + chunk)
        c = counts[start:stop]
        uniform = rng.random((stop - start, n_movies), dtype=np.float32)
        np.maximum(uniform, np.finfo(np.float32).tiny, out=uniform)
        keys = log_pop - np.log(-np.log(uniform))
        order = np.argsort(-keys, axis=1)
        keep = np.arange(n_movies)[None, :] < c[:, None]
        rows, cols = np.nonzero(keep)
        user_parts.append(rows.astype(np.int64) + start)
        movie_parts.append(order[rows, cols].astype(np.int64))
    user_idx = np.concatenate(user_parts)
    movie_idx = np.concatenate(movie_parts)
    shuffle = rng.permutation(len(user_idx))
    return user_idx[shuffle], movie_idx[shuffle]


def _activity(
    rng: np.random.Generator, n_users: int, n_movies: int, n_ratings: int
) -> npt.NDArray[np.int64]:
    """Ratings per user: a floor for everyone plus a lognormal-skewed share, capped at n_movies."""
    floor = min(5, n_ratings // n_users, n_movies)
    counts = np.full(n_users, floor, dtype=np.int64)
    weight = rng.lognormal(0.0, 1.0, n_users)
    remaining = n_ratings - int(counts.sum())
    while remaining > 0:
        room = n_movies - counts
        w = np.where(room > 0, weight, 0.0)
        counts += rng.multinomial(remaining, w / w.sum())
        over = np.maximum(counts - n_movies, 0)
        counts -= over
        remaining = int(over.sum())
    return counts
