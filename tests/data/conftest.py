"""Fixtures for the data tests: small synthetic data sets and helpers to write raw files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from fusionrec.data import MovieLens, synthetic_movielens


@pytest.fixture(scope="session")
def small() -> MovieLens:
    """A small synthetic data set (ml-1m vocabularies)."""
    return synthetic_movielens(n_users=60, n_movies=40, n_ratings=900, seed=5)


def _write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Create ``folder`` with the given files; str contents are encoded as Latin-1."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        payload = content.encode("latin-1") if isinstance(content, str) else content
        (folder / name).write_bytes(payload)
    return folder


def _assert_same_data(a: MovieLens, b: MovieLens) -> None:
    """The three tables (values and dtypes) and both vocabularies are identical."""
    for table in ("users", "movies", "ratings"):
        left, right = getattr(a, table), getattr(b, table)
        for column in fields(left):
            x, y = getattr(left, column.name), getattr(right, column.name)
            assert x.dtype == y.dtype, (table, column.name)
            assert x.tolist() == y.tolist(), (table, column.name)
    assert a.occupations == b.occupations
    assert a.genres == b.genres


WriteFiles = Callable[[Path, dict[str, "str | bytes"]], Path]
AssertSame = Callable[[MovieLens, MovieLens], None]


@pytest.fixture
def write_files() -> WriteFiles:
    """The helper that writes raw files into a folder."""
    return _write_files


@pytest.fixture
def assert_same() -> AssertSame:
    """The helper that compares two data sets table by table."""
    return _assert_same_data
