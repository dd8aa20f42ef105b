"""examples/products.py, the issue-14 catalog: string SKUs, list categories, prices, clicks.

Trained once on the example's own synthetic shop; indexed into Milvus Lite and into Faiss;
known and new customers, price and category filters, similar items by SKU, save and load.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fusionrec import FusionRecommender

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from products import COUNTRIES, TASTE, answers, main, make_shop, open_store, train

Shop = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def shop() -> Shop:
    return make_shop(seed=0)


@pytest.fixture(scope="module")
def trained(shop: Shop) -> FusionRecommender:
    return train(*shop, progress=False)


@pytest.fixture(params=["milvus", "faiss"])
def rec(
    request: pytest.FixtureRequest, trained: FusionRecommender, tmp_path: Path
) -> Iterator[FusionRecommender]:
    trained.store = open_store(trained, request.param, tmp_path)
    assert trained.index_items() == 400
    yield trained
    trained.close()


def test_clicks_train_the_retrieval_preset_with_an_inferred_schema(
    trained: FusionRecommender,
) -> None:
    assert trained.implicit and trained.config.objective == "retrieval"
    kinds = {f.name: f.kind for f in trained.bundle.encoder.schema.item}
    assert kinds == {
        "sku": "categorical",
        "name": "text",
        "category": "multi_categorical",
        "price": "numeric",
    }


def test_the_shop_end_to_end(rec: FusionRecommender, shop: Shop, tmp_path: Path) -> None:
    clicks, _, products = shop
    price = dict(zip(products.sku, products.price, strict=True))
    seen = set(clicks.sku[clicks.customer == "C0001"])
    got = answers(rec, "C0001", "SKU-00003")
    known, new, cheap, bags, similar = got.values()
    assert len(known) == 5 and not {r.item_id for r in known} & seen
    assert all(r.rating is None for r in known)  # clicks predict no ratings
    assert len(new) == 5 and all(isinstance(r.item_id, str) for r in new)
    assert len(cheap) == 5 and all(price[r.item_id] < 20 for r in cheap)
    assert all(r.metadata["price"] == pytest.approx(price[r.item_id]) for r in cheap)
    assert len(bags) == 5 and all("bags" in r.metadata["category"] for r in bags)
    assert len(similar) == 5 and "SKU-00003" not in {r.item_id for r in similar}

    back = FusionRecommender.load(rec.save(tmp_path / "model"), store=rec.store, progress=False)
    assert answers(back, "C0001", "SKU-00003") == got


def test_a_new_customer_gets_their_countrys_taste(rec: FusionRecommender) -> None:
    """Given only a country, most of the top 10 are in the country's two favourite categories
    (about 3 in 10 products are, so chance gives ~0.3)."""
    shares = []
    for country in COUNTRIES:
        recs = rec.recommend(country=country, k=10)
        shares.append(
            np.mean([bool(set(r.metadata["category"]) & set(TASTE[country])) for r in recs])
        )
    assert np.mean(shares) >= 0.6, shares


def test_the_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--store", "faiss", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert 'MultiCategorical("category")' in out and "indexed 400 products into faiss" in out
    assert "loaded back, the answers are the same" in out
