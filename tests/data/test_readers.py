"""load_movielens on hand-made files: both formats, zip input, quirks, errors, orphan policy."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from fusionrec.data import (
    ML1M_GENRES,
    ML1M_OCCUPATIONS,
    ML100K_GENRES,
    ML100K_OCCUPATIONS,
    MovieLens,
    OrphanRatingsWarning,
    load_movielens,
    write_movielens,
)
from fusionrec.errors import DataFormatError, DataIntegrityError, ValidationError

ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n"
ML1M_MOVIES = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "2::Misérables, Les (1995)::Drama|Musical\n"
    "3::City of Lost Children, The (Cité des enfants perdus, La) (1995)::Adventure|Sci-Fi\n"
    "4::Untitled Project::Drama\n"
)
ML1M_RATINGS = "1::1::5::978300760\n1::2::3::978302109\n2::3::4::978301968\n3::4::1::978300275\n"

ML100K_USERS = "1|24|M|technician|85711\n2|53|F|other|94043\n3|17|M|student|32067\n"


def _item(mid: int, title: str, date: str, genres: tuple[int, ...]) -> str:
    flags = ["1" if i in genres else "0" for i in range(19)]
    return f"{mid}|{title}|{date}||http://x|{'|'.join(flags)}\n"


ML100K_ITEMS = (
    _item(1, "Toy Story (1995)", "01-Jan-1995", (3, 4, 5))
    + _item(2, "Misérables, Les (1995)", "01-Jan-1995", (8,))
    + _item(3, "unknown", "", (0,))
    + _item(4, "Heidi Fleiss: Hollywood Madam (1995) ", "09-Feb-1996", (7,))
    + _item(5, "Land Before Time III (1995) (V)", "01-Jan-1995", (3,))
)
ML100K_DATA = "1\t1\t5\t881250949\n2\t2\t3\t881250950\n3\t5\t4\t881250951\n1\t3\t2\t881250952\n"


@pytest.fixture
def ml1m_dir(tmp_path: Path, write_files) -> Path:
    return write_files(
        tmp_path / "ml-1m",
        {"users.dat": ML1M_USERS, "movies.dat": ML1M_MOVIES, "ratings.dat": ML1M_RATINGS},
    )


@pytest.fixture
def ml100k_dir(tmp_path: Path, write_files) -> Path:
    return write_files(
        tmp_path / "ml-100k",
        {"u.user": ML100K_USERS, "u.item": ML100K_ITEMS, "u.data": ML100K_DATA},
    )


def test_ml1m_hand_made(ml1m_dir: Path) -> None:
    data = load_movielens(ml1m_dir)
    assert data.users.user_id.tolist() == [1, 2, 3]
    assert data.users.gender.tolist() == ["F", "M", "M"]
    assert data.users.age.tolist() == [1, 56, 25]
    assert data.users.occupation.tolist() == [10, 16, 15]
    assert data.movies.title.tolist() == [
        "Toy Story",
        "Misérables, Les",
        "City of Lost Children, The (Cité des enfants perdus, La)",
        "Untitled Project",
    ]
    assert data.movies.year.tolist() == [1995, 1995, 1995, 0]
    assert data.movies.genres[0] == ("Animation", "Children's", "Comedy")
    assert data.ratings.rating.dtype == np.float32
    assert data.ratings.rating.tolist() == [5.0, 3.0, 4.0, 1.0]
    assert data.ratings.timestamp.tolist()[0] == 978300760
    assert data.occupations == ML1M_OCCUPATIONS
    assert data.genres == ML1M_GENRES
    assert data.dropped_ratings == 0
    assert "format: ml-1m" in data.notes


def test_ml100k_hand_made(ml100k_dir: Path) -> None:
    data = load_movielens(ml100k_dir)
    assert data.users.age.tolist() == [18, 50, 1]
    assert data.users.occupation.tolist() == [
        ML100K_OCCUPATIONS.index("technician"),
        ML100K_OCCUPATIONS.index("other"),
        ML100K_OCCUPATIONS.index("student"),
    ]
    assert data.occupations == ML100K_OCCUPATIONS
    assert data.genres == ML100K_GENRES
    assert data.movies.title.tolist() == [
        "Toy Story",
        "Misérables, Les",
        "unknown",
        "Heidi Fleiss: Hollywood Madam",
        "Land Before Time III (1995) (V)",
    ]
    # No year in the title: the release date supplies it; neither: unknown (0).
    assert data.movies.year.tolist() == [1995, 1995, 0, 1995, 1995]
    assert data.movies.genres[0] == ("Animation", "Children's", "Comedy")
    assert data.movies.genres[2] == ("unknown",)
    assert data.ratings.movie_id.tolist() == [1, 2, 5, 3]


def test_ml100k_vocabulary_files_win(ml100k_dir: Path, write_files) -> None:
    occupations = ["other", "student", "technician"]
    genres = [f"G{i}" for i in range(19)]
    write_files(
        ml100k_dir,
        {
            "u.occupation": "\n".join(occupations) + "\n",
            "u.genre": "".join(f"{g}|{i}\n" for i, g in enumerate(genres)) + "\n",
        },
    )
    data = load_movielens(ml100k_dir)
    assert data.occupations == tuple(occupations)
    assert data.users.occupation.tolist() == [2, 0, 1]
    assert data.genres == tuple(genres)
    assert data.movies.genres[1] == ("G8",)


def test_quirks_crlf_blank_lines_no_final_newline(tmp_path: Path, write_files) -> None:
    def quirky(text: str) -> str:
        lines = text.strip("\n").split("\n")
        return "\r\n\r\n".join(lines) + "\r\n  \n"

    folder = write_files(
        tmp_path / "quirky",
        {
            "users.dat": quirky(ML1M_USERS),
            "movies.dat": quirky(ML1M_MOVIES),
            "ratings.dat": ML1M_RATINGS.replace("\n", "\r\n").rstrip("\r\n"),
        },
    )
    loaded = load_movielens(folder)
    assert len(loaded.users) == 3
    assert loaded.movies.title.tolist()[1] == "Misérables, Les"
    assert loaded.ratings.user_id.tolist() == [1, 1, 2, 3]
    folder2 = write_files(tmp_path / "blank", {"ratings.dat": "\n" + ML1M_RATINGS + "\n\n"})
    write_files(folder2, {"users.dat": ML1M_USERS, "movies.dat": ML1M_MOVIES})
    assert load_movielens(folder2).ratings.timestamp.tolist() == [
        978300760,
        978302109,
        978301968,
        978300275,
    ]


def test_latin1_bytes_decode(ml1m_dir: Path) -> None:
    raw = (ml1m_dir / "movies.dat").read_bytes()
    assert b"Mis\xe9rables" in raw
    assert load_movielens(ml1m_dir).movies.title[1] == "Misérables, Les"


@pytest.mark.parametrize("top_folder", ["ml-1m/", ""])
def test_zip_input(tmp_path: Path, top_folder: str) -> None:
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        if top_folder:
            zf.writestr(top_folder, "")
        for name, text in (
            ("users.dat", ML1M_USERS),
            ("movies.dat", ML1M_MOVIES),
            ("ratings.dat", ML1M_RATINGS),
        ):
            zf.writestr(top_folder + name, text.encode("latin-1"))
        zf.writestr("README", "not data")
    data = load_movielens(archive)
    assert len(data.ratings) == 4
    assert data.movies.title[1] == "Misérables, Les"


def test_unpacked_archive_folder_is_found(tmp_path: Path, small: MovieLens) -> None:
    write_movielens(small, tmp_path / "outer" / "ml-100k", "ml-100k")
    assert len(load_movielens(tmp_path / "outer").ratings) == len(small.ratings)


@pytest.mark.parametrize("fmt", ["ml-1m", "ml-100k"])
@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_round_trip(tmp_path: Path, small: MovieLens, assert_same, fmt: str, suffix: str) -> None:
    path = write_movielens(small, tmp_path / f"{fmt}{suffix}", fmt)  # type: ignore[arg-type]
    loaded = load_movielens(path)
    assert_same(small, loaded)
    assert loaded.dropped_ratings == 0


def test_round_trip_of_loaded_ml100k(tmp_path: Path, ml100k_dir: Path, assert_same) -> None:
    data = load_movielens(ml100k_dir)
    again = load_movielens(write_movielens(data, tmp_path / "copy", "ml-100k"))
    assert_same(data, again)


# (file, replacement content, expected line, expected words)
ML1M_ERRORS = [
    ("ratings.dat", "1::1::5::978300760\n1::2::3\n", 2, "expected 4 fields"),
    ("ratings.dat", "1::1::5::978300760\n1::2::3::4::5\n", 2, "found 5"),
    ("ratings.dat", "1::1::5::978300760\n\n1::x::3::978300760\n", 3, "movie id is not an integer"),
    ("ratings.dat", "1::1::4.5::978300760\n", 1, "rating is not an integer"),
    ("ratings.dat", "1::1::5::1\n2::3::4::2\n3::4::6::3\n", 3, "rating 6 is outside 1..5"),
    ("ratings.dat", "\n1::1::0::1\n", 2, "rating 0 is outside 1..5"),
    ("ratings.dat", "1::1::5::\n", 1, "timestamp is not an integer"),
    ("users.dat", "1::F::1::10::48067\n2::X::56::16::70072\n", 2, "bad gender"),
    ("users.dat", "1::F::17::10::48067\n", 1, "not an ml-1m age bucket"),
    ("users.dat", "1::F::18::21::48067\n", 1, "occupation 21 is outside 0..20"),
    ("users.dat", "1::F::18::2\n", 1, "expected 5 fields"),
    ("users.dat", "1::F::18::2::1\n\n1::M::18::2::1\n", 3, "duplicate user id 1 (first on line 1)"),
    ("movies.dat", "1::A (1990)::Drama\n1::B (1991)::Drama\n", 2, "duplicate movie id 1"),
    ("movies.dat", "1::A (1990)\n", 1, "expected 3 fields"),
    ("movies.dat", "one::A (1990)::Drama\n", 1, "movie id is not an integer"),
]


@pytest.mark.parametrize(("name", "content", "line", "words"), ML1M_ERRORS)
def test_ml1m_format_errors(
    ml1m_dir: Path, write_files, name: str, content: str, line: int, words: str
) -> None:
    write_files(ml1m_dir, {name: content})
    with pytest.raises(DataFormatError) as info:
        load_movielens(ml1m_dir, orphans="drop")
    message = str(info.value)
    assert str(ml1m_dir / name) in message
    assert f"line {line}:" in message
    assert words in message


ML100K_ERRORS = [
    ("u.user", "1|24|M|astronaut|85711\n", 1, "unknown occupation 'astronaut'"),
    ("u.user", "1|-3|M|other|85711\n", 1, "age -3 is negative"),
    ("u.user", "1|old|M|other|85711\n", 1, "age is not an integer"),
    ("u.item", "1|Toy Story (1995)|01-Jan-1995||x|0|1\n", 1, "expected 24 fields"),
    ("u.item", _item(1, "A (1990)", "", ()).replace("|0\n", "|2\n"), 1, "genre flags"),
    ("u.data", "1\t1\t5\t1\n1 1 5 2\n", 2, "expected 4 fields separated by 'tab'"),
    ("u.genre", "unknown|0\nAction|0\n", 2, "duplicate genre id 0"),
]


@pytest.mark.parametrize(("name", "content", "line", "words"), ML100K_ERRORS)
def test_ml100k_format_errors(
    ml100k_dir: Path, write_files, name: str, content: str, line: int, words: str
) -> None:
    write_files(ml100k_dir, {name: content})
    with pytest.raises(DataFormatError) as info:
        load_movielens(ml100k_dir)
    message = str(info.value)
    assert str(ml100k_dir / name) in message
    assert f"line {line}:" in message
    assert words in message


def test_bad_genre_ids(ml100k_dir: Path, write_files) -> None:
    write_files(ml100k_dir, {"u.genre": "unknown|0\nAction|2\n"})
    with pytest.raises(DataFormatError, match=r"genre ids must be 0\.\.n-1"):
        load_movielens(ml100k_dir)


def test_error_inside_zip_names_member(tmp_path: Path) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-1m/users.dat", ML1M_USERS)
        zf.writestr("ml-1m/movies.dat", ML1M_MOVIES)
        zf.writestr("ml-1m/ratings.dat", "1::1::5::1\n1::1\n")
    with pytest.raises(DataFormatError, match=r"bad\.zip:ml-1m/ratings\.dat, line 2: "):
        load_movielens(archive)


def test_missing_files_and_paths(tmp_path: Path, ml1m_dir: Path) -> None:
    (ml1m_dir / "movies.dat").unlink()
    with pytest.raises(DataFormatError, match=r"movies\.dat: required file is missing"):
        load_movielens(ml1m_dir)
    with pytest.raises(DataFormatError, match="no such file or directory"):
        load_movielens(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFormatError, match="no MovieLens data found"):
        load_movielens(empty)
    not_zip = tmp_path / "data.txt"
    not_zip.write_text("hello")
    with pytest.raises(DataFormatError, match=r"not a directory or a \.zip"):
        load_movielens(not_zip)


def test_orphans_dropped_with_warning(ml1m_dir: Path, write_files) -> None:
    write_files(ml1m_dir, {"ratings.dat": ML1M_RATINGS + "9::1::5::1\n1::99::4::2\n"})
    with pytest.warns(OrphanRatingsWarning, match=r"dropped 2 ratings .*line 5: user 9"):
        data = load_movielens(ml1m_dir)
    assert data.dropped_ratings == 2
    assert len(data.ratings) == 4
    assert 9 not in data.ratings.user_id and 99 not in data.ratings.movie_id
    assert any("dropped 2" in note for note in data.notes)


def test_orphans_error(ml1m_dir: Path, write_files) -> None:
    write_files(ml1m_dir, {"ratings.dat": ML1M_RATINGS + "1::99::4::2\n"})
    with pytest.raises(
        DataIntegrityError, match=r"ratings\.dat: 1 ratings .*line 5: user 1, movie 99"
    ):
        load_movielens(ml1m_dir, orphans="error")
    with pytest.raises(ValidationError):
        load_movielens(ml1m_dir, orphans="ignore")  # type: ignore[arg-type]


def test_fast_and_slow_paths_agree(tmp_path: Path, small: MovieLens, write_files) -> None:
    folder = write_movielens(small, tmp_path / "fast", "ml-1m")
    fast = load_movielens(folder)
    raw = (folder / "ratings.dat").read_text()
    write_files(folder, {"ratings.dat": raw.replace("\n", "\n\n", 1).replace("::", ":: ", 1)})
    slow = load_movielens(folder)
    for column in ("user_id", "movie_id", "rating", "timestamp"):
        assert getattr(fast.ratings, column).tolist() == getattr(slow.ratings, column).tolist()


def test_empty_ratings_file(ml1m_dir: Path, write_files) -> None:
    write_files(ml1m_dir, {"ratings.dat": ""})
    data = load_movielens(ml1m_dir)
    assert len(data.ratings) == 0
    assert data.ratings.rating.dtype == np.float32


def test_empty_occupation_file(ml100k_dir: Path, write_files) -> None:
    write_files(ml100k_dir, {"u.occupation": "\n\n"})
    with pytest.raises(DataFormatError, match=r"u\.occupation: file is empty"):
        load_movielens(ml100k_dir)


def test_home_directory_is_expanded(
    tmp_path: Path, small: MovieLens, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_movielens(small, "~/set", "ml-1m")
    assert (tmp_path / "set" / "ratings.dat").is_file()
    assert len(load_movielens("~/set").ratings) == len(small.ratings)


def test_load_movies_file(tmp_path: Path, small: MovieLens, write_files) -> None:
    from fusionrec.data import load_movies_file

    one = write_movielens(small, tmp_path / "one", "ml-1m")
    hundred = write_movielens(small, tmp_path / "hundred", "ml-100k")
    for path in (one / "movies.dat", hundred / "u.item"):
        movies = load_movies_file(path)
        assert movies.title.tolist() == small.movies.title.tolist()
        assert movies.genres.tolist() == small.movies.genres.tolist()
        assert movies.year.tolist() == small.movies.year.tolist()
    renamed = write_files(
        tmp_path / "loose", {"catalog.txt": ML1M_MOVIES, "items.txt": ML100K_ITEMS}
    )
    assert load_movies_file(renamed / "catalog.txt").title[1] == "Misérables, Les"
    assert load_movies_file(renamed / "items.txt").genres[2] == ("unknown",)
    with pytest.raises(DataFormatError, match=r"catalog\.txt, line 1: expected 3 fields"):
        load_movies_file(write_files(tmp_path / "bad", {"catalog.txt": "1::A\n"}) / "catalog.txt")
    with pytest.raises(DataFormatError, match="no such file"):
        load_movies_file(tmp_path / "absent.dat")
