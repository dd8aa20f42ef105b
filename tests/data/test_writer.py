"""write_movielens: real file formats, atomic replacement, and what it refuses to write."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fusionrec.data import (
    AGE_BUCKETS,
    MovieLens,
    Movies,
    Ratings,
    age_to_bucket,
    load_movielens,
    write_movielens,
)
from fusionrec.data.writer import REPRESENTATIVE_AGE
from fusionrec.errors import ValidationError


def test_ml1m_file_layout(tmp_path: Path, small: MovieLens) -> None:
    folder = write_movielens(small, tmp_path / "out", "ml-1m")
    assert sorted(p.name for p in folder.iterdir()) == ["movies.dat", "ratings.dat", "users.dat"]
    first_user = (folder / "users.dat").read_text().splitlines()[0].split("::")
    assert len(first_user) == 5 and first_user[1] in ("M", "F")
    movie = (folder / "movies.dat").read_bytes().decode("latin-1").splitlines()[0].split("::")
    assert movie[1].endswith(f"({small.movies.year[0]})") or small.movies.year[0] == 0
    rating = (folder / "ratings.dat").read_text().splitlines()[0].split("::")
    assert [int(x) for x in rating] == [
        int(small.ratings.user_id[0]),
        int(small.ratings.movie_id[0]),
        int(small.ratings.rating[0]),
        int(small.ratings.timestamp[0]),
    ]


def test_ml100k_file_layout(tmp_path: Path, small: MovieLens) -> None:
    folder = write_movielens(small, tmp_path / "out", "ml-100k")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["u.data", "u.genre", "u.info", "u.item", "u.occupation", "u.user"]
    item = (folder / "u.item").read_bytes().decode("latin-1").splitlines()[0].split("|")
    assert len(item) == 5 + len(small.genres)
    assert len((folder / "u.data").read_text().splitlines()[0].split("\t")) == 4
    ages = [int(line.split("|")[1]) for line in (folder / "u.user").read_text().splitlines()]
    assert age_to_bucket(ages).tolist() == small.users.age.tolist()


def test_representative_ages_map_back() -> None:
    assert sorted(REPRESENTATIVE_AGE) == list(AGE_BUCKETS)
    for bucket, years in REPRESENTATIVE_AGE.items():
        assert int(age_to_bucket(years)) == bucket


def test_zip_has_top_folder(tmp_path: Path, small: MovieLens) -> None:
    archive = write_movielens(small, tmp_path / "ml-1m.zip", "ml-1m")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == [
            "ml-1m/movies.dat",
            "ml-1m/ratings.dat",
            "ml-1m/users.dat",
        ]


def test_existing_target_needs_overwrite(tmp_path: Path, small: MovieLens) -> None:
    folder = write_movielens(small, tmp_path / "out", "ml-1m")
    with pytest.raises(ValidationError, match="already exists"):
        write_movielens(small, folder, "ml-1m")
    write_movielens(small, folder, "ml-100k", overwrite=True)
    assert sorted(p.name for p in folder.iterdir())[0] == "u.data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp leftovers


def test_failed_write_leaves_nothing(tmp_path: Path, small: MovieLens) -> None:
    titles = small.movies.title.copy()
    titles[3] = "Bad|Title"
    bad = replace(small, movies=replace(small.movies, title=titles))
    with pytest.raises(ValidationError, match=r"title of movie \d+ contains '\|'"):
        write_movielens(bad, tmp_path / "out", "ml-100k")
    assert list(tmp_path.iterdir()) == []


def _with_movie(data: MovieLens, title: str, year: int) -> MovieLens:
    titles = data.movies.title.copy()
    years = data.movies.year.copy()
    titles[0], years[0] = title, year
    return replace(data, movies=Movies(data.movies.movie_id, titles, years, data.movies.genres))


@pytest.mark.parametrize(
    ("title", "year", "fmt", "words"),
    [
        ("Bad::Title", 1990, "ml-1m", "contains '::'"),
        ("Trailing:", 1990, "ml-1m", "ends with ':'"),
        ("Line\nbreak", 1990, "ml-100k", "contains"),
        ("Kanji 映画", 1990, "ml-1m", "Latin-1"),
        ("Remake (1990)", 0, "ml-1m", "no year but its title ends with one"),
        ("Padded ", 1990, "ml-1m", "ends with whitespace"),
        ("Ancient", 33, "ml-100k", "four-digit years"),
    ],
)
def test_unwritable_titles(
    tmp_path: Path, small: MovieLens, title: str, year: int, fmt: str, words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        write_movielens(_with_movie(small, title, year), tmp_path / "x", fmt)  # type: ignore[arg-type]


def test_unwritable_ratings_and_vocabularies(tmp_path: Path, small: MovieLens) -> None:
    half = small.ratings.rating.copy()
    half[0] = 3.5
    r = small.ratings
    with pytest.raises(ValidationError, match=r"whole numbers 1\.\.5"):
        write_movielens(
            small.with_ratings(Ratings(r.user_id, r.movie_id, half, r.timestamp)),
            tmp_path / "a",
        )
    other_occupations = replace(small, occupations=("a", *small.occupations[1:]))
    with pytest.raises(ValidationError, match="occupation"):
        write_movielens(other_occupations, tmp_path / "b", "ml-1m")
    assert len(load_movielens(write_movielens(other_occupations, tmp_path / "c", "ml-100k")).users)
    with pytest.raises(ValidationError, match="format must be"):
        write_movielens(small, tmp_path / "d", "ml-10m")  # type: ignore[arg-type]


def test_genre_missing_from_vocabulary(tmp_path: Path, small: MovieLens) -> None:
    genres = small.movies.genres.copy()
    genres[0] = ("Noir-ish",)
    m = small.movies
    odd = replace(small, movies=Movies(m.movie_id, m.title, m.year, genres))
    with pytest.raises(ValidationError, match=r"missing from data\.genres"):
        write_movielens(odd, tmp_path / "x", "ml-100k")
    # ml-1m stores genre names, so the reader extends its vocabulary instead.
    loaded = load_movielens(write_movielens(odd, tmp_path / "y", "ml-1m"))
    assert loaded.genres[-1] == "Noir-ish"
    assert any("Noir-ish" in note for note in loaded.notes)
    assert np.array_equal(loaded.movies.movie_id, m.movie_id)


def test_unwritable_users_and_vocabularies(tmp_path: Path, small: MovieLens) -> None:
    u = small.users
    ages = u.age.copy()
    ages[0] = 30
    bad_age = replace(small, users=replace(u, age=ages))
    for fmt in ("ml-1m", "ml-100k"):
        with pytest.raises(ValidationError, match="ml-1m buckets, got 30"):
            write_movielens(bad_age, tmp_path / fmt, fmt)  # type: ignore[arg-type]
    occupation = u.occupation.copy()
    occupation[0] = len(small.occupations)
    with pytest.raises(ValidationError, match="outside the occupation list"):
        write_movielens(
            replace(small, users=replace(u, occupation=occupation)), tmp_path / "o", "ml-100k"
        )
    with pytest.raises(ValidationError, match=r"vocabulary entry 'a\|b'"):
        write_movielens(
            replace(small, occupations=("a|b", *small.occupations[1:])), tmp_path / "v", "ml-100k"
        )
    assert list(tmp_path.iterdir()) == []
