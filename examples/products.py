"""A product catalog, not movies: string SKUs, list-valued categories, prices, clicks.

The example makes its own synthetic shop (no download): customers in five countries, each
country leaning towards some categories, and clicks without ratings (implicit feedback). It
reads them from pandas DataFrames with an inferred schema, trains, indexes the products into
Milvus Lite (or Faiss), recommends for a known and a new customer, filters by price and
category, finds similar products by SKU, and checks the answers survive save and load.

Run: python examples/products.py [--store milvus|faiss] [--workdir DIR]
(needs the data extra: pip install 'fusionrec[data]')
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionrec import FaissStore, FusionRecommender, MilvusStore, Recommendation, VectorStore
from fusionrec.data.frames import from_frames
from fusionrec.data.inference import schema_source
from fusionrec.stores import parse_filter

CATEGORIES = ("shoes", "shirts", "bags", "hats", "socks", "jackets", "watches", "scarves")
COUNTRIES = ("DE", "FR", "US", "JP", "BR")
#: categories each country's customers lean towards (the structure the model should find)
TASTE = {
    "DE": ("shoes", "jackets"),
    "FR": ("scarves", "bags"),
    "US": ("shirts", "hats"),
    "JP": ("watches", "socks"),
    "BR": ("shoes", "shirts"),
}
#: what one product of each category is called
NOUN = {
    "shoes": "shoe",
    "shirts": "shirt",
    "bags": "bag",
    "hats": "hat",
    "socks": "socks",
    "jackets": "jacket",
    "watches": "watch",
    "scarves": "scarf",
}
#: typical price of each category, in the shop's currency
PRICE = {
    "shoes": 60.0,
    "shirts": 25.0,
    "bags": 45.0,
    "hats": 15.0,
    "socks": 8.0,
    "jackets": 90.0,
    "watches": 120.0,
    "scarves": 18.0,
}


def make_shop(
    n_items: int = 400, n_customers: int = 300, n_clicks: int = 8000, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(clicks, customers, products)`` DataFrames of a synthetic shop.

    products: ``sku`` (str), ``name`` (str), ``category`` (list of str), ``price`` (float);
    customers: ``customer`` (str), ``country`` (str); clicks: ``customer``, ``sku``,
    ``timestamp`` (int). A customer clicks mostly within their country's two categories.
    """
    rng = np.random.default_rng(seed)
    skus = [f"SKU-{i:05d}" for i in range(n_items)]
    main = rng.choice(len(CATEGORIES), size=n_items)
    categories: list[list[str]] = []
    for m in main:
        second = rng.choice(len(CATEGORIES))
        names = [CATEGORIES[m]] + ([CATEGORIES[second]] if rng.random() < 0.3 else [])
        categories.append(sorted(set(names)))
    price = np.round([PRICE[CATEGORIES[m]] * float(rng.lognormal(0.0, 0.35)) for m in main], 2)
    adjectives = ("classic", "light", "warm", "smart", "sport", "city", "travel", "basic")
    names = [f"{rng.choice(adjectives)} {NOUN[CATEGORIES[m]]} {i}" for i, m in enumerate(main)]
    products = pd.DataFrame({"sku": skus, "name": names, "category": categories, "price": price})

    customer_ids = [f"C{i:04d}" for i in range(n_customers)]
    country = rng.choice(len(COUNTRIES), size=n_customers)
    customers = pd.DataFrame({"customer": customer_ids, "country": [COUNTRIES[c] for c in country]})

    popularity = rng.zipf(1.6, size=n_items).astype(np.float64)
    in_category = {
        name: np.flatnonzero([name in cats for cats in categories]) for name in CATEGORIES
    }
    who = rng.integers(0, n_customers, size=n_clicks)
    clicked = np.empty(n_clicks, dtype=np.int64)
    for row, c in enumerate(who):
        liked = TASTE[COUNTRIES[country[c]]]
        if rng.random() < 0.8:
            pool = in_category[liked[int(rng.random() < 0.5)]]
        else:
            pool = np.arange(n_items)
        weights = popularity[pool] / popularity[pool].sum()
        clicked[row] = pool[rng.choice(len(pool), p=weights)]
    clicks = pd.DataFrame(
        {
            "customer": [customer_ids[c] for c in who],
            "sku": [skus[i] for i in clicked],
            "timestamp": 1_700_000_000 + np.arange(n_clicks) * 60,
        }
    )
    return clicks, customers, products


# ---------------------------------------------------------------------------- the workflow


def train(
    clicks: pd.DataFrame,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    *,
    progress: bool = True,
    **options: Any,
) -> FusionRecommender:
    """Build the Dataset (schema inferred from the columns) and train on the clicks.

    Without ratings the recommender trains its ``retrieval`` preset (in-batch softmax over
    the clicks); ``options`` override config fields, e.g. ``epochs=5``.
    """
    data = from_frames(
        clicks, customers, products, user="customer", item="sku", timestamp="timestamp"
    )
    assert data.schema is not None
    if progress:
        print("inferred schema (copy and adjust it to change the features):")
        print(schema_source(data.schema))
    return FusionRecommender(progress=progress).fit(data, **options)


def open_store(rec: FusionRecommender, backend: str, workdir: Path) -> VectorStore:
    """An empty store of the model's dimension, keeping the products' display fields."""
    if backend == "faiss":
        return FaissStore(dim=rec.bundle.dim, fields=rec.fields)
    return MilvusStore(
        uri=str(workdir / "products.db"),
        collection="products",
        dim=rec.bundle.dim,
        fields=rec.fields,
    )


def answers(rec: FusionRecommender, customer: str, sku: str) -> dict[str, list[Recommendation]]:
    """The questions a shop asks, each a ranked list of products."""
    return {
        f"for customer {customer}": rec.recommend(customer, k=5),
        "for a new customer from DE": rec.recommend(country="DE", k=5),
        f"for {customer}, under 20": rec.recommend(
            customer, k=5, filter=parse_filter("price < 20")
        ),
        "for a new customer from JP, bags": rec.recommend(
            country="JP", k=5, filter=parse_filter('category contains_any ["bags"]')
        ),
        f"similar to {sku}": rec.similar_items(sku, k=5),
    }


def show(title: str, recs: list[Recommendation]) -> None:
    print(f"\n{title}:")
    for r in recs:
        category = ", ".join(r.metadata["category"])
        print(f"  {r.item_id}  {r.metadata['name']:<22} {category:<16} {r.metadata['price']:>7.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("milvus", "faiss"), default="milvus")
    parser.add_argument("--workdir", type=Path, default=Path("products-example"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    rec = train(*make_shop())
    rec.store = open_store(rec, args.store, args.workdir)
    print(f"\nindexed {rec.index_items()} products into {args.store}")
    for title, recs in answers(rec, "C0001", "SKU-00003").items():
        show(title, recs)

    saved = rec.save(args.workdir / "model")
    back = FusionRecommender.load(saved, store=rec.store, progress=False)
    same = answers(back, "C0001", "SKU-00003") == answers(rec, "C0001", "SKU-00003")
    print(f"\nsaved to {saved}; loaded back, the answers are {'the same' if same else 'DIFFERENT'}")
    rec.close()


if __name__ == "__main__":
    main()
