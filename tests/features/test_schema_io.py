"""Schema files (save/load) and schema source code (schema_source) round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fusionrec.features as features
from fusionrec.data import schema_source
from fusionrec.errors import ConfigError, DataFormatError, ValidationError
from fusionrec.features import (
    Categorical,
    MultiCategorical,
    Numeric,
    Schema,
    Text,
    movielens_csv_schema,
    movielens_schema,
)

CUSTOM = Schema(
    user=(
        Categorical("user_id", dim=32, fc=32, id=True),
        Categorical("zip_code", prefix=2, min_count=3),
        Numeric("age", fc=4, missing=0.0),
    ),
    item=(
        Categorical("sku", id=True),
        MultiCategorical("tags", dim=8, pooling="mean", min_count=2),
        Text("description", dim=16, filters=8, window=5, max_words=40),
    ),
)


@pytest.mark.parametrize("schema", [CUSTOM, movielens_schema(), movielens_csv_schema()])
def test_source_evaluates_to_an_equal_schema(schema: Schema) -> None:
    source = schema_source(schema)
    assert source.startswith("Schema(\n    user=(\n")
    assert eval(source, vars(features)) == schema


def test_source_leaves_defaults_out() -> None:
    source = schema_source(CUSTOM)
    assert '        Categorical("zip_code", min_count=3, prefix=2),' in source
    assert 'MultiCategorical("tags", dim=8, pooling="mean", min_count=2)' in source
    assert 'Categorical("sku", id=True)' in source
    with pytest.raises(ValidationError, match="needs a Schema"):
        schema_source("schema")  # type: ignore[arg-type]


def test_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    CUSTOM.save(path)
    assert Schema.load(path) == CUSTOM
    assert json.loads(path.read_text())["schema_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["schema.json"]  # no temporary file left


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    with pytest.raises(DataFormatError, match=rf"{path}: no such schema file"):
        Schema.load(path)
    path.write_text("{not json")
    with pytest.raises(DataFormatError, match=rf"{path}: not a UTF-8 JSON schema"):
        Schema.load(path)
    data = CUSTOM.to_dict()
    data["item"][1]["kind"] = "bag"
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=rf"{path}: not a feature spec"):
        Schema.load(path)
    data = CUSTOM.to_dict()
    data["user"][1]["dims"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=rf"{path}: .*unknown field\(s\): dims"):
        Schema.load(path)
    with pytest.raises(ConfigError, match="cannot write the schema"):
        CUSTOM.save(tmp_path / "absent" / "schema.json")
