"""FeatureEncoder: vocabularies, padding, unknown values and the JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec.data import MovieLens, Movies, Users
from fusionrec.errors import ModelDirError, ValidationError
from fusionrec.features import PAD, UNK, FeatureEncoder, MovieFeatures, UserFeatures, tokenize


def test_tokenize_lowercases_words() -> None:
    assert tokenize("Star Wars: Episode IV, The") == ["star", "wars", "episode", "iv", "the"]
    assert tokenize("Amélie") == ["amélie"]


def test_users_encode_to_known_indices(tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    f = enc.encode_users(tiny_data.users)
    assert len(f) == len(tiny_data.users)
    for col in (f.user, f.gender, f.age, f.occupation):
        assert col.dtype == np.int64 and col.min() >= 2  # no PAD, no UNK for fitted values
    assert len(np.unique(f.user)) == len(tiny_data.users)
    assert f.user.max() == enc.n_users - 1


def test_a_few_users_encode_as_many_do(tiny_data: MovieLens) -> None:
    """A handful of values take a dict path, more take numpy's: the codes must agree."""
    enc = FeatureEncoder.fit(tiny_data)
    users = tiny_data.users
    ids = [10**9, *users.user_id[:19].tolist()]  # one unknown id among known ones
    genders = ["X", *users.gender[:19].tolist()]
    ages, occupations = [3, *users.age[:19].tolist()], [999, *users.occupation[:19].tolist()]
    many = enc.encode_user_values(ids, genders, ages, occupations)
    for start in range(0, 20, 4):
        part = slice(start, start + 4)
        few = enc.encode_user_values(ids[part], genders[part], ages[part], occupations[part])
        for name in ("user", "gender", "age", "occupation"):
            assert getattr(few, name).tolist() == getattr(many, name)[part].tolist(), name


def test_unknown_values_map_to_unk_without_raising(tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    f = enc.encode_user_values([10**9, tiny_data.users.user_id[0]], ["X", "M"], [3, 25], [999, 1])
    assert f.user.tolist()[0] == UNK and f.user[1] >= 2
    assert f.gender[0] == UNK and f.age[0] == UNK and f.occupation[0] == UNK
    cold = enc.encode_user_values(None, ["F"], [25], [2])
    assert cold.user.tolist() == [UNK]
    assert not enc.has_user(10**9) and enc.has_user(int(tiny_data.users.user_id[0]))
    assert not enc.has_user("nobody") and not enc.has_movie(-5)  # type: ignore[arg-type]
    assert enc.has_movie(int(tiny_data.movies.movie_id[0]))


def _movies(titles: list[str], genres: list[tuple[str, ...]]) -> Movies:
    return Movies(
        movie_id=np.arange(1, len(titles) + 1, dtype=np.int64),
        title=np.asarray(titles, dtype=object),
        year=np.zeros(len(titles), dtype=np.int64),
        genres=np.asarray([*genres, ()], dtype=object)[:-1],
    )


def _data(movies: Movies) -> MovieLens:
    users = Users(
        user_id=np.asarray([1], dtype=np.int64),
        gender=np.asarray(["M"]),
        age=np.asarray([25], dtype=np.int64),
        occupation=np.asarray([3], dtype=np.int64),
    )
    from fusionrec.data import Ratings

    ratings = Ratings(
        user_id=np.asarray([1], dtype=np.int64),
        movie_id=np.asarray([1], dtype=np.int64),
        rating=np.asarray([4.0], dtype=np.float32),
        timestamp=np.asarray([0], dtype=np.int64),
    )
    return MovieLens(users=users, movies=movies, ratings=ratings)


def test_movies_are_padded_and_titles_capped() -> None:
    movies = _movies(
        ["A Big Day", "Day", "one two three four five"], [("Drama",), ("Comedy", "Drama"), ()]
    )
    enc = FeatureEncoder.fit(_data(movies), max_title_words=4)
    f = enc.encode_movies(movies)
    assert f.title.shape == (3, 4) and f.genres.shape == (3, 2)
    assert (f.title[0, 3], f.title[1, 1]) == (PAD, PAD)
    assert f.title[0, 2] == f.title[1, 0]  # "day" shares one index
    assert (f.title[2] != PAD).all()  # five words capped at four
    assert f.genres[0, 1] == PAD and (f.genres[2] == PAD).all()
    unseen = enc.encode_movies(_movies(["zzz day"], [("Space Opera",)]))
    assert unseen.title[0].tolist() == [UNK, f.title[1, 0]]
    assert unseen.movie[0] == f.movie[0]  # id 1 is known
    assert unseen.genres[0, 0] == UNK


def test_json_round_trip(tmp_path: Path, tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data, max_title_words=7)
    enc.save(tmp_path / "enc.json")
    again = FeatureEncoder.load(tmp_path / "enc.json")
    assert again == enc
    a, b = enc.encode_movies(tiny_data.movies), again.encode_movies(tiny_data.movies)
    assert np.array_equal(a.title, b.title) and np.array_equal(a.genres, b.genres)
    assert np.array_equal(
        enc.encode_users(tiny_data.users).user, again.encode_users(tiny_data.users).user
    )


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="not found"):
        FeatureEncoder.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ModelDirError, match="JSON"):
        FeatureEncoder.load(tmp_path / "bad.json")
    with pytest.raises(ValidationError, match="version"):
        FeatureEncoder.from_dict({"format_version": 99})
    with pytest.raises(ValidationError, match="malformed"):
        FeatureEncoder.from_dict({"format_version": 1})


def test_bad_inputs_raise_validation_error(tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    with pytest.raises(ValidationError, match="age"):
        enc.encode_user_values(None, ["M"], [1.5], [1])
    with pytest.raises(ValidationError, match="occupation"):
        enc.encode_user_values(None, ["M", "F"], [1, 18], [1])
    with pytest.raises(ValidationError, match="int64"):
        UserFeatures(
            np.zeros(2), np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(2, np.int64)
        )  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="differ"):
        MovieFeatures(np.zeros(2, np.int64), np.zeros((2, 1), np.int64), np.zeros((3, 1), np.int64))
