"""Regression tests for issue 17's model-directory and input findings (one or more each)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fusionrec import (
    FusionRecommender,
    ModelConfig,
    ModelDirError,
    ValidationError,
    atomic,
)
from fusionrec.data import (
    DuplicateRatingsWarning,
    MovieLens,
    Movies,
    Users,
    load_movielens,
    write_movielens,
)
from fusionrec.errors import DataFormatError, DataIntegrityError, FusionrecError
from fusionrec.features import MAX_TOKEN_CHARS, FeatureEncoder

Reseal = Callable[[Path, str], Path]


@pytest.fixture(scope="module")
def rec(indexed_rec: FusionRecommender) -> FusionRecommender:
    return indexed_rec


@pytest.fixture(scope="module")
def saved(rec: FusionRecommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rec.save(tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    """A private copy of the saved directory that a test may damage."""
    return Path(shutil.copytree(saved, tmp_path / "model"))


def _version(root: Path) -> Path:
    return atomic.current_version(root, "recommender.json")


def _with_title(data: MovieLens, title: str) -> MovieLens:
    titles = data.movies.title.copy()
    titles[0] = title
    movies = dataclasses.replace(data.movies, title=titles)
    return MovieLens(data.users, movies, data.ratings, data.occupations, data.genres)


# ---------------------------------------------------------------- finding 3: memory


def _encoder_peak(data: MovieLens) -> int:
    tracemalloc.start()
    try:
        encoder = FeatureEncoder.fit(data)
        encoder.encode_movies(data.movies)
        FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_pathological_title_costs_memory_in_proportion_to_its_size(
    tiny_data: MovieLens,
) -> None:
    """One huge single-token title: the peak grows with its size, not times the vocabulary."""
    small = _encoder_peak(_with_title(tiny_data, "x" * 2_000_000))
    large = _encoder_peak(_with_title(tiny_data, "x" * 4_000_000))
    # before the fix: 2M characters x 4 bytes x every vocabulary word (~1 GB here)
    assert small < 20 * 2_000_000, small
    assert large < 2.5 * small, (small, large)


def test_a_huge_title_trains_saves_and_loads(tiny_data: MovieLens, tmp_path: Path) -> None:
    data = _with_title(tiny_data, "y" * 2_000_000 + " z")
    model = FusionRecommender(ModelConfig.preset("rating", epochs=1, seed=0), progress=False)
    model.fit(data)
    back = FusionRecommender.load(model.save(tmp_path / "m"))
    words = back.bundle.encoder.states["item"]["title"].values
    assert max(map(len, words)) == MAX_TOKEN_CHARS and "z" in words
    assert back.movies.title[0] == data.movies.title[0]  # the catalog keeps the full title
    user = int(data.users.user_id[0])
    ids = data.movies.movie_id[:3].tolist()
    np.testing.assert_allclose(back.predict(user, ids), model.predict(user, ids), atol=1e-6)


# ---------------------------------------------------------------- finding 5: atomic saves


def test_a_crash_between_save_steps_keeps_the_old_model(
    rec: FusionRecommender, copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old save renamed the model aside, then the new one in: a crash between lost both."""
    before = _version(copy)
    real = os.replace
    calls = []

    def replace_then_die(a: object, b: object) -> None:
        calls.append(b)
        real(a, b)  # type: ignore[arg-type]
        raise KeyboardInterrupt  # like a kill right after the first rename of the save

    monkeypatch.setattr(atomic.os, "replace", replace_then_die)
    monkeypatch.setattr(atomic.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        rec.save(copy)
    monkeypatch.undo()
    loaded = FusionRecommender.load(copy)  # the old model, and the leftover is pruned
    assert _version(copy) == before
    assert sorted(p.name for p in copy.iterdir() if p.name != ".lock") == sorted(
        ["recommender.json", before.name]
    )
    user = int(rec.bundle.encoder.states["user"]["user_id"].values[0])
    ids = rec.movies.movie_id[:5].tolist()
    np.testing.assert_array_equal(loaded.predict(user, ids), rec.predict(user, ids))


def test_resaving_a_loaded_model_in_place_works(saved: Path, copy: Path) -> None:
    loaded = FusionRecommender.load(copy)
    loaded.save(copy)  # copies the current version's model files into the next version
    again = FusionRecommender.load(copy)
    assert again.bundle.encoder == loaded.bundle.encoder
    assert len([p for p in copy.iterdir() if p.name.startswith("v-")]) == 1


# ---------------------------------------------------------------- finding 6: no tracebacks


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", [_truncate, _flip])
@pytest.mark.parametrize("name", ["model/weights.npz", "users.npz", "items.npz", "seen.npz"])
def test_a_damaged_npz_is_a_model_dir_error_naming_it(
    copy: Path, reseal: Reseal, damage: Callable[[Path], None], name: str
) -> None:
    damage(_version(copy) / name)
    with pytest.raises(ModelDirError, match=name.split("/")[-1].replace(".", r"\.")):
        FusionRecommender.load(copy)  # caught by the checksum
    reseal(copy, "recommender.json")
    try:
        FusionRecommender.load(copy)  # a crafted file: the validators still catch truncation
    except ModelDirError as exc:
        assert name.split("/")[-1] in str(exc) and "\n" not in str(exc)
    else:
        assert damage is _flip  # a flip inside array data can still be a valid file


def test_non_utf8_encoder_json_is_a_model_dir_error(copy: Path, reseal: Reseal) -> None:
    path = _version(copy) / "model" / "encoder.json"
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    reseal(copy, "recommender.json")
    with pytest.raises(ModelDirError, match=r"encoder\.json"):
        FusionRecommender.load(copy)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("occupations", 5, "occupations must be a list of names"),
        ("occupations", "abc", "occupations must be a list of names"),
        ("occupations", ["", "x"], "occupations must be a list of names"),
        ("store", [1], "'store' must be an object"),
    ],
)
def test_bad_state_values_are_model_dir_errors(
    copy: Path, reseal: Reseal, field: str, value: object, message: str
) -> None:
    path = _version(copy) / "state.json"
    state = json.loads(path.read_text())
    state[field] = value
    path.write_text(json.dumps(state))
    reseal(copy, "recommender.json")
    with pytest.raises(ModelDirError, match=message):
        FusionRecommender.load(copy)


