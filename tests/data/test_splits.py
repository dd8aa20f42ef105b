"""random_split, leave_last_out and official_folds: partitions, determinism, protocol rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec.data import (
    Dataset,
    Interactions,
    MovieLens,
    Ratings,
    Table,
    leave_last_out,
    official_folds,
    random_split,
    write_movielens,
)
from fusionrec.errors import DataFormatError, ValidationError


def _keys(data: MovieLens) -> np.ndarray:
    return data.ratings.user_id * 1_000_000 + data.ratings.movie_id


def _assert_partition(
    data: MovieLens, train: MovieLens, test: MovieLens, *, same_objects: bool = True
) -> None:
    all_keys, train_keys, test_keys = _keys(data), _keys(train), _keys(test)
    assert len(np.intersect1d(train_keys, test_keys)) == 0
    assert sorted(np.concatenate([train_keys, test_keys]).tolist()) == sorted(all_keys.tolist())
    if same_objects:
        assert train.users is data.users and test.movies is data.movies
    assert train.users is test.users and train.movies is test.movies
    assert train.genres == data.genres and test.occupations == data.occupations


def test_random_split(small: MovieLens) -> None:
    train, test = random_split(small, test_fraction=0.2, seed=3)
    _assert_partition(small, train, test)
    assert len(test.ratings) == round(0.2 * len(small.ratings))
    again = random_split(small, test_fraction=0.2, seed=3)[1]
    other = random_split(small, test_fraction=0.2, seed=4)[1]
    assert np.array_equal(_keys(test), _keys(again))
    assert not np.array_equal(_keys(test), _keys(other))
    assert np.all(np.diff(test.ratings.timestamp) > 0)  # original (time) order kept


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_random_split_rejects_fraction(small: MovieLens, fraction: float) -> None:
    with pytest.raises(ValidationError):
        random_split(small, test_fraction=fraction)


@pytest.mark.parametrize("n", [1, 3])
def test_leave_last_out(small: MovieLens, n: int) -> None:
    train, test = leave_last_out(small, n=n)
    _assert_partition(small, train, test)
    counts = np.bincount(small.ratings.user_id)
    test_counts = np.bincount(test.ratings.user_id, minlength=len(counts))
    expected = np.where(counts > n, n, 0)
    assert np.array_equal(test_counts, expected)
    for user in np.unique(test.ratings.user_id):
        latest_train = train.ratings.timestamp[train.ratings.user_id == user].max()
        assert test.ratings.timestamp[test.ratings.user_id == user].min() >= latest_train


def _tiny(user: list[int], movie: list[int], timestamp: list[int], base: MovieLens) -> MovieLens:
    n = len(user)
    return base.with_ratings(
        Ratings(
            np.array(user, dtype=np.int64),
            np.array(movie, dtype=np.int64),
            np.full(n, 4.0, dtype=np.float32),
            np.array(timestamp, dtype=np.int64),
        )
    )


def test_leave_last_out_ties_and_small_users(small: MovieLens) -> None:
    data = _tiny([1, 1, 1, 2, 3, 3], [10, 11, 12, 10, 10, 11], [5, 9, 9, 1, 7, 3], small)
    train, test = leave_last_out(data, n=1)
    # user 1: a tie at t=9, the later row (movie 12) is the latest; user 2 has a single
    # rating and stays in train; user 3's latest is movie 10 although it comes first.
    assert list(
        zip(test.ratings.user_id.tolist(), test.ratings.movie_id.tolist(), strict=True)
    ) == [
        (1, 12),
        (3, 10),
    ]
    assert 2 in train.ratings.user_id
    with pytest.raises(ValidationError):
        leave_last_out(data, n=0)


def _write_folds(folder: Path, data: MovieLens) -> None:
    write_movielens(data, folder, "ml-100k")
    r = data.ratings
    fold_of = np.arange(len(r)) % 5
    for i in range(5):
        for name, mask in ((f"u{i + 1}.base", fold_of != i), (f"u{i + 1}.test", fold_of == i)):
            rows = np.stack([r.user_id, r.movie_id, r.rating.astype(np.int64), r.timestamp], 1)
            lines = "".join("\t".join(map(str, row)) + "\n" for row in rows[mask].tolist())
            (folder / name).write_text(lines)


def test_official_folds(tmp_path: Path, small: MovieLens) -> None:
    _write_folds(tmp_path / "ml-100k", small)
    folds = official_folds(tmp_path / "ml-100k")
    assert len(folds) == 5
    tests = []
    for train, test in folds:
        _assert_partition(small, train, test, same_objects=False)
        assert train.users.user_id.tolist() == small.users.user_id.tolist()
        assert train.users is test.users
        tests.append(_keys(test))
    assert sorted(np.concatenate(tests).tolist()) == sorted(_keys(small).tolist())
    assert folds[0][1].source.endswith("(u1.test)")


def test_official_folds_missing(tmp_path: Path, small: MovieLens) -> None:
    write_movielens(small, tmp_path / "plain", "ml-100k")
    with pytest.raises(DataFormatError, match=r"official folds are missing \(u1\.base"):
        official_folds(tmp_path / "plain")


def test_official_folds_orphans(tmp_path: Path, small: MovieLens) -> None:
    folder = tmp_path / "ml-100k"
    _write_folds(folder, small)
    with (folder / "u2.test").open("a") as handle:
        handle.write("9999\t1\t5\t1\n")
    with pytest.warns(UserWarning, match="dropped 1 ratings"):
        folds = official_folds(folder)
    assert folds[1][1].dropped_ratings == 1 and folds[0][1].dropped_ratings == 0


def _products() -> Dataset:
    """A product-like Dataset: string ids, implicit interactions with weights, some timestamps."""
    rng = np.random.default_rng(0)
    users = Table(np.array([f"c{i:02d}" for i in range(12)], dtype=object), id_name="customer")
    items = Table(np.array([f"sku-{i}" for i in range(9)], dtype=object), id_name="sku")
    n = 90
    return Dataset(
        users,
        items,
        Interactions(
            users.ids[rng.integers(0, 12, n)],
            items.ids[rng.integers(0, 9, n)],
            weight=rng.integers(1, 5, n).astype(np.float32),
            timestamp=rng.permutation(n).astype(np.int64),
        ),
    )


def _pairs(data: Dataset) -> list[tuple[str, str, float, int]]:
    r = data.interactions
    assert r.weight is not None and r.timestamp is not None
    return list(
        zip(
            r.user_id.tolist(),
            r.item_id.tolist(),
            r.weight.tolist(),
            r.timestamp.tolist(),
            strict=True,
        )
    )


def test_random_split_of_a_dataset_keeps_its_type_and_columns() -> None:
    data = _products()
    train, test = random_split(data, test_fraction=0.25, seed=1)
    assert isinstance(train, Dataset) and isinstance(test, Dataset)
    assert train.users is data.users and test.items is data.items
    assert len(test.interactions) == round(0.25 * len(data.interactions))
    assert sorted(_pairs(train) + _pairs(test)) == sorted(_pairs(data))
    assert test.implicit and test.interactions.user_id.dtype == object
    again = random_split(data, test_fraction=0.25, seed=1)[1]
    assert _pairs(again) == _pairs(test)


@pytest.mark.parametrize("n", [1, 2])
def test_leave_last_out_of_a_dataset_with_string_ids(n: int) -> None:
    data = _products()
    train, test = leave_last_out(data, n=n)
    assert isinstance(test, Dataset)
    assert sorted(_pairs(train) + _pairs(test)) == sorted(_pairs(data))
    for user in set(data.interactions.user_id.tolist()):
        mine = [p for p in _pairs(data) if p[0] == user]
        held = [p for p in _pairs(test) if p[0] == user]
        if len(mine) <= n:
            assert held == []
        else:  # the n latest by timestamp
            assert sorted(p[3] for p in held) == sorted(p[3] for p in mine)[-n:]


def test_leave_last_out_without_timestamps_goes_by_row_order() -> None:
    r = _products().interactions
    data = _products().with_interactions(Interactions(r.user_id, r.item_id, weight=r.weight))
    _, test = leave_last_out(data, n=1)
    users = r.user_id.tolist()
    last = {u: i for i, u in enumerate(users)}  # each user's last row
    counts = {u: users.count(u) for u in last}
    expected = sorted(i for u, i in last.items() if counts[u] > 1)
    held = test.interactions
    assert held.timestamp is None and held.weight is not None
    assert list(zip(held.user_id.tolist(), held.item_id.tolist(), strict=True)) == [
        (users[i], r.item_id[i]) for i in expected
    ]
    np.testing.assert_array_equal(held.weight, r.weight[expected])


def test_leave_last_out_of_a_dataset_matches_the_movielens_split(small: MovieLens) -> None:
    train, test = leave_last_out(small, n=2)
    dtrain, dtest = leave_last_out(Dataset.from_movielens(small), n=2)
    np.testing.assert_array_equal(dtest.interactions.item_id, test.ratings.movie_id)
    np.testing.assert_array_equal(dtrain.interactions.user_id, train.ratings.user_id)


def test_splits_refuse_other_types() -> None:
    with pytest.raises(ValidationError, match="MovieLens or a Dataset"):
        random_split([1, 2, 3])  # type: ignore[type-var]
