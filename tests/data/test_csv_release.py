"""The csv releases (ml-20m, ml-25m, ml-32m): exact loading, round trips, errors, policies."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fusionrec.data import (
    CSV_GENRES,
    DuplicateRatingsWarning,
    MovieLens,
    OrphanRatingsWarning,
    csv_release,
    load_movielens,
    load_movies_file,
    synthetic_csv_release,
    write_movielens,
)
from fusionrec.data.tables import UNKNOWN_AGE, UNKNOWN_GENDER, UNKNOWN_OCCUPATION, Ratings
from fusionrec.errors import DataFormatError, DataIntegrityError, ValidationError

RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "1,2,3.5,1112486027\n"
    "1,29,0.5,1112484676\n"
    "1,32,5.0,1112484819\n"
    "7,2,4.0,1094785740\n"
    "12,100,2.5,1094785741\n"
)
MOVIES = (
    "movieId,title,genres\n"
    '2,"Misérables, Les (1995)",Drama|Romance\n'
    '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Sci-Fi\n'
    '32,"Say ""Hello"" (2001)",(no genres listed)\n'
    "100,Babylon 5,Sci-Fi|Space Opera\n"
    "101,Heat (1995),Action|IMAX\n"
)
TAGS = (
    "userId,movieId,tag,timestamp\n"
    "5,2,Classic ,1\n"
    '6,2,"dark, gritty",2\n'
    "7,2,classic,3\n"
    "8,29,surreal,4\n"
    "9,999,orphan,5\n"
    '9,29,"  ",6\n'
)


@pytest.fixture
def ml25m_dir(tmp_path: Path, write_files) -> Path:
    files = {"ratings.csv": RATINGS, "movies.csv": MOVIES, "tags.csv": TAGS}
    return write_files(tmp_path / "ml-25m", {k: v.encode("utf-8") for k, v in files.items()})


@pytest.fixture(scope="module")
def csv_data() -> MovieLens:
    return synthetic_csv_release(n_users=60, n_movies=40, n_ratings=900, seed=5)


def test_hand_made_files_load_exactly(ml25m_dir: Path) -> None:
    data = load_movielens(ml25m_dir)
    assert (len(data.users), len(data.movies), len(data.ratings)) == (3, 5, 5)
    assert data.users.user_id.tolist() == [1, 7, 12]
    assert data.users.gender.tolist() == [UNKNOWN_GENDER] * 3
    assert data.users.age.tolist() == [UNKNOWN_AGE] * 3
    assert data.users.occupation.tolist() == [UNKNOWN_OCCUPATION] * 3
    assert data.occupations == () and not data.has_demographics
    r = data.ratings
    assert r.user_id.tolist() == [1, 1, 1, 7, 12]
    assert r.movie_id.tolist() == [2, 29, 32, 2, 100]
    assert r.rating.dtype == np.float32
    assert r.rating.tolist() == [3.5, 0.5, 5.0, 4.0, 2.5]
    assert r.timestamp.tolist() == [1112486027, 1112484676, 1112484819, 1094785740, 1094785741]
    m = data.movies
    assert m.title.tolist() == [
        "Misérables, Les",
        "City of Lost Children, The (Cité des enfants perdus, La)",
        'Say "Hello"',
        "Babylon 5",
        "Heat",
    ]
    assert m.year.tolist() == [1995, 1995, 2001, 0, 1995]
    assert m.genres.tolist() == [
        ("Drama", "Romance"),
        ("Adventure", "Sci-Fi"),
        (),
        ("Sci-Fi", "Space Opera"),
        ("Action", "IMAX"),
    ]
    assert m.tags.tolist() == [("classic", "dark, gritty"), ("surreal",), (), (), ()]
    assert data.genres == (*CSV_GENRES, "Space Opera")
    assert data.notes[0] == "format: ml-25m"
    assert any("Space Opera" in n for n in data.notes)
    assert any("ignored 1 tags of movies missing" in n for n in data.notes)
    assert any("ignored 1 blank tags" in n for n in data.notes)


def test_tags_file_is_optional(tmp_path: Path, write_files) -> None:
    folder = write_files(
        tmp_path / "ml",
        {
            "ratings.csv": RATINGS,
            "movies.csv": "movieId,title,genres\n"
            + "".join(f"{m},T,Drama\n" for m in (2, 29, 32, 100)),
        },
    )
    assert load_movielens(folder).movies.tags.tolist() == [(), (), (), ()]


def test_tags_most_applied_first_and_capped(tmp_path: Path, write_files) -> None:
    many = [f"t{i:02d}" for i in range(csv_release.MAX_TAGS + 5)]
    rows = [f"1,2,{t},0" for t in many] + ["1,2,t24,0", "1,2,T24,0", "2,2,t10,0"]
    folder = write_files(
        tmp_path / "ml",
        {
            "ratings.csv": "userId,movieId,rating,timestamp\n1,2,3.0,0\n",
            "movies.csv": "movieId,title,genres\n2,X (2000),Drama\n",
            "tags.csv": "userId,movieId,tag,timestamp\n" + "\n".join(rows) + "\n",
        },
    )
    data = load_movielens(folder)
    expected = ["t24", "t10", *[t for t in many if t not in ("t24", "t10")]]
    assert list(data.movies.tags[0]) == expected[: csv_release.MAX_TAGS]
    assert any(
        f"kept the {csv_release.MAX_TAGS} most applied tags of 1 movies" in n for n in data.notes
    )


def test_zip_with_top_folder(tmp_path: Path) -> None:
    archive = tmp_path / "ml-25m.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ml-25m/ratings.csv", RATINGS)
        z.writestr("ml-25m/movies.csv", MOVIES)
        z.writestr("ml-25m/tags.csv", TAGS)
        z.writestr("ml-25m/links.csv", "movieId,imdbId,tmdbId\n")
    data = load_movielens(archive)
    assert len(data.ratings) == 5 and data.movies.tags[0] == ("classic", "dark, gritty")


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_round_trip(tmp_path: Path, csv_data: MovieLens, assert_same, suffix: str) -> None:
    assert sorted(set(csv_data.ratings.rating.tolist())) == [x / 2 for x in range(1, 11)]
    assert any("," in t for t in csv_data.movies.title)
    assert sum(bool(t) for t in csv_data.movies.tags) > 10
    path = write_movielens(csv_data, tmp_path / f"ml-25m{suffix}", "ml-25m")
    assert_same(load_movielens(path), csv_data)


def test_fast_and_slow_paths_agree_across_chunks(
    tmp_path: Path, csv_data: MovieLens, write_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_movielens(csv_data, tmp_path / "regular", "ml-25m")
    regular = load_movielens(folder)
    lines = (folder / "ratings.csv").read_text().splitlines()
    u, m, stars, t = lines[300].split(",")
    lines[300] = f" {u} , {m},{stars} ,{t}\r"  # padding and CR: the per-line path
    u, m, stars, t = lines[302].split(",")
    lines[302] = f"{u},{m},{stars}000,{t}"  # 3.5000: zeros after the tenths are fine
    whole = next(i for i in range(310, len(lines)) if lines[i].split(",")[2].endswith(".0"))
    u, m, stars, t = lines[whole].split(",")
    lines[whole] = f"{u},{m},{stars[:-2]},{t}"  # "4" for "4.0"
    lines.insert(400, "")
    original = lines[301]
    u, m, stars, t = original.split(",")
    lines[301] = f"{u},{m},{stars.replace('.', '')}e-1,{t}"  # 35e-1 is not a rating
    (folder / "ratings.csv").write_text("\n".join(lines))
    monkeypatch.setattr(csv_release, "_CHUNK_BYTES", 700)
    with pytest.raises(DataFormatError, match=r"line 302: rating is not a half star"):
        load_movielens(folder)
    lines[301] = original
    (folder / "ratings.csv").write_text("\n".join(lines))  # and no final newline
    slow = csv_release._parse_slow
    calls: list[int] = []

    def counted(piece: bytes, label: str, first_line: int):  # type: ignore[no-untyped-def]
        calls.append(first_line)
        return slow(piece, label, first_line)

    monkeypatch.setattr(csv_release, "_parse_slow", counted)
    quirky = load_movielens(folder)
    for name in ("user_id", "movie_id", "rating", "timestamp"):
        assert getattr(quirky.ratings, name).tolist() == getattr(regular.ratings, name).tolist()
    assert 2 <= len(calls) < 10  # only the chunks with a quirk left the vectorized path


def test_bad_line_in_a_later_chunk_is_named(
    tmp_path: Path, csv_data: MovieLens, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_movielens(csv_data, tmp_path / "ml", "ml-25m")
    lines = (folder / "ratings.csv").read_text().splitlines(keepends=True)
    lines[700] = lines[700].replace(".", ".2", 1)  # e.g. 3.25: not a half star
    (folder / "ratings.csv").write_text("".join(lines))
    monkeypatch.setattr(csv_release, "_CHUNK_BYTES", 1000)
    with pytest.raises(DataFormatError, match=r"ratings\.csv, line 701: rating is not a half star"):
        load_movielens(folder)


@pytest.mark.parametrize(
    ("name", "line", "content", "message"),
    [
        ("ratings.csv", 2, "1,2,3.5\n", "expected 4 fields separated by ',', found 3"),
        ("ratings.csv", 3, "x,2,3.5,1\n", "userId is not an integer: 'x'"),
        ("ratings.csv", 3, "1,2,5.5,1\n", "rating 5.5 is not a half star in 0.5..5.0"),
        ("ratings.csv", 3, "1,2,0.0,1\n", "rating 0 is not a half star"),
        ("ratings.csv", 3, "1,2,3.25,1\n", "rating is not a half star in 0.5..5.0: '3.25'"),
        ("ratings.csv", 3, "1,2,good,1\n", "rating is not a half star in 0.5..5.0: 'good'"),
        (
            "ratings.csv",
            3,
            "1,2,3.5,99999999999999999999\n",
            "timestamp 99999999999999999999 does not fit in int64",
        ),
        ("movies.csv", 3, '29,"Unclosed, (1995),Drama\n', "bad csv quoting"),
        ("movies.csv", 3, "2,Again (1995),Drama\n", "duplicate movie id 2 (first on line 2)"),
        ("movies.csv", 3, "29,Two fields\n", "expected 3 fields separated by ',', found 2"),
        ("movies.csv", 3, "x29,Title,Drama\n", "movieId is not an integer"),
        ("tags.csv", 3, "1,abc,tag,1\n", "movieId is not an integer: 'abc'"),
        ("tags.csv", 3, "1,\uff11\uff12,tag,1\n", "movieId is not an integer: '\uff11\uff12'"),
    ],
)
def test_format_errors_name_file_and_line(
    tmp_path: Path, write_files, name: str, line: int, content: str, message: str
) -> None:
    base = {
        "ratings.csv": "userId,movieId,rating,timestamp\n1,2,3.5,1\n",
        "movies.csv": "movieId,title,genres\n2,A (1990),Drama\n",
        "tags.csv": "userId,movieId,tag,timestamp\n1,2,x,1\n",
    }
    body = base[name] if line == 3 else base[name].split("\n")[0] + "\n"
    folder = write_files(tmp_path / "ml", {**base, name: (body + content).encode("utf-8")})
    with pytest.raises(DataFormatError) as info:
        load_movielens(folder)
    assert f"{name}, line {line}: {message}" in str(info.value)


@pytest.mark.parametrize("name", ["ratings.csv", "movies.csv", "tags.csv"])
def test_wrong_header(tmp_path: Path, ml25m_dir: Path, name: str) -> None:
    path = ml25m_dir / name
    path.write_bytes(b"a,b,c,d\n" + path.read_bytes().split(b"\n", 1)[1])
    with pytest.raises(DataFormatError, match=rf"{name}, line 1: expected the header"):
        load_movielens(ml25m_dir)


def test_not_utf8_and_missing_movies(ml25m_dir: Path) -> None:
    (ml25m_dir / "movies.csv").write_bytes(MOVIES.encode("utf-8") + b"7,Caf\xe9 (1990),Drama\n")
    with pytest.raises(DataFormatError, match=r"movies\.csv, line 7: not UTF-8"):
        load_movielens(ml25m_dir)
    (ml25m_dir / "movies.csv").unlink()
    with pytest.raises(DataFormatError, match=r"movies\.csv: required file is missing"):
        load_movielens(ml25m_dir)


def test_duplicates_and_orphans_follow_the_policies(tmp_path: Path, write_files) -> None:
    ratings = "userId,movieId,rating,timestamp\n2,2,1.0,1\n1,2,2.0,2\n2,2,4.5,3\n1,77,3.0,4\n"
    folder = write_files(
        tmp_path / "ml",
        {"ratings.csv": ratings, "movies.csv": "movieId,title,genres\n2,A (1990),Drama\n"},
    )
    with pytest.warns(DuplicateRatingsWarning), pytest.warns(OrphanRatingsWarning):
        data = load_movielens(folder)
    assert data.ratings.rating.tolist() == [2.0, 4.5]
    assert data.ratings.user_id.tolist() == [1, 2]
    assert data.dropped_ratings == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataIntegrityError, match="lines 2 and 4"):
            load_movielens(folder, duplicates="error")
        with pytest.raises(DataIntegrityError, match="line 5: user 1, movie 77"):
            load_movielens(folder, orphans="error")


def test_writer_refuses_what_would_not_read_back(tmp_path: Path, csv_data: MovieLens) -> None:
    r = csv_data.ratings
    quarter = r.rating.copy()
    quarter[0] = 3.25
    with pytest.raises(ValidationError, match="half stars"):
        write_movielens(
            csv_data.with_ratings(Ratings(r.user_id, r.movie_id, quarter, r.timestamp)),
            tmp_path / "a",
            "ml-25m",
        )
    tags = csv_data.movies.tags.copy()
    tags[1] = ("Upper",)
    movies = type(csv_data.movies)(
        csv_data.movies.movie_id,
        csv_data.movies.title,
        csv_data.movies.year,
        csv_data.movies.genres,
        tags,
    )
    bad_tags = MovieLens(csv_data.users, movies, r, occupations=(), genres=csv_data.genres)
    with pytest.raises(ValidationError, match="not lowercase"):
        write_movielens(bad_tags, tmp_path / "b", "ml-25m")
    lonely = csv_data.with_ratings(r.take(r.user_id != csv_data.users.user_id[0]))
    with pytest.raises(ValidationError, match="every user needs a rating"):
        write_movielens(lonely, tmp_path / "c", "ml-25m")
    assert not any(p.exists() for p in (tmp_path / "a", tmp_path / "b", tmp_path / "c"))


def test_load_movies_file(ml25m_dir: Path, tmp_path: Path) -> None:
    movies = load_movies_file(ml25m_dir / "movies.csv")
    assert movies.title.tolist()[0] == "Misérables, Les"
    assert movies.tags[0] == ("classic", "dark, gritty")  # from the tags.csv beside it
    renamed = tmp_path / "catalog.txt"
    renamed.write_bytes((ml25m_dir / "movies.csv").read_bytes())
    alone = load_movies_file(renamed)  # by its header; no tags.csv beside it
    assert alone.movie_id.tolist() == movies.movie_id.tolist()
    assert alone.tags.tolist() == [()] * len(movies)