@pytest.mark.parametrize("name", ["recommender.json", "state.json"])
def test_a_json_list_instead_of_an_object_is_a_model_dir_error(
    copy: Path, reseal: Reseal, name: str
) -> None:
    path = copy / name if name == "recommender.json" else _version(copy) / name
    path.write_text("[1, 2, 3]")
    if name != "recommender.json":
        reseal(copy, "recommender.json")
    with pytest.raises(ModelDirError, match=name.replace(".", r"\.")):
        FusionRecommender.load(copy)


def test_a_huge_timestamp_field_is_a_data_format_error(
    tiny_data: MovieLens, tmp_path: Path
) -> None:
    path = write_movielens(tiny_data, tmp_path / "ml", "ml-100k")
    lines = (path / "u.data").read_bytes().split(b"\n")
    first = lines[0].split(b"\t")
    lines[0] = b"\t".join([*first[:3], b"9" * 10_000_000])
    (path / "u.data").write_bytes(b"\n".join(lines))
    with pytest.raises(DataFormatError, match=r"u\.data, line 1: timestamp .* does not fit"):
        load_movielens(path)


def test_a_huge_user_id_in_the_users_file_is_a_data_format_error(
    tiny_data: MovieLens, tmp_path: Path
) -> None:
    path = write_movielens(tiny_data, tmp_path / "ml", "ml-1m")
    lines = (path / "users.dat").read_bytes().split(b"\n")
    lines[0] = b"9" * 30 + lines[0][lines[0].index(b"::") :]
    (path / "users.dat").write_bytes(b"\n".join(lines))
    with pytest.raises(DataFormatError, match=r"users\.dat, line 1: user id 9+ does not fit"):
        load_movielens(path)


