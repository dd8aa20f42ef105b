from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec import catalog
from fusionrec.data import MovieLens
from fusionrec.data.dataset import Dataset, Table
from fusionrec.errors import ModelDirError, ValidationError


def _products() -> Table:
    return Table(
        ["SKU-1", "SKU-2", "Ünïcode-3"],
        {
            "name": ["Trail shoe", None, "Wollmütze"],
            "category": [("shoes", "outdoor"), (), ("hats",)],
            "price": np.array([19.5, 42.0, 7.25]),
            "stock": np.array([3, 0, 12]),
            "on_sale": np.array([True, False, True]),
            "rank": [1, None, 3],
        },
        id_name="sku",
    )


def test_a_product_table_round_trips_with_missing_values(tmp_path: Path) -> None:
    table = _products()
    catalog.save_table(table, tmp_path / "items.npz")
    back = catalog.load_table(tmp_path / "items.npz")
    assert back.id_name == "sku" and back.ids.tolist() == table.ids.tolist()
    assert list(back.columns) == list(table.columns)
    for name, values in table.columns.items():
        assert back.columns[name].tolist() == values.tolist(), name
    assert back.columns["price"].dtype == np.float64 and back.columns["stock"].dtype == np.int64


def test_movielens_tables_round_trip(tmp_path: Path, tiny_data: MovieLens) -> None:
    data = Dataset.from_movielens(tiny_data)
    for table in (data.users, data.items):
        catalog.save_table(table, tmp_path / "t.npz")
        back = catalog.load_table(tmp_path / "t.npz")
        np.testing.assert_array_equal(back.ids, table.ids)
        for name, values in table.columns.items():
            assert back.columns[name].tolist() == values.tolist(), name


def test_an_unstorable_column_is_refused(tmp_path: Path) -> None:
    table = Table([1, 2], {"blob": [{"a": 1}, {"b": 2}]})
    with pytest.raises(ValidationError, match="'blob'"):
        catalog.save_table(table, tmp_path / "t.npz")


def test_merge_updates_in_place_and_appends_new_ids() -> None:
    table = _products()
    extra = Table(["SKU-2", "SKU-9"], {"name": ["Renamed", "New"]}, id_name="sku")
    merged = catalog.merge_tables(table, extra)
    assert merged.ids.tolist() == ["SKU-1", "SKU-2", "Ünïcode-3", "SKU-9"]
    assert merged.columns["name"].tolist() == ["Trail shoe", "Renamed", "Wollmütze", "New"]
    assert merged.columns["price"].tolist() == [19.5, 42.0, 7.25, None]
    with pytest.raises(ValidationError, match="not in the table"):
        catalog.merge_tables(table, Table(["SKU-5"], {"colour": ["red"]}, id_name="sku"))
    with pytest.raises(ValidationError, match="ids are strings"):
        catalog.merge_tables(table, Table([5], {}, id_name="sku"))


def test_corrupt_files_raise_model_dir_error(tmp_path: Path) -> None:
    (tmp_path / "users.npz").write_bytes(b"garbage")
    with pytest.raises(ModelDirError, match=r"users\.npz"):
        catalog.load_table(tmp_path / "users.npz")
    catalog.save_table(_products(), tmp_path / "items.npz")
    with np.load(tmp_path / "items.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["c2"] = arrays["c2"][:2]  # price: a row short
    np.savez(tmp_path / "items.npz", **arrays)
    with pytest.raises(ModelDirError, match=r"items\.npz.*c2 has 2 rows"):
        catalog.load_table(tmp_path / "items.npz")
