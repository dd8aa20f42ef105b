"""Train/test splits of the ratings; users, movies and vocabularies are shared by both sides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from fusionrec.data._source import Source
from fusionrec.data.movielens import OrphanPolicy, apply_orphan_policy, read_catalog, read_ratings
from fusionrec.data.tables import MovieLens
from fusionrec.errors import DataFormatError, ValidationError

#: Number of official ml-100k folds (u1.base/u1.test .. u5.base/u5.test).
N_OFFICIAL_FOLDS = 5


def random_split(
    data: MovieLens, test_fraction: float = 0.1, seed: int = 0
) -> tuple[MovieLens, MovieLens]:
    """Hold out ``round(test_fraction * n)`` ratings chosen uniformly at random.

    Both sides keep the original row order. Deterministic for a given seed.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValidationError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(data.ratings)
    n_test = round(test_fraction * n)
    test_mask = np.zeros(n, dtype=bool)
    test_mask[np.random.default_rng(seed).permutation(n)[:n_test]] = True
    return _split(data, test_mask)


def leave_last_out(data: MovieLens, n: int = 1) -> tuple[MovieLens, MovieLens]:
    """Per user, the ``n`` latest ratings by timestamp form the test set.

    Ties in timestamp are broken by row order (a later row counts as later). Users with
    ``n`` or fewer ratings stay wholly in train, so every test user also appears in train.
    """
    if n < 1:
        raise ValidationError(f"n must be at least 1, got {n}")
    r = data.ratings
    rows = np.arange(len(r))
    order = np.lexsort((rows, r.timestamp, r.user_id))
    users_sorted = r.user_id[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    group_end = np.repeat(starts + counts, counts)
    from_end = group_end - np.arange(len(order))  # 1 for a user's latest rating
    in_test = (from_end <= n) & (np.repeat(counts, counts) > n)
    test_mask = np.zeros(len(r), dtype=bool)
    test_mask[order[in_test]] = True
    return _split(data, test_mask)


def official_folds(
    path: str | Path, *, orphans: OrphanPolicy = "drop"
) -> list[tuple[MovieLens, MovieLens]]:
    """The five official ml-100k folds ``u1.base``/``u1.test`` .. ``u5``, as (train, test).

    Users and movies come from the set's ``u.user`` and ``u.item``; orphan ratings follow
    the same policy as :func:`~fusionrec.data.load_movielens`.
    """
    with Source(path) as source:
        names = [
            f"u{i}.{part}" for i in range(1, N_OFFICIAL_FOLDS + 1) for part in ("base", "test")
        ]
        missing = [name for name in names if not source.exists(name)]
        if missing:
            raise DataFormatError(
                f"{source.path}: official folds are missing ({', '.join(missing)}); "
                "only ml-100k ships u1.base .. u5.test"
            )
        catalog = read_catalog(source, "ml-100k")
        pieces: list[MovieLens] = []
        for name in names:
            ratings, lines = read_ratings(source, name, "ml-100k")
            label = source.label(name)
            kept, dropped = apply_orphan_policy(ratings, lines, catalog, orphans, label)
            pieces.append(
                MovieLens(
                    users=catalog.users,
                    movies=catalog.movies,
                    ratings=kept,
                    occupations=catalog.occupations,
                    genres=catalog.genres,
                    source=f"{path} ({name})",
                    dropped_ratings=dropped,
                    notes=("format: ml-100k", *catalog.notes),
                )
            )
    return [(pieces[2 * i], pieces[2 * i + 1]) for i in range(N_OFFICIAL_FOLDS)]


def _split(data: MovieLens, test_mask: npt.NDArray[np.bool_]) -> tuple[MovieLens, MovieLens]:
    return (
        data.with_ratings(data.ratings.take(~test_mask)),
        data.with_ratings(data.ratings.take(test_mask)),
    )