# ---------------------------------------------------------------- finding 7: exact ids


@pytest.mark.parametrize("bad", [1.7, 1.0, True, 2**70, -(2**70), "1", None, np.float64(1)])
def test_ids_must_be_exact_integers(rec: FusionRecommender, bad: object) -> None:
    user = int(rec.bundle.encoder.states["user"]["user_id"].values[0])
    movie = int(rec.movies.movie_id[0])
    if bad is not None:
        with pytest.raises(ValidationError, match="user id"):
            rec.recommend(bad, k=3)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="user id"):
            rec.recommend_batch([user, bad], k=3)  # type: ignore[list-item]
        with pytest.raises(ValidationError, match="user id"):
            rec.predict(bad, [movie])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="item id"):
        rec.predict(user, [movie, bad])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="item id"):
        rec.similar_movies(bad, k=3)  # type: ignore[arg-type]


def test_numpy_integer_ids_are_accepted(rec: FusionRecommender) -> None:
    user = rec.bundle.encoder.states["user"]["user_id"].values[0]
    movies = rec.movies.movie_id[:3]
    assert rec.recommend(user, k=3) == rec.recommend(int(user), k=3)
    expected = rec.predict(int(user), movies.tolist())
    np.testing.assert_array_equal(rec.predict(user, movies), expected)
    np.testing.assert_array_equal(rec.predict(user, iter(movies.tolist())), expected)
    with pytest.raises(ValidationError, match="item id"):
        rec.predict(int(user), movies.astype(np.float64))


def _with_ratings(data: MovieLens, rows: list[tuple[int, int, int, int]]) -> MovieLens:
    r = data.ratings
    extra = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    ratings = type(r)(
        user_id=np.concatenate([r.user_id, extra[:, 0]]),
        movie_id=np.concatenate([r.movie_id, extra[:, 1]]),
        rating=np.concatenate([r.rating, extra[:, 2].astype(np.float32)]),
        timestamp=np.concatenate([r.timestamp, extra[:, 3]]),
    )
    return data.with_ratings(ratings)


def test_repeated_ratings_keep_the_last_with_a_counted_warning(
    tiny_data: MovieLens, tmp_path: Path
) -> None:
    u, m = int(tiny_data.ratings.user_id[0]), int(tiny_data.ratings.movie_id[0])
    u2, m2 = int(tiny_data.ratings.user_id[5]), int(tiny_data.ratings.movie_id[5])
    data = _with_ratings(tiny_data, [(u, m, 3, 1), (u, m, 5, 2), (u2, m2, 1, 3)])
    path = write_movielens(data, tmp_path / "ml", "ml-1m")
    with pytest.warns(DuplicateRatingsWarning, match="3 ratings repeat") as caught:
        loaded = load_movielens(path)
    n = len(tiny_data.ratings)
    assert f"on lines 1 and {n + 1}" in str(caught[0].message)
    assert len(loaded.ratings) == len(tiny_data.ratings)
    pairs = list(
        zip(loaded.ratings.user_id.tolist(), loaded.ratings.movie_id.tolist(), strict=True)
    )
    assert len(set(pairs)) == len(pairs)
    row = pairs.index((u, m))
    assert loaded.ratings.rating[row] == 5  # the last one in file order
    with pytest.raises(DataIntegrityError, match="3 ratings repeat"):
        load_movielens(path, duplicates="error")


