"""FeatureEncoder: vocabularies, padding, unknown values and the JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec.data import MovieLens, Movies, Users
from fusionrec.errors import ModelDirError, ValidationError
from fusionrec.features import (
    PAD,
    UNK,
    Categorical,
    FeatureEncoder,
    Schema,
    Text,
    movielens_schema,
    tokenize,
)


def test_tokenize_lowercases_words() -> None:
    assert tokenize("Star Wars: Episode IV, The") == ["star", "wars", "episode", "iv", "the"]
    assert tokenize("Amélie") == ["amélie"]


def test_users_encode_to_known_indices(tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    f = enc.encode_users(tiny_data.users)
    assert len(f) == len(tiny_data.users)
    for name in ("user_id", "gender", "age", "occupation"):
        assert f[name].dtype == np.int64 and f[name].min() >= 2  # no PAD, no UNK when fitted
    assert len(np.unique(f["user_id"])) == len(tiny_data.users)
    assert f["user_id"].max() == enc.id_rows("user") - 1


def test_a_few_users_encode_as_many_do(tiny_data: MovieLens) -> None:
    """A handful of values take a dict path, more take numpy's: the codes must agree."""
    enc = FeatureEncoder.fit(tiny_data)
    users = tiny_data.users
    ids = [10**9, *users.user_id[:19].tolist()]  # one unknown id among known ones
    genders = ["X", *users.gender[:19].tolist()]
    ages, occupations = [3, *users.age[:19].tolist()], [999, *users.occupation[:19].tolist()]

    def table(part: slice) -> dict[str, list[object]]:
        return {
            "user_id": ids[part],
            "gender": genders[part],
            "age": ages[part],
            "occupation": occupations[part],
        }

    many = enc.encode_users(table(slice(None)))
    for start in range(0, 20, 4):
        part = slice(start, start + 4)
        few = enc.encode_users(table(part))
        for name in ("user_id", "gender", "age", "occupation"):
            assert few[name].tolist() == many[name][part].tolist(), name


def test_unknown_values_map_to_unk_without_raising(tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    known = int(tiny_data.users.user_id[0])
    f = enc.encode_users(
        {
            "user_id": [10**9, known],
            "gender": ["X", "M"],
            "age": [3, 25],
            "occupation": [999, 1],
        }
    )
    assert f["user_id"].tolist()[0] == UNK and f["user_id"][1] >= 2
    assert f["gender"][0] == UNK and f["age"][0] == UNK and f["occupation"][0] == UNK
    cold = enc.encode_users({"gender": ["F"], "age": [25], "occupation": [2]})
    assert cold["user_id"].tolist() == [UNK]  # no id column: the unknown id (cold start)
    assert not enc.has_user(10**9) and enc.has_user(known)
    assert not enc.has_user("nobody") and not enc.has_movie(-5)
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
    schema = movielens_schema()
    schema = Schema(user=schema.user, item=(*schema.item[:2], Text("title", max_words=4)))
    enc = FeatureEncoder.fit(_data(movies), schema)
    f = enc.encode_movies(movies)
    title, genres = f["title"], f["genres"]
    assert title.shape == (3, 4) and genres.shape == (3, 2)
    assert (title[0, 3], title[1, 1]) == (PAD, PAD)
    assert title[0, 2] == title[1, 0]  # "day" shares one index
    assert (title[2] != PAD).all()  # five words capped at four
    assert genres[0, 1] == PAD and (genres[2] == PAD).all()
    unseen = enc.encode_movies(_movies(["zzz day"], [("Space Opera",)]))
    assert unseen["title"][0].tolist() == [UNK, title[1, 0]]
    assert unseen["movie_id"][0] == f["movie_id"][0]  # id 1 is known
    assert unseen["genres"][0, 0] == UNK


def test_json_round_trip(tmp_path: Path, tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    enc.save(tmp_path / "enc.json")
    again = FeatureEncoder.load(tmp_path / "enc.json")
    assert again == enc and again.schema == movielens_schema()
    a, b = enc.encode_movies(tiny_data.movies), again.encode_movies(tiny_data.movies)
    for name in ("movie_id", "genres", "title"):
        assert np.array_equal(a[name], b[name])
    assert np.array_equal(
        enc.encode_users(tiny_data.users)["user_id"], again.encode_users(tiny_data.users)["user_id"]
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
        FeatureEncoder.from_dict({"format_version": 2, "schema": movielens_schema().to_dict()})
    with pytest.raises(ValidationError, match="version 1 is not supported"):
        FeatureEncoder.from_dict({"format_version": 1, "user_ids": []})  # before the schema


def test_bad_inputs_raise_validation_error(tiny_data: MovieLens) -> None:
    enc = FeatureEncoder.fit(tiny_data)
    with pytest.raises(ValidationError, match=r"'age'.*1\.5"):
        enc.encode_users({"gender": ["M"], "age": [1.5], "occupation": [1]})
    with pytest.raises(ValidationError, match="differ in length"):
        enc.encode_users({"gender": ["M", "F"], "age": [1, 18], "occupation": [1]})
    with pytest.raises(ValidationError, match="no column 'occupation'"):
        enc.encode_users({"gender": ["M"], "age": [1]})


def test_boolean_categories_are_false_and_true() -> None:
    member = Categorical("member")
    state = member.fit(np.array([True, False, True]))
    assert state.values == ("false", "true")
    assert member.encode(state, [True, np.bool_(False), None]).tolist() == [3, 2, UNK]
    assert member.encode(state, np.array([False])).tolist() == [2]
