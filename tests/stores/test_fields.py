"""Metadata field declarations: their checks, defaults and how stores keep them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymilvus import DataType

from fusionrec.errors import ConfigError, ValidationError
from fusionrec.stores import MOVIE_FIELDS, FaissStore, MetadataField, MilvusStore, open_store
from fusionrec.stores.fields import check_fields, fields_from_settings, normalize_metadata
from fusionrec.testing import PRODUCT_FIELDS, random_products, random_queries


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "1abc", "type": "str"}, "must match"),
        ({"name": "id", "type": "str"}, "reserved"),
        ({"name": "vector", "type": "int"}, "reserved"),
        ({"name": "x", "type": "date"}, "choose one of"),
        ({"name": "x", "type": "str", "max_length": 0}, "max_length"),
        ({"name": "x", "type": "list[str]", "max_items": True}, "max_items"),
    ],
)
def test_invalid_declarations(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MetadataField(**kwargs)  # type: ignore[arg-type]


def test_field_lists_are_checked() -> None:
    assert check_fields(None) == MOVIE_FIELDS
    with pytest.raises(ConfigError, match="repeat"):
        check_fields([MetadataField("a", "int"), MetadataField("a", "str")])
    with pytest.raises(ConfigError, match="clash"):
        check_fields([MetadataField("tags", "list[str]"), MetadataField("tags_text", "str")])
    with pytest.raises(ConfigError, match="MetadataField"):
        check_fields(["a"])  # type: ignore[list-item]
    as_json = [f.to_dict() for f in PRODUCT_FIELDS]
    assert fields_from_settings(as_json) == PRODUCT_FIELDS
    with pytest.raises(ConfigError, match="invalid"):
        fields_from_settings([{"name": "a", "type": "int", "colour": 1}])


def test_defaults_and_types() -> None:
    empty = normalize_metadata(None, 0, PRODUCT_FIELDS)
    assert empty == {
        "sku_name": "",
        "brand": "",
        "category": [],
        "price": 0.0,
        "stock": 0,
        "in_stock": False,
    }
    got = normalize_metadata(
        {"price": np.float32(2.5), "stock": np.int64(3), "in_stock": np.bool_(True)},
        4,
        PRODUCT_FIELDS,
    )
    assert (type(got["price"]), type(got["stock"]), type(got["in_stock"])) == (float, int, bool)
    with pytest.raises(ValidationError, match=r"metadata\[4\]\['stock'\] must be an int"):
        normalize_metadata({"stock": True}, 4, PRODUCT_FIELDS)
    with pytest.raises(ValidationError, match=r"unknown key\(s\) \['title'\]"):
        normalize_metadata({"title": "x"}, 4, PRODUCT_FIELDS)
    with pytest.raises(ValidationError, match="exceeds 1024"):
        normalize_metadata({"title": "é" * 513}, 0)


def test_movie_store_settings_are_unchanged(tmp_path: Path) -> None:
    assert "fields" not in FaissStore(dim=4).settings()
    products = FaissStore(dim=4, fields=PRODUCT_FIELDS)
    assert products.settings()["fields"] == [f.to_dict() for f in PRODUCT_FIELDS]
    reopened = open_store(products.settings())
    assert reopened.fields == PRODUCT_FIELDS


def test_faiss_file_keeps_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "p.faiss"
    with FaissStore(dim=16, path=path, fields=PRODUCT_FIELDS) as store:
        store.upsert(*random_products(20, 16))
    with FaissStore(dim=16, path=path) as again:
        assert again.fields == PRODUCT_FIELDS and again.count() == 20
    with pytest.raises(ConfigError, match="open it without fields="):
        FaissStore(dim=16, path=path, fields=MOVIE_FIELDS)
    with FaissStore(dim=16, path=path, fields=PRODUCT_FIELDS) as same:
        assert same.count() == 20


def test_milvus_collection_schema_gives_the_fields(tmp_path: Path) -> None:
    uri = str(tmp_path / "p.db")
    with MilvusStore(uri=uri, collection="products", dim=16, fields=PRODUCT_FIELDS) as store:
        store.upsert(*random_products(20, 16))
        described = store._client.describe_collection(store.physical_collection)
        kinds = {f["name"]: f["type"] for f in described["fields"]}
        assert kinds["price"] == DataType.DOUBLE and kinds["in_stock"] == DataType.BOOL
        assert kinds["category"] == DataType.ARRAY and kinds["category_text"] == DataType.VARCHAR
    with MilvusStore(uri=uri, collection="products") as again:
        assert again.fields == PRODUCT_FIELDS and again.count() == 20
        assert again.search(random_queries(1, 16), 3)[0][0].metadata.keys() == {
            f.name for f in PRODUCT_FIELDS
        }
    with pytest.raises(ConfigError, match="open it without fields="):
        MilvusStore(uri=uri, collection="products", fields=MOVIE_FIELDS)
    with MilvusStore(uri=uri, collection="movies", dim=16) as movies:
        assert movies.fields == MOVIE_FIELDS and "fields" not in movies.settings()
