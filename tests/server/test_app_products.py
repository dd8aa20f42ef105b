"""The HTTP API on a product catalog: string ids in paths and bodies, generic fields out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fusionrec import FaissStore, FusionRecommender
from fusionrec.server import create_app
from product_data import product_dataset


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = FusionRecommender(progress=False)  # the data picks the preset (ratings or clicks)
    rec.fit(product_dataset(), epochs=1, seed=0)
    return rec.save(tmp_path_factory.mktemp("served-products") / "model")


@pytest.fixture
def client(saved: Path) -> Iterator[TestClient]:
    rec = FusionRecommender.load(saved, progress=False)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    with TestClient(create_app(rec)) as test_client:
        yield test_client


def _ids(response: object) -> list[object]:
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    return [h["item_id"] for h in response.json()["items"]]  # type: ignore[attr-defined]


def test_string_ids_and_features_over_http(client: TestClient) -> None:
    known = client.post("/api/recommend", json={"user_id": "cust-003", "k": 4})
    hits = known.json()["items"]
    assert len(hits) == 4 and set(hits[0]) == {
        "item_id",
        "name",
        "category",
        "price",
        "score",
        "rating",
    }
    new = _ids(client.post("/api/recommend", json={"features": {"country": "DE"}, "k": 3}))
    assert len(new) == 3 and all(isinstance(i, str) for i in new)
    cheap = client.post(
        "/api/recommend",
        json={"features": {"country": "FR"}, "k": 3, "filter": {"expr": "price < 20"}},
    )
    assert all(h["price"] < 20 for h in cheap.json()["items"])
    batch = client.post(
        "/api/recommend/batch",
        json={"users": [{"user_id": "cust-001"}, {"features": {"country": "JP"}}], "k": 2},
    )
    assert [len(r) for r in batch.json()["results"]] == [2, 2]
    unknown = client.post("/api/recommend", json={"features": {"shoe_size": 44}})
    assert unknown.status_code == 400 and "country" in unknown.json()["detail"]


def test_items_and_interactions_by_sku(client: TestClient) -> None:
    item = client.get("/api/items/SKU-005")
    assert item.status_code == 200
    assert item.json()["item_id"] == "SKU-005" and item.json()["indexed"]
    assert item.json()["category"] and "movie_id" not in item.json()
    assert client.get("/api/items/SKU-999").status_code == 404
    similar = _ids(client.get("/api/items/SKU-005/similar", params={"k": 3}))
    assert len(similar) == 3 and "SKU-005" not in similar
    top = _ids(client.post("/api/recommend", json={"user_id": "cust-004", "k": 1}))[0]
    added = client.post(
        "/api/interactions", json={"interactions": [{"user_id": "cust-004", "item_id": top}]}
    )
    assert added.json() == {"received": 1, "added": 1}
    after = _ids(client.post("/api/recommend", json={"user_id": "cust-004", "k": 5}))
    assert top not in after
    info = client.get("/api/model").json()
    assert info["users"]["min_id"] is None and info["new_user_fields"] == [
        {"name": "country", "label": "country"}
    ]
    assert [f["name"] for f in info["items"]["fields"]] == ["name", "category", "price"]


def test_add_items_by_sku(client: TestClient) -> None:
    hat = {"item_id": "SKU-NEW", "name": "a rain hat", "category": ["hats"], "price": 12.5}
    added = client.post("/api/items", json={"items": [hat]})
    assert added.status_code == 200, added.text
    assert added.json() == {"received": 1, "added": 1}
    item = client.get("/api/items/SKU-NEW").json()
    assert item["category"] == ["hats"] and item["price"] == 12.5 and item["indexed"]
    hats = client.post(
        "/api/recommend",
        json={"features": {"country": "JP"}, "k": 60, "filter": {"expr": "price < 13"}},
    )
    assert "SKU-NEW" in [h["item_id"] for h in hats.json()["items"]]
    unknown = client.post("/api/items", json={"items": [{"item_id": "X", "colour": "red"}]})
    assert unknown.status_code == 400 and "colour" in unknown.json()["detail"]
    nested = client.post("/api/items", json={"items": [{"item_id": "X", "name": {"a": 1}}]})
    assert nested.status_code == 422
    both = client.post("/api/items", json={"items": [{"item_id": "X", "movie_id": 3}]})
    assert both.status_code == 422
