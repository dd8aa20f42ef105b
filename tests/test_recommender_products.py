"""The facade on a product catalog (not MovieLens): string SKUs end to end.

Trained from Table/Interactions/Dataset directly, indexed into Milvus Lite and into Faiss,
recommending for known and new customers, filtered by metadata, saved and loaded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusionrec import FaissStore, FusionRecommender, ModelConfig
from fusionrec.atomic import current_version
from fusionrec.data.dataset import Dataset, Interactions, Table
from fusionrec.errors import ModelDirError, ValidationError
from fusionrec.stores import MetadataField, MilvusStore, Range, VectorStore, parse_filter
from product_data import product_dataset, product_items

SKUS = set(product_items().ids.tolist())
PRICES = dict(
    zip(product_items().ids.tolist(), product_items().columns["price"].tolist(), strict=True)
)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return product_dataset()


@pytest.fixture(scope="module")
def saved(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = FusionRecommender(progress=False)  # the data picks the preset (ratings or clicks)
    rec.fit(data, epochs=3, seed=0)
    return rec.save(tmp_path_factory.mktemp("products") / "model")


@pytest.fixture(params=["faiss", "milvus"])
def rec(request: pytest.FixtureRequest, saved: Path, tmp_path: Path) -> Iterator[FusionRecommender]:
    """A fresh copy of the trained model with its catalog indexed into the backend."""
    loaded = FusionRecommender.load(saved, progress=False)
    store: VectorStore
    if request.param == "faiss":
        store = FaissStore(dim=loaded.bundle.dim, fields=loaded.fields)
    else:
        store = MilvusStore(
            uri=str(tmp_path / "p.db"),
            collection="products",
            dim=loaded.bundle.dim,
            fields=loaded.fields,
        )
    loaded.store = store
    assert loaded.index_items() == len(SKUS)
    yield loaded
    loaded.close()


def answers(rec: FusionRecommender) -> dict[str, Any]:
    """Everything the end-to-end test asks, as plain data (to compare after save and load)."""

    def ids(recs: list[Any]) -> list[Any]:
        return [(r.item_id, round(r.score, 4)) for r in recs]

    return {
        "known": ids(rec.recommend("cust-001", k=5)),
        "new": ids(rec.recommend(country="DE", k=5)),
        "cheap": ids(rec.recommend("cust-001", k=5, filter=parse_filter("price < 20"))),
        "shoes": ids(
            rec.recommend(country="FR", k=5, filter=parse_filter('category contains_any ["shoes"]'))
        ),
        "similar": ids(rec.similar_items("SKU-003", k=5)),
    }


def test_products_end_to_end(rec: FusionRecommender, data: Dataset, tmp_path: Path) -> None:
    seen = set(data.interactions.item_id[data.interactions.user_id == "cust-001"].tolist())
    known = rec.recommend("cust-001", k=5)
    assert len(known) == 5 and {r.item_id for r in known} <= SKUS - seen
    first = known[0]
    assert set(first.metadata) == {"name", "category", "price"}
    assert first.metadata["price"] == pytest.approx(PRICES[first.item_id])
    out = first.to_dict()
    assert out["item_id"] == first.item_id and "movie_id" not in out
    assert set(out) == {"item_id", "name", "category", "price", "score", "rating"}

    new = rec.recommend(country="DE", k=5)
    assert len(new) == 5 and all(isinstance(r.item_id, str) for r in new)

    cheap = rec.recommend("cust-001", k=5, filter=parse_filter("price < 20"))
    assert len(cheap) == 5 and all(PRICES[r.item_id] < 20 for r in cheap)
    below = Range("price", hi=20, include_hi=False)
    assert [r.item_id for r in rec.recommend("cust-001", k=5, filter=below)] == [
        r.item_id for r in cheap
    ]
    shoes = rec.recommend(country="FR", k=5, filter=parse_filter('category contains_any ["shoes"]'))
    assert len(shoes) == 5 and all("shoes" in r.metadata["category"] for r in shoes)

    similar = rec.similar_items("SKU-003", k=5)
    assert len(similar) == 5 and "SKU-003" not in {r.item_id for r in similar}
    assert all(r.rating is None for r in similar)

    before = answers(rec)
    back = FusionRecommender.load(rec.save(tmp_path / "again"), store=rec.store, progress=False)
    assert answers(back) == before
    assert back.items.ids.tolist() == rec.items.ids.tolist()


def test_the_default_store_gets_the_display_fields(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rec = FusionRecommender.load(saved, progress=False, store_options={"read_only": False})
    rec._store_settings = None  # as after fit(): no saved store, so the default one opens
    assert rec.fields == (
        MetadataField("name", "str", max_length=256),
        MetadataField("category", "list[str]", max_length=256, max_items=64),
        MetadataField("price", "float"),
    )
    rec.index_items()
    assert rec.store.fields == rec.fields and (tmp_path / "fusionrec.db").exists()
    assert len(rec.recommend(country="JP", k=3, filter=parse_filter("price >= 30"))) == 3
    rec.close()


def test_new_items_get_stable_keys(saved: Path) -> None:
    rec = FusionRecommender.load(saved, progress=False)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    extra = Table(
        ["SKU-NEW", "SKU-001"],
        {"name": ["a new hat", "renamed"], "category": [("hats",), ("shirts",)], "price": [9.0, 6]},
        id_name="sku",
    )
    assert rec.add_items(extra) == 2
    assert rec.items.ids.tolist()[-1] == "SKU-NEW" and len(rec.items) == len(SKUS) + 1
    assert rec.items.columns["name"][1] == "renamed"  # updated in place: keys do not move
    assert rec.store.count() == len(SKUS) + 1
    assert rec.similar_items("SKU-NEW", k=3)[0].item_id in SKUS


def test_add_users_makes_new_customers_servable(saved: Path) -> None:
    rec = FusionRecommender.load(saved, progress=False)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    with pytest.raises(ValidationError, match="unknown user id 'cust-new'"):
        rec.recommend("cust-new", k=3)
    assert rec.add_users({"customer": ["cust-new", "cust-001"], "country": ["JP", "DE"]}) == 1
    by_id = rec.recommend("cust-new", k=5)
    assert [r.item_id for r in by_id] == [r.item_id for r in rec.recommend(country="JP", k=5)]
    assert "cust-new" in rec.user_ids.tolist()
    with pytest.raises(ValidationError, match=r"user features are \['country'\]"):
        rec.add_users({"customer": ["x"], "shoe_size": [44]})
    with pytest.raises(ValidationError, match="needs the id column 'customer'"):
        rec.add_users({"country": ["DE"]})


def test_unknown_user_features_are_listed(saved: Path) -> None:
    rec = FusionRecommender.load(saved, progress=False)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    with pytest.raises(ValidationError, match=r"feature\(s\) \['age'\].*\['country'\]"):
        rec.recommend(age=25, k=3)
    with pytest.raises(ValidationError, match="country"):
        rec.recommend(k=3)
    batch = rec.recommend_batch(users={"country": ["DE", "FR"]}, k=3)
    assert [len(b) for b in batch] == [3, 3]


def test_add_interactions_with_string_ids(saved: Path, tmp_path: Path) -> None:
    rec = FusionRecommender.load(saved, progress=False)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    top = rec.recommend("cust-002", k=3)[0].item_id
    assert rec.add_interactions(["cust-002"], [top]) == 1
    assert top not in {r.item_id for r in rec.recommend("cust-002", k=10)}
    with pytest.raises(ValidationError, match="unknown item id 'SKU-999'"):
        rec.add_interactions(["cust-002"], ["SKU-999"])
    with pytest.raises(ValidationError, match="unknown user id 'nobody'"):
        rec.add_interactions(["nobody"], [top])
    back = FusionRecommender.load(rec.save(tmp_path / "m"), store=rec.store, progress=False)
    assert top not in {r.item_id for r in back.recommend("cust-002", k=10)}


def test_predict_and_evaluate_with_string_ids(saved: Path, data: Dataset) -> None:
    rec = FusionRecommender.load(saved, progress=False)
    assert rec.implicit == data.implicit
    result = rec.evaluate(data, k=5)
    assert result.recall is not None and result.n_users is not None and result.n_users > 0
    assert result.n_ratings == len(data.interactions)
    if data.implicit:  # clicks: rankings only
        assert result.rmse is None
        with pytest.raises(ValidationError, match="implicit feedback"):
            rec.predict("cust-000", ["SKU-000"])
        return
    assert result.rmse is not None
    ratings = rec.predict("cust-000", ["SKU-000", "SKU-001"])
    assert ratings.shape == (2,) and np.all((ratings >= 1) & (ratings <= 5))
    assert rec.predict({"country": "DE"}, "SKU-004").shape == (1,)


def test_the_data_decides_the_default_config(data: Dataset) -> None:
    pairs = data.interactions
    implicit = data.with_interactions(Interactions(pairs.user_id, pairs.item_id))
    rec = FusionRecommender(progress=False)
    assert rec._config_for(implicit, {}).objective == "retrieval"
    rated = Interactions(pairs.user_id, pairs.item_id, np.full(len(pairs), 7, dtype=np.float32))
    tenths = Dataset(data.users, data.items, rated, rating_scale=(0.5, 10.0))
    config = rec._config_for(tenths, {})
    assert (config.rating_min, config.rating_max) == (0.5, 10.0)
    assert rec._config_for(tenths, {"rating_min": 1.0}).rating_min == 1.0
    given = FusionRecommender(ModelConfig.preset("rating"), progress=False)
    assert given._config_for(tenths, {}).rating_max == 5.0


def test_movielens_names_are_aliases() -> None:
    assert FusionRecommender.index_movies is FusionRecommender.index_items
    assert FusionRecommender.add_movies is FusionRecommender.add_items
    assert FusionRecommender.similar_movies is FusionRecommender.similar_items


def test_a_model_of_implicit_feedback_predicts_no_ratings(
    saved: Path, data: Dataset, tmp_path: Path, reseal: Callable[[Path, str], Path]
) -> None:
    """What load gives for a model trained on clicks (marked implicit in its state)."""
    copy = Path(shutil.copytree(saved, tmp_path / "implicit"))
    state_file = current_version(copy, "recommender.json") / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["implicit"] = True
    state_file.write_text(json.dumps(state), encoding="utf-8")
    reseal(copy, "recommender.json")
    rec = FusionRecommender.load(copy, progress=False)
    assert rec.implicit
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    recs = rec.recommend("cust-001", k=3) + rec.recommend(country="US", k=3)
    assert len(recs) == 6 and all(r.rating is None for r in recs)
    with pytest.raises(ValidationError, match="implicit feedback"):
        rec.predict("cust-001", ["SKU-001"])
    result = rec.evaluate(data)
    assert result.rmse is None and result.mae is None and result.k == 10
    assert result.recall is not None and result.n_ratings == len(data.interactions)
    state["implicit"] = "yes"
    state_file.write_text(json.dumps(state), encoding="utf-8")
    reseal(copy, "recommender.json")
    with pytest.raises(ModelDirError, match="'implicit' must be true or false"):
        FusionRecommender.load(copy)


def test_display_fields_default_to_every_storable_column(data: Dataset) -> None:
    from fusionrec.recommender import _fields_of

    rated = Table(
        data.items.ids,
        {**data.items.columns, "rating": np.ones(len(data.items)), "blob": [{}] * len(data.items)},
        id_name="sku",
    )
    every = Dataset(data.users, rated, data.interactions, schema=data.schema)
    assert [f.name for f in _fields_of(every, False)] == ["name", "category", "price"]
    named = Dataset(data.users, rated, data.interactions, display=("name", "rating"))
    with pytest.raises(ValidationError, match=r"\['rating'\] would shadow"):
        _fields_of(named, False)
    with pytest.raises(ValidationError, match="display column 'blob'"):
        _fields_of(Dataset(data.users, rated, data.interactions, display=("blob",)), False)


def test_recommend_batch_takes_a_table_of_users(saved: Path, data: Dataset) -> None:
    rec = FusionRecommender.load(saved, progress=False)
    rec.store = FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    rec.index_items()
    users = Table(["cust-001", "someone-new"], {"country": ["FR", "JP"]}, id_name="customer")
    known, new = rec.recommend_batch(users=users, k=5)
    seen = set(data.interactions.item_id[data.interactions.user_id == "cust-001"].tolist())
    assert len(known) == 5 and not {r.item_id for r in known} & seen
    assert [r.item_id for r in new] == [r.item_id for r in rec.recommend(country="JP", k=5)]
