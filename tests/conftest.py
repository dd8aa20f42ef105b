"""Fixtures shared across the test tree: small synthetic data sets built in milliseconds."""

from __future__ import annotations

import pytest

from fusionrec.data import MovieLens, synthetic_movielens


@pytest.fixture(scope="session")
def tiny_data() -> MovieLens:
    """A few hundred ratings: enough to exercise every code path quickly."""
    return synthetic_movielens(n_users=60, n_movies=40, n_ratings=1_500, seed=7)


@pytest.fixture(scope="session")
def small_data() -> MovieLens:
    """A data set with enough planted structure for a model to learn in seconds."""
    return synthetic_movielens(n_users=400, n_movies=200, n_ratings=20_000, seed=3)
