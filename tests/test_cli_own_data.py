"""``fusionrec train --interactions``: a shop's CSV files, from training to recommending."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fusionrec.cli import main
from fusionrec.features import Schema

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from products import make_shop


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example shop as three CSV files; categories joined with '|'."""
    root = tmp_path_factory.mktemp("shop")
    clicks, customers, products = make_shop(n_items=120, n_customers=80, n_clicks=2000)
    products = products.assign(category=["|".join(c) for c in products.category])
    paths = {"clicks": root / "clicks.csv", "customers": root / "customers.csv"}
    paths["products"] = root / "products.csv"
    clicks.to_csv(paths["clicks"], index=False)
    customers.to_csv(paths["customers"], index=False)
    products.to_csv(paths["products"], index=False)
    return {name: str(path) for name, path in paths.items()} | {"root": str(root)}


def _train_args(files: dict[str, str]) -> list[str]:
    return [
        "train",
        "--interactions", files["clicks"],
        "--users", files["customers"],
        "--items", files["products"],
        "--user-col", "customer",
        "--item-col", "sku",
        "--timestamp-col", "timestamp",
        "--list-column", "category",
    ]  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_print_schema_gives_python_and_json_that_round_trip(
    files: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = _run(capsys, [*_train_args(files), "--print-schema"])
    python, _, rest = out.partition("# JSON: ")
    namespace: dict[str, Schema] = {}
    exec(python, namespace)  # the printed Python runs as it is
    schema = namespace["schema"]
    assert {f.name: f.kind for f in schema.item}["category"] == "multi_categorical"
    saved = Schema.from_dict(json.loads(rest.split("\n", 1)[1]))
    assert saved == schema
    path = tmp_path / "schema.json"
    saved.save(path)
    again = _run(capsys, [*_train_args(files), "--schema", str(path), "--print-schema"])
    assert again == out


def test_train_index_and_recommend_from_csv_files(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(Path(files["root"]) / "model")
    uri = str(Path(files["root"]) / "items.faiss")
    out = _run(capsys, [*_train_args(files), "--model-dir", model, "--epochs", "2", "-q"])
    assert "trained on 2,000 interactions" in out
    _run(capsys, ["index", "--model-dir", model, "--store", "faiss", "--uri", uri, "-q"])
    serve = ["--model-dir", model, "--store", "faiss", "--uri", uri, "--json"]
    known = json.loads(_run(capsys, ["recommend", *serve, "-u", "C0001", "-k", "3"]))
    assert len(known) == 3 and all(r["item_id"].startswith("SKU-") for r in known)
    cheap = json.loads(
        _run(capsys, ["recommend", *serve, "-f", "country=DE", "--filter", "price < 20"])
    )
    assert cheap and all(r["price"] < 20 for r in cheap)
    assert all(isinstance(r["category"], list) for r in cheap)
    similar = json.loads(_run(capsys, ["similar", *serve, "-i", "SKU-00003", "-k", "4"]))
    assert len(similar) == 4 and "SKU-00003" not in {r["item_id"] for r in similar}


def test_own_data_errors_name_the_problem(
    files: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["train", "--data-dir", files["root"], "--users", files["customers"]]) == 1
    assert "--users need(s) --interactions FILE" in capsys.readouterr().err
    assert main([*_train_args(files)]) == 1
    assert "--model-dir is required" in capsys.readouterr().err
    broken = tmp_path / "clicks.csv"
    broken.write_text("customer,sku\nC0001,SKU-00001\n,SKU-00002\n", encoding="utf-8")
    args = ["train", "--interactions", str(broken), "--user-col", "customer"]
    assert main([*args, "--item-col", "sku", "--model-dir", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert str(broken) in err and "line 3" in err and "customer" in err
    assert not (tmp_path / "m").exists()
