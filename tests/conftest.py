"""Fixtures shared across the test tree: small synthetic data sets built in milliseconds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fusionrec import FaissStore, FusionRecommender, ModelConfig
from fusionrec.atomic import _manifest
from fusionrec.data import MovieLens, synthetic_movielens


@pytest.fixture(scope="session")
def tiny_data() -> MovieLens:
    """A few hundred ratings: enough to exercise every code path quickly."""
    return synthetic_movielens(n_users=60, n_movies=40, n_ratings=1_500, seed=7)


@pytest.fixture(scope="session")
def small_data() -> MovieLens:
    """A data set with enough planted structure for a model to learn in seconds."""
    return synthetic_movielens(n_users=400, n_movies=200, n_ratings=20_000, seed=3)


@pytest.fixture(scope="module")
def indexed_rec(tiny_data: MovieLens) -> FusionRecommender:
    """A recommender trained for one epoch on tiny data and indexed into an in-memory Faiss
    store: one per test module, so a module's writes never reach another's."""
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=1, seed=0), progress=False)
    rec.fit(tiny_data)
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    return rec


def reseal_directory(root: Path, pointer: str) -> Path:
    """Recompute the checksums in ``root/pointer`` after a test edited the version's files.

    It turns a damaged directory into a crafted one (consistent checksums), so tests reach the
    validators behind the checksum check. Returns the version's path.
    """
    header = json.loads((root / pointer).read_text(encoding="utf-8"))
    version = root / header["version"]
    header["files"] = _manifest(version)
    (root / pointer).write_text(json.dumps(header), encoding="utf-8")
    return version


@pytest.fixture(scope="session")
def reseal() -> Callable[[Path, str], Path]:
    """:func:`reseal_directory`, as a fixture for test modules."""
    return reseal_directory
