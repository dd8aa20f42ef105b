"""The serving commands on a product catalog: string ids and ``--feature`` for a new user."""

from __future__ import annotations

import json

import pytest

from fusionrec import FusionRecommender
from fusionrec.cli import _id_of, _typed, main
from fusionrec.data.dataset import Table
from product_data import product_dataset


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A product model saved, then indexed into a Faiss file by ``fusionrec index``."""
    root = tmp_path_factory.mktemp("cli-products")
    rec = FusionRecommender(progress=False)  # the data picks the preset (ratings or clicks)
    rec.fit(product_dataset(), epochs=1, seed=0)
    model = str(rec.save(root / "model"))
    uri = str(root / "items.faiss")
    assert main(["index", "--model-dir", model, "--store", "faiss", "--uri", uri, "-q"]) == 0
    return {"model": model, "uri": uri}


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_recommend_a_new_user_by_feature(
    indexed: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["recommend", "--model-dir", indexed["model"], "-k", "4"]
    out = json.loads(_run(capsys, [*base, "--feature", "country=DE", "--json"]))
    assert len(out) == 4 and all(r["item_id"].startswith("SKU-") for r in out)
    assert set(out[0]) == {"item_id", "name", "category", "price", "score", "rating"}
    cheap = json.loads(
        _run(capsys, [*base, "-f", "country=FR", "--filter", "price < 20", "--json"])
    )
    assert cheap and all(r["price"] < 20 for r in cheap)
    table = _run(capsys, [*base, "-u", "cust-002"])
    assert "item id" in table and "SKU-" in table and "category=" in table
    capsys.readouterr()
    assert main([*base, "--feature", "planet=Mars"]) != 0
    assert "['country']" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: not NAME=VALUE
        main([*base, "--feature", "country"])
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_similar_by_sku(indexed: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["similar", "--model-dir", indexed["model"], "-i", "SKU-007", "-k", "3", "--json"]
    out = json.loads(_run(capsys, argv))
    assert len(out) == 3 and "SKU-007" not in {r["item_id"] for r in out}


def test_feature_values_take_the_kind_of_their_training_column() -> None:
    users = Table(["a", "b"], {"zip": ["00123", "99"], "age": [30, 41], "score": [0.5, 1.0]})
    typed = _typed({"zip": "00123", "age": "25", "score": "2.5", "other": "7"}, users)
    assert typed == {"zip": "00123", "age": 25, "score": 2.5, "other": "7"}
    assert _id_of("00123", string_ids=True) == "00123" and _id_of("42", string_ids=False) == 42
