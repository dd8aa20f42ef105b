"""from_frames and read_dataset: DataFrames, CSV and Parquet files as a Dataset, every error."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import fusionrec.features as features
from fusionrec.config import ModelConfig
from fusionrec.data import DroppedRowsWarning, from_frames, read_dataset, schema_source
from fusionrec.errors import ConfigError, DataFormatError, ValidationError
from fusionrec.features import Categorical, FeatureEncoder, MultiCategorical, Numeric, Schema, Text
from fusionrec.model import FusionModel
from fusionrec.train.trainer import Trainer

pd = pytest.importorskip("pandas")


def _products() -> tuple[object, object, object]:
    """A small product catalog: SKUs, a list-valued category, a float price, country users."""
    items = pd.DataFrame(
        {
            "item_id": ["00123", "00124", "A-7", "B-8"],
            "price": [9.5, 30.0, 12.25, 4.0],
            "category": [["toys", "games"], ["books"], ("toys",), np.array(["garden"])],
            "title": [
                "A big red ball for kids",
                "Learning Python the hard way",
                "Wooden train set with tracks",
                "Seeds for a small herb garden",
            ],
            "in_stock": [True, False, True, True],
        }
    )
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "country": ["FR", "DE", "FR"]})
    clicks = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u1", "u3", "u3"],
            "item_id": ["00123", "00124", "A-7", "B-8", "00123"],
        }
    )
    return clicks, users, items


def test_products_with_string_ids_infer_a_schema() -> None:
    clicks, users, items = _products()
    data = from_frames(clicks, users, items)
    assert data.implicit and data.rating_scale is None
    assert data.items.string_ids and data.items.ids.tolist() == ["00123", "00124", "A-7", "B-8"]
    assert data.users.id_name == "user_id" and data.items.id_name == "item_id"
    assert data.items.columns["category"][3] == ("garden",)
    assert data.items.columns["price"].dtype == np.float64
    assert data.items.columns["in_stock"].dtype == bool
    assert data.schema == Schema(
        user=(Categorical("user_id", dim=32, fc=32, id=True), Categorical("country")),
        item=(
            Categorical("item_id", dim=32, fc=32, id=True),
            Numeric("price"),
            MultiCategorical("category"),
            Text("title"),
            Categorical("in_stock", dim=8, fc=8),
        ),
    )
    assert any("inferred" in note for note in data.notes)
    # the encoder fits and encodes every inferred feature (booleans included)
    encoded = FeatureEncoder.fit(data).encode_items(data.items.as_columns())
    assert len(encoded) == 4 and len(set(encoded["in_stock"].tolist())) == 2


def test_int_ids_without_tables_are_the_distinct_ids() -> None:
    clicks = pd.DataFrame({"u": [3, 1, 3], "i": [10, 20, 20], "plays": [2.0, 0.0, 5.0]})
    data = from_frames(clicks, user="u", item="i", weight="plays")
    assert data.users.ids.dtype == np.int64 and data.users.ids.tolist() == [1, 3]
    assert data.items.ids.tolist() == [10, 20] and data.items.columns == {}
    assert data.interactions.weight is not None
    assert data.interactions.weight.tolist() == [2.0, 0.0, 5.0]
    assert data.schema == Schema(
        user=(Categorical("u", dim=32, fc=32, id=True),),
        item=(Categorical("i", dim=32, fc=32, id=True),),
    )


def test_ratings_scale_is_inferred_and_noted_or_declared() -> None:
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "stars": [1.5, 4]})
    data = from_frames(frame, rating="stars")
    assert data.rating_scale == (1.5, 4.0) and any("rating scale" in n for n in data.notes)
    assert data.interactions.rating is not None and data.interactions.rating.dtype == np.float32
    declared = from_frames(frame, rating="stars", rating_scale=(1, 5))
    assert declared.rating_scale == (1.0, 5.0)
    assert not any("rating scale" in n for n in declared.notes)


def test_timestamps_ints_and_datetimes() -> None:
    when = pd.to_datetime(["1970-01-01 00:00:10", "2001-09-09 01:46:40"])
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "t": when})
    data = from_frames(frame, timestamp="t")
    assert data.interactions.timestamp is not None
    assert data.interactions.timestamp.tolist() == [10, 1_000_000_000]
    frame["t"] = [5, 2**62 + 1]  # exact: not rounded through a float
    assert from_frames(frame, timestamp="t").interactions.timestamp.tolist() == [5, 2**62 + 1]  # type: ignore[union-attr]
    frame["t"] = [5, 6]
    assert from_frames(frame, timestamp="t").interactions.timestamp.tolist() == [5, 6]  # type: ignore[union-attr]


def _fails(match: str, *args: object, **kwargs: object) -> None:
    with pytest.raises(DataFormatError, match=match):
        from_frames(*args, **kwargs)


def test_interaction_errors_name_the_column_and_row() -> None:
    ok = {"user_id": [1, 2, 3], "item_id": [7, 8, 9]}
    _fails(
        r"interactions: no column 'item_id' \(columns: 'user_id'\)", pd.DataFrame({"user_id": [1]})
    )
    _fails(r"no column 'stars'", pd.DataFrame(ok), rating="stars")
    _fails(
        r"interactions, row 1: column 'user_id': null user id",
        pd.DataFrame({**ok, "user_id": ["a", None, "c"]}),
    )
    _fails(
        r"row 2: column 'item_id': null item id",
        pd.DataFrame({**ok, "item_id": [1.0, 2.0, np.nan]}),
    )
    _fails(
        r"row 1: column 'user_id': user id 2 mixes string and integer ids",
        pd.DataFrame({**ok, "user_id": ["a", 2, "c"]}),
    )
    _fails(
        r"row 0: column 'item_id': item id 7.5 \(float\) is not an integer or a string",
        pd.DataFrame({**ok, "item_id": [7.5, 8.0, 9.0]}),
    )
    _fails(
        r"row 2: column 'user_id': empty user id", pd.DataFrame({**ok, "user_id": ["a", "b", ""]})
    )
    rated = pd.DataFrame({**ok, "r": [1.0, 6.0, 3.0]})
    _fails(
        r"row 1: column 'r': rating 6 is outside the rating scale \(1.0, 5.0\)",
        rated,
        rating="r",
        rating_scale=(1, 5),
    )
    _fails(
        r"row 2: column 'r': missing rating",
        pd.DataFrame({**ok, "r": [1.0, 2.0, None]}),
        rating="r",
    )
    _fails(
        r"row 1: column 'r': 'x' \(str\) is not like the column's other values: numbers",
        pd.DataFrame({**ok, "r": [1.0, "x", 2.0]}),
        rating="r",
    )
    _fails(
        r"row 0: column 'r': rating inf is not a finite number",
        pd.DataFrame({**ok, "r": [np.inf, 1.0, 2.0]}),
        rating="r",
    )
    _fails(r"every rating is 3", pd.DataFrame({**ok, "r": [3.0, 3.0, 3.0]}), rating="r")
    _fails(
        r"row 0: column 'w': weight -1 is not a finite number >= 0",
        pd.DataFrame({**ok, "w": [-1.0, 1.0, 2.0]}),
        weight="w",
    )
    _fails(
        r"row 2: column 'w': weight nan", pd.DataFrame({**ok, "w": [1.0, 1.0, None]}), weight="w"
    )
    _fails(
        r"row 1: column 't': timestamp 1.5 is not an integer",
        pd.DataFrame({**ok, "t": [1.0, 1.5, 2.0]}),
        timestamp="t",
    )
    _fails(r"interactions: no interactions", pd.DataFrame({"user_id": [], "item_id": []}))
    twice = pd.DataFrame([[1, 2, 3]], columns=["user_id", "item_id", "user_id"])
    _fails(r"interactions: column 'user_id' appears twice", twice)


def test_rows_are_named_by_index_label() -> None:
    frame = pd.DataFrame({"user_id": [1, None], "item_id": [1, 2]}, index=["a", "b"])
    _fails(r"interactions, row 'b': column 'user_id': null user id", frame)


def test_table_errors() -> None:
    clicks, users, items = _products()
    dup = pd.concat([items, items.iloc[[1]]], ignore_index=True)
    _fails(
        r"items, row 4: column 'item_id': duplicate item '00124' \(also at row 1\)",
        clicks,
        users,
        dup,
    )
    _fails(
        r"users: no column 'user_id' \(the user id\)",
        clicks,
        users.rename(columns={"user_id": "uid"}),
        items,
    )
    bad_price = items.assign(price=[1.0, "cheap", 2.0, 3.0])
    _fails(
        r"items, row 1: column 'price': 'cheap' \(str\) is not like the column's other "
        r"values: numbers, as at row 0",
        clicks,
        users,
        bad_price,
    )
    bad_list = items.assign(category=[["toys"], "books", ["toys"], ["x"]])
    _fails(
        r"items, row 1: column 'category': 'books' \(str\) is not like the column's other "
        r"values: lists",
        clicks,
        users,
        bad_list,
    )
    bad_element = items.assign(category=[["toys"], [1.5], ["toys"], ["x"]])
    _fails(r"row 1: column 'category': list value 1.5 \(float\)", clicks, users, bad_element)
    _fails(
        r"items, row 0: column 'title': a value of type dict is not supported",
        clicks,
        users,
        items.assign(title=[{"a": 1}, "b", "c", "d"]),
    )
    # a declared Numeric column must hold numbers
    schema = Schema(
        user=(Categorical("user_id", id=True),),
        item=(Categorical("item_id", id=True), Numeric("price")),
    )
    as_text = items.assign(price=["1.5", "2", "n/a", "4"])
    _fails(
        r"row 2: column 'price': 'n/a' is not a number \(a Numeric feature\)",
        clicks,
        users,
        as_text,
        schema=schema,
    )
    parsed = from_frames(clicks, users, items.assign(price=["1.5", "2", "3", None]), schema=schema)
    assert parsed.items.columns["price"].tolist()[:3] == [1.5, 2.0, 3.0]


def test_unknown_users_and_items_are_an_error_or_counted_drops() -> None:
    clicks, users, items = _products()
    stray = pd.concat(
        [clicks, pd.DataFrame({"user_id": ["u9", "u1"], "item_id": ["00123", "Z-1"]})],
        ignore_index=True,
    )
    _fails(
        r"interactions, row 5: column 'user_id': user 'u9' is not in the users table "
        r"\(unknown users in 1 interaction\(s\)",
        stray,
        users,
        items,
    )
    with pytest.warns(DroppedRowsWarning, match="dropped 2 of 7 interactions"):
        data = from_frames(stray, users, items, on_unknown="drop")
    assert len(data.interactions) == 5 and any("dropped 2 of 7" in n for n in data.notes)
    _fails(
        r"column 'user_id' holds integer ids but the users table's are string ids",
        clicks.assign(user_id=[1, 2, 1, 3, 3]),
        users,
        items,
    )
    with pytest.raises(ValidationError, match="on_unknown"):
        from_frames(clicks, users, items, on_unknown="skip")


def test_schema_must_match_the_tables() -> None:
    clicks, users, items = _products()
    wrong_id = Schema(user=(Categorical("uid", id=True),), item=(Categorical("item_id", id=True),))
    _fails(
        r"the user id feature 'uid' is not the user id column 'user_id'",
        clicks,
        users,
        items,
        schema=wrong_id,
    )
    absent = Schema(
        user=(Categorical("user_id", id=True), Categorical("age")),
        item=(Categorical("item_id", id=True),),
    )
    _fails(r"users: no column 'age' \(a user feature\)", clicks, users, items, schema=absent)
    _fails(r"user feature 'age' needs a users table", clicks, None, items, schema=absent)


def test_declared_list_columns_split_strings() -> None:
    clicks, users, items = _products()
    piped = items.assign(category=["toys|games", "books", "", None])
    data = from_frames(clicks, users, piped, list_columns=["category"])
    assert data.items.columns["category"].tolist() == [("toys", "games"), ("books",), (), ()]
    semi = from_frames(
        clicks,
        users,
        piped.assign(category=["a;b", "c", "d", "e"]),
        list_columns=["category"],
        list_sep=";",
    )
    assert semi.items.columns["category"][0] == ("a", "b")


def test_frames_with_ratings_train() -> None:
    rng = np.random.default_rng(3)
    n = 400
    ratings = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 30, n)],
            "item_id": [f"SKU-{i:04d}" for i in rng.integers(0, 25, n)],
            "stars": rng.integers(1, 6, n).astype(float),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": [f"SKU-{i:04d}" for i in range(25)],
            "price": rng.uniform(1, 50, 25),
            "category": [["a", "b"][: 1 + i % 2] for i in range(25)],
        }
    )
    data = from_frames(ratings, items=items, rating="stars", rating_scale=(1, 5))
    assert data.schema is not None
    config = ModelConfig(epochs=1, batch_size=64, seed=0)
    encoder = FeatureEncoder.fit(data)
    model = FusionModel(config, encoder)
    history = Trainer(config, progress=False).fit(model, encoder, data)
    assert len(history.epochs) == 1 and np.isfinite(history.epochs[0].train_loss)
    # the inferred schema as code builds the same schema
    assert eval(schema_source(data.schema), vars(features)) == data.schema


# ---- files --------------------------------------------------------------------------------


def test_csv_round_trip_keeps_skus_as_strings(tmp_path: Path) -> None:
    clicks, users, items = _products()
    items = items.assign(category=["toys|games", "books", "toys", "garden"])
    clicks.to_csv(tmp_path / "clicks.csv", index=False)
    users.to_csv(tmp_path / "users.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    data = read_dataset(
        tmp_path / "clicks.csv",
        tmp_path / "users.csv",
        tmp_path / "items.csv",
        list_columns=["category"],
    )
    assert data.items.ids.tolist() == ["00123", "00124", "A-7", "B-8"]
    assert data.items.columns["category"][0] == ("toys", "games")
    assert data.items.columns["in_stock"].dtype == bool
    assert data.source == str(tmp_path / "clicks.csv")
    assert isinstance(data.schema.item[2], MultiCategorical)  # type: ignore[union-attr]


def test_csv_integer_ids_become_int64_only_when_all_canonical(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("user_id,item_id,rating\n1,10,4\n2,0010,5\n")
    data = read_dataset(tmp_path / "r.csv", rating="rating")
    assert data.users.ids.dtype == np.int64 and data.users.ids.tolist() == [1, 2]
    assert data.items.string_ids and sorted(data.items.ids.tolist()) == ["0010", "10"]
    (tmp_path / "items.csv").write_text("item_id,name\n10,x\n0010,y\n")
    both = read_dataset(tmp_path / "r.csv", items_path=tmp_path / "items.csv", rating="rating")
    assert both.items.string_ids


def test_csv_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text("user_id,item_id,rating\n1,10,4\n2,11,9\n")
    with pytest.raises(DataFormatError, match=rf"{path}, line 3: column 'rating': rating 9"):
        read_dataset(path, rating="rating", rating_scale=(1, 5))
    path.write_text("user_id,item_id\n1,10\n,11\n")
    with pytest.raises(DataFormatError, match=rf"{path}, line 3: column 'user_id': null user id"):
        read_dataset(path)
    path.write_text("user_id,item_id\n1,10\n2,11,12\n")
    with pytest.raises(DataFormatError, match=rf"{path}: cannot read it"):
        read_dataset(path)
    items = tmp_path / "items.csv"
    items.write_text("item_id,price\n10,1.5\n11,2\n10,3\n")
    path.write_text("user_id,item_id\n1,10\n")
    with pytest.raises(DataFormatError, match=rf"{items}, line 4: column 'item_id': duplicate"):
        read_dataset(path, items_path=items)
    with pytest.raises(DataFormatError, match=r"no such file"):
        read_dataset(tmp_path / "absent.csv")
    with pytest.raises(DataFormatError, match=r"unknown file type '.json'"):
        read_dataset(tmp_path / "clicks.json")
    with pytest.raises(ValidationError, match="unknown option"):
        read_dataset(path, ratings="x")


def test_parquet_round_trip_and_row_numbers(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    clicks, users, items = _products()
    clicks.to_parquet(tmp_path / "clicks.parquet")
    users.to_parquet(tmp_path / "users.parquet")
    items.to_parquet(tmp_path / "items.parquet")
    data = read_dataset(
        tmp_path / "clicks.parquet", tmp_path / "users.parquet", tmp_path / "items.parquet"
    )
    direct = from_frames(clicks, users, items)
    assert data.schema == direct.schema
    assert data.items.columns["category"].tolist() == direct.items.columns["category"].tolist()
    assert data.items.columns["price"].tolist() == direct.items.columns["price"].tolist()
    users.assign(user_id=["u1", None, "u3"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataFormatError, match=r"bad.parquet, row 2: column 'user_id': null"):
        read_dataset(tmp_path / "clicks.parquet", tmp_path / "bad.parquet")


def test_pandas_extension_dtypes() -> None:
    clicks, users, items = _products()
    items = items.assign(
        stock=pd.array([3, None, 1, 2], dtype="Int64"),
        brand=pd.Series(["x", "y", "x", "x"], dtype="category"),
        code=pd.array([1, 2, 1, 2], dtype="Int64"),
    )
    data = from_frames(clicks, users, items)
    assert data.items.columns["stock"].dtype == np.float64
    assert np.isnan(data.items.columns["stock"][1])
    assert data.items.columns["brand"].tolist() == ["x", "y", "x", "x"]
    assert data.items.columns["code"].dtype == np.int64
    kinds = {f.name: type(f) for f in data.schema.item}  # type: ignore[union-attr]
    assert kinds["stock"] is Numeric and kinds["brand"] is Categorical
    assert kinds["code"] is Categorical


def test_inputs_must_be_frames_and_pandas_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    clicks = _products()[0]
    with pytest.raises(ValidationError, match="users must be a pandas DataFrame, got dict"):
        from_frames(clicks, {"user_id": ["u1"]})
    with pytest.raises(ValidationError, match="rating_scale must be finite with min < max"):
        from_frames(clicks.assign(r=1.0), rating="r", rating_scale=(5, 1))
    with pytest.raises(ValidationError, match="without a rating column"):
        from_frames(clicks, rating_scale=(1, 5))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigError, match=r"pip install 'fusionrec\[data\]'"):
        from_frames(clicks)


def test_the_guide_example_prints_what_the_guide_shows() -> None:
    """docs/your-data.md: its first example runs and its printed schema is what it shows."""
    guide = (Path(__file__).parents[2] / "docs" / "your-data.md").read_text()
    blocks = guide.split("```python\n")
    example = blocks[1].split("```")[0]
    printed = next(b.split("```")[0] for b in blocks if b.startswith("Schema(\n"))
    namespace: dict[str, object] = {}
    exec(example, namespace)
    data = namespace["data"]
    assert repr(data) == "Dataset(source='frames', users=3, items=3, interactions=4 implicit)"
    assert schema_source(data.schema) + "\n" == printed  # type: ignore[attr-defined]
