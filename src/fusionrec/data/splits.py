"""Train/test splits of the ratings; users, movies and vocabularies are shared by both sides.

:func:`random_split` and :func:`leave_last_out` split a :class:`MovieLens` or a
:class:`~fusionrec.data.dataset.Dataset` (whose interactions may lack ratings, timestamps or
integer ids) and return the type they got.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from fusionrec.data._source import Source
from fusionrec.data.dataset import Dataset, Interactions
from fusionrec.data.movielens import OrphanPolicy, apply_orphan_policy, read_catalog, read_ratings
from fusionrec.data.tables import MovieLens, Ratings
from fusionrec.errors import DataFormatError, ValidationError

#: Number of official ml-100k folds (u1.base/u1.test .. u5.base/u5.test).
N_OFFICIAL_FOLDS = 5

#: What the splits take and give back: a MovieLens data set or a generic Dataset.
Data = TypeVar("Data", MovieLens, Dataset)


def random_split(data: Data, test_fraction: float = 0.1, seed: int = 0) -> tuple[Data, Data]:
    """Hold out ``round(test_fraction * n)`` ratings (interactions) chosen uniformly at random.

    Both sides keep the original row order. Deterministic for a given seed.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValidationError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(_interactions(data))
    n_test = round(test_fraction * n)
    test_mask = np.zeros(n, dtype=bool)
    test_mask[np.random.default_rng(seed).permutation(n)[:n_test]] = True
    return _split(data, test_mask)


def leave_last_out(data: Data, n: int = 1) -> tuple[Data, Data]:
    """Per user, the ``n`` latest ratings (interactions) by timestamp form the test set.

    Ties in timestamp are broken by row order (a later row counts as later); interactions
    without timestamps go by row order alone. Users with ``n`` or fewer interactions stay
    wholly in train, so every test user also appears in train.
    """
    if n < 1:
        raise ValidationError(f"n must be at least 1, got {n}")
    r = _interactions(data)
    rows = np.arange(len(r))
    # user codes order as the ids do (ints numerically, strings lexically): lexsort needs numbers
    user = np.unique(r.user_id, return_inverse=True)[1].reshape(-1)
    keys = (rows, user) if r.timestamp is None else (rows, r.timestamp, user)
    order = np.lexsort(keys)
    users_sorted = user[order]
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


def _interactions(data: MovieLens | Dataset) -> Interactions | Ratings:
    if isinstance(data, Dataset):
        return data.interactions
    if isinstance(data, MovieLens):
        return data.ratings
    raise ValidationError(f"data must be a MovieLens or a Dataset, got {type(data).__name__}")


def _split(data: Data, test_mask: npt.NDArray[np.bool_]) -> tuple[Data, Data]:
    if isinstance(data, Dataset):
        r = data.interactions
        return data.with_interactions(r.take(~test_mask)), data.with_interactions(r.take(test_mask))
    return (
        data.with_ratings(data.ratings.take(~test_mask)),
        data.with_ratings(data.ratings.take(test_mask)),
    )
