from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec import catalog
from fusionrec.data import MovieLens
from fusionrec.errors import ModelDirError


def test_users_round_trip(tmp_path: Path, tiny_data: MovieLens) -> None:
    catalog.save_users(tiny_data.users, tmp_path / "users.npz")
    back = catalog.load_users(tmp_path / "users.npz")
    for name in ("user_id", "gender", "age", "occupation"):
        np.testing.assert_array_equal(getattr(back, name), getattr(tiny_data.users, name))


def test_movies_round_trip_keeps_accents_and_genres(tmp_path: Path, tiny_data: MovieLens) -> None:
    movies = tiny_data.movies
    catalog.save_movies(movies, tmp_path / "movies.json")
    back = catalog.load_movies(tmp_path / "movies.json")
    assert back.title.tolist() == movies.title.tolist()
    assert back.genres.tolist() == movies.genres.tolist()
    np.testing.assert_array_equal(back.year, movies.year)


def test_merge_replaces_rows_with_the_same_id(tiny_data: MovieLens) -> None:
    movies = tiny_data.movies
    update = movies.take([0])
    update = type(update)(
        movie_id=update.movie_id,
        title=np.array(["Renamed"], dtype=object),
        year=update.year,
        genres=update.genres,
    )
    merged = catalog.merge_movies(movies, update)
    assert len(merged) == len(movies)
    assert merged.title[merged.movie_id == movies.movie_id[0]].tolist() == ["Renamed"]


def test_corrupt_files_raise_model_dir_error(tmp_path: Path) -> None:
    (tmp_path / "movies.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "users.npz").write_bytes(b"garbage")
    with pytest.raises(ModelDirError, match=r"movies\.json"):
        catalog.load_movies(tmp_path / "movies.json")
    with pytest.raises(ModelDirError, match=r"users\.npz"):
        catalog.load_users(tmp_path / "users.npz")
