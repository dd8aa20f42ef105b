"""Property-based fuzzing of the MovieLens readers with random bytes and random fields.

Expected: a FusionrecError with a one-line message, or a data set that keeps the schema's
invariants (tables of equal-length columns, distinct ids, ratings 1..5 — half stars 0.5..5
for the csv releases — naming known users and movies, no repeated pair) — never another
exception or a hang. Budget: about 25 s.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionrec.data import (
    MovieLens,
    Movies,
    load_movielens,
    load_movies_file,
    synthetic_csv_release,
    synthetic_movielens,
    write_movielens,
)
from fusionrec.errors import FusionrecError

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FORMATS = {
    "ml-1m": ("ratings.dat", "users.dat", "movies.dat"),
    "ml-100k": ("u.data", "u.user", "u.item", "u.genre", "u.occupation"),
    "ml-25m": ("ratings.csv", "movies.csv", "tags.csv"),
}
SEPARATORS = {"ml-1m": "::", "ml-100k": "|", "ml-25m": ","}

#: Field text that probes the parsers: signs, padding, separators, huge and odd numbers.
fields_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789+- :|\t\r\n", max_size=30),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", " ", "M", "F", "female", "(1995)", "1" * 5000, " " * 5000, "Ã©"]),
)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    data = synthetic_movielens(n_users=8, n_movies=6, n_ratings=30, seed=1)
    csv_data = synthetic_csv_release(n_users=8, n_movies=6, n_ratings=30, seed=1)
    root = tmp_path_factory.mktemp("fuzz-sets")
    return {
        fmt: write_movielens(csv_data if fmt == "ml-25m" else data, root / fmt, fmt)  # type: ignore[arg-type]
        for fmt in FORMATS
    }


def check_load(path: Path) -> None:
    """Load; a FusionrecError is fine, a data set must keep the schema's invariants."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_movielens(path)
    except FusionrecError as exc:
        assert "\n" not in str(exc)
        return
    check_invariants(data)


def check_invariants(data: MovieLens) -> None:
    users, movies, ratings = data.users, data.movies, data.ratings
    assert len(np.unique(users.user_id)) == len(users)
    assert len(np.unique(movies.movie_id)) == len(movies)
    assert ratings.rating.dtype == np.float32 and ratings.user_id.dtype == np.int64
    if len(ratings):
        lowest = 1.0 if data.has_demographics else 0.5
        assert ratings.rating.min() >= lowest and ratings.rating.max() <= 5
        assert np.all(ratings.rating * 2 == np.rint(ratings.rating * 2))
        assert np.isin(ratings.user_id, users.user_id).all()
        assert np.isin(ratings.movie_id, movies.movie_id).all()
        pairs = np.stack([ratings.user_id, ratings.movie_id], axis=1)
        assert len(np.unique(pairs, axis=0)) == len(ratings)
    assert all(isinstance(t, str) for t in movies.title)
    assert all(isinstance(g, tuple) for g in movies.genres)
    assert all(isinstance(t, tuple) and all(isinstance(x, str) for x in t) for t in movies.tags)


def _copy(path: Path, folder: str) -> Path:
    return Path(shutil.copytree(path, Path(folder) / path.name))


@FUZZ
@given(data=st.data())
def test_random_bytes_in_any_file(sets: dict[str, Path], data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(sorted(FORMATS)), label="format")
    name = data.draw(st.sampled_from(FORMATS[fmt]), label="file")
    payload = data.draw(st.binary(max_size=400), label="bytes")
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(sets[fmt], folder)
        (root / name).write_bytes(payload)
        check_load(root)


@FUZZ
@given(data=st.data())
def test_truncated_or_flipped_file(sets: dict[str, Path], data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(sorted(FORMATS)), label="format")
    name = data.draw(st.sampled_from(FORMATS[fmt]), label="file")
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(sets[fmt], folder)
        raw = bytearray((root / name).read_bytes())
        at = data.draw(st.integers(0, len(raw) - 1), label="offset")
        if data.draw(st.booleans(), label="truncate"):
            del raw[at:]
        else:
            raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        (root / name).write_bytes(bytes(raw))
        check_load(root)


@FUZZ
@given(data=st.data())
def test_random_field_values(sets: dict[str, Path], data: st.DataObject) -> None:
    """Replace one field of one line by random text (the separator kept around it)."""
    fmt = data.draw(st.sampled_from(sorted(FORMATS)), label="format")
    name = data.draw(st.sampled_from(FORMATS[fmt]), label="file")
    sep = "\t" if name == "u.data" else SEPARATORS[fmt]
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(sets[fmt], folder)
        lines = (root / name).read_bytes().decode("latin-1").split("\n")
        row = data.draw(st.integers(0, len(lines) - 1), label="line")
        parts = lines[row].split(sep)
        col = data.draw(st.integers(0, len(parts) - 1), label="field")
        parts[col] = data.draw(fields_text, label="value")
        lines[row] = sep.join(parts)
        text = "\n".join(lines)
        (root / name).write_bytes(text.encode("utf-8", "surrogatepass"))
        check_load(root)


@FUZZ
@given(
    payload=st.binary(max_size=300),
    name=st.sampled_from(["movies.dat", "u.item", "items.txt"]),
)
def test_a_movies_file_of_random_bytes(payload: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(payload)
        try:
            movies = load_movies_file(path)
        except FusionrecError as exc:
            assert "\n" not in str(exc)
            return
        assert isinstance(movies, Movies)
        assert len(np.unique(movies.movie_id)) == len(movies)


@FUZZ
@given(data=st.data())
def test_a_damaged_zip_archive(sets: dict[str, Path], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "ml.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for file in sorted(sets["ml-1m"].iterdir()):
                z.write(file, f"ml-1m/{file.name}")
        raw = bytearray(archive.read_bytes())
        at = data.draw(st.integers(0, len(raw) - 1), label="offset")
        if data.draw(st.booleans(), label="truncate"):
            del raw[at:]
        else:
            raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        archive.write_bytes(bytes(raw))
        check_load(archive)