def test_tampered_seen_offsets_are_a_model_dir_error(copy: Path, reseal: Reseal) -> None:
    path = _version(copy) / "seen.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["offsets"] = arrays["offsets"].copy()
    arrays["offsets"][1] = arrays["offsets"][-1] + 100  # would read past the movie array
    np.savez(path, **arrays)
    reseal(copy, "recommender.json")
    with pytest.raises(ModelDirError, match=r"seen\.npz.*offsets"):
        FusionRecommender.load(copy)


# ---------------------------------------------------------------- finding 9: file modes


def test_saved_directories_follow_the_umask(rec: FusionRecommender, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        root = rec.save(tmp_path / "m")
    finally:
        os.umask(old)
    version = _version(root)
    for path in (root, version, version / "model", version / "model" / "user_tower"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
    for path in (version / "users.npz", version / "model" / "weights.npz"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# ---------------------------------------------------------------- issue 14: gender cut


def test_a_long_gender_survives_save_and_load(tiny_data: MovieLens, tmp_path: Path) -> None:
    """users.npz stored genders as '<U1': "female" came back as "f" and encoded as unknown."""
    gender = np.where(tiny_data.users.gender == "F", "female", "male")
    users = Users(tiny_data.users.user_id, gender, tiny_data.users.age, tiny_data.users.occupation)
    data = MovieLens(users, tiny_data.movies, tiny_data.ratings)
    model = FusionRecommender(ModelConfig.preset("rating", epochs=1, seed=0), progress=False)
    model.fit(data)
    back = FusionRecommender.load(model.save(tmp_path / "m"))
    assert back.users.columns["gender"].tolist() == gender.tolist()
    encoded = back.bundle.encoder.encode_users(back.users.as_columns())
    assert (encoded["gender"] >= 2).all()  # known genders, none UNK
    user = int(users.user_id[0])
    ids = data.movies.movie_id[:4].tolist()
    np.testing.assert_allclose(back.predict(user, ids), model.predict(user, ids), atol=1e-6)


def test_errors_are_fusionrec_errors_in_one_line(copy: Path) -> None:
    (copy / "recommender.json").write_bytes(b"\x00" * 10)
    with pytest.raises(FusionrecError) as info:
        FusionRecommender.load(copy)
    assert "\n" not in str(info.value)


def test_movies_table_type_is_kept(rec: FusionRecommender, saved: Path) -> None:
    loaded = FusionRecommender.load(saved)
    assert isinstance(loaded.movies, Movies)
    assert loaded.movies.title.tolist() == rec.movies.title.tolist()


def test_a_version_1_directory_is_refused_then_replaced(
    rec: FusionRecommender, tmp_path: Path
) -> None:
    old = tmp_path / "m"
    (old / "model").mkdir(parents=True)
    (old / "recommender.json").write_text(json.dumps({"format_version": 1, "occupations": []}))
    (old / "users.npz").write_bytes(b"")
    with pytest.raises(ModelDirError, match="format version 1 is not supported"):
        FusionRecommender.load(old)
    rec.save(old)
    assert not (old / "model").exists() and not (old / "users.npz").exists()
    assert FusionRecommender.load(old).bundle.encoder == rec.bundle.encoder


def test_saving_into_a_directory_that_holds_no_model_is_refused(
    rec: FusionRecommender, tmp_path: Path
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("the user's own folder")
    with pytest.raises(ModelDirError, match="refusing to overwrite"):
        rec.save(tmp_path)
    assert (tmp_path / "model" / "notes.txt").read_text() == "the user's own folder"


def test_a_version_2_directory_is_a_model_dir_error_naming_its_version(copy: Path) -> None:
    """Version 2 held MovieLens tables (movies.json); version 3 holds generic ones."""
    pointer = copy / "recommender.json"
    header = json.loads(pointer.read_text(encoding="utf-8"))
    assert header["format_version"] == 3
    header["format_version"] = 2
    pointer.write_text(json.dumps(header), encoding="utf-8")
    with pytest.raises(ModelDirError, match=r"format version 2 is not supported.*save the model"):
        FusionRecommender.load(copy)
