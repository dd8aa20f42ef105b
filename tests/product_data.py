"""A synthetic product catalog built from the generic Dataset parts (not MovieLens).

String SKUs and customer ids, a list-valued category, a float price, customers with a
country. Customers of a country prefer one category, so a trained model has something to
learn. The feedback is clicks without ratings (implicit), as a shop logs it.
"""

from __future__ import annotations

import numpy as np

from fusionrec.data.dataset import Dataset, Interactions, Table
from fusionrec.features import Schema
from fusionrec.features.categorical import Categorical
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.numeric import Numeric
from fusionrec.features.text import Text

CATEGORIES = ("shoes", "shirts", "hats", "bags")
COUNTRIES = ("DE", "FR", "US", "JP")
N_ITEMS, N_USERS = 60, 40


def product_items() -> Table:
    """60 products: every third in two categories, prices from 5 to 64 (a third below 20)."""
    skus = [f"SKU-{i:03d}" for i in range(N_ITEMS)]
    category = [
        (CATEGORIES[i % 4], CATEGORIES[(i + 1) % 4]) if i % 3 == 0 else (CATEGORIES[i % 4],)
        for i in range(N_ITEMS)
    ]
    price = np.asarray([5.0 + (i * 37 % N_ITEMS) for i in range(N_ITEMS)], dtype=np.float64)
    name = [f"{CATEGORIES[i % 4]} model {i}" for i in range(N_ITEMS)]
    return Table(skus, {"name": name, "category": category, "price": price}, id_name="sku")


def product_users() -> Table:
    ids = [f"cust-{u:03d}" for u in range(N_USERS)]
    return Table(ids, {"country": [COUNTRIES[u % 4] for u in range(N_USERS)]}, id_name="customer")


def product_interactions(seed: int = 0) -> Interactions:
    """15 clicks per customer, 10 of them in the country's favourite category."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(N_USERS):
        liked = [i for i in range(N_ITEMS) if i % 4 == u % 4]
        other = [i for i in range(N_ITEMS) if i % 4 != u % 4]
        picks = list(rng.choice(liked, 10, replace=False)) + list(rng.choice(other, 5, False))
        for i in picks:
            users.append(f"cust-{u:03d}")
            items.append(f"SKU-{int(i):03d}")
    return Interactions(np.asarray(users, dtype=object), np.asarray(items, dtype=object))


PRODUCT_SCHEMA = Schema(
    user=(Categorical("customer", id=True, dim=8, fc=8), Categorical("country", dim=4, fc=4)),
    item=(
        Categorical("sku", id=True, dim=8, fc=8),
        MultiCategorical("category", dim=8),
        Numeric("price"),
        Text("name", dim=8, filters=8),
    ),
)


def product_dataset(seed: int = 0) -> Dataset:
    """The catalog, its customers and their interactions, with the features to train."""
    interactions = product_interactions(seed)
    scale = (1.0, 5.0) if interactions.explicit else None
    return Dataset(
        product_users(),
        product_items(),
        interactions,
        rating_scale=scale,
        schema=PRODUCT_SCHEMA,
        source="products",
        display=("name", "category", "price"),
    )
