"""Time a Faiss store's first search under a new filter, on a product catalog.

The first search with a filter not seen since the last write evaluates it over every item
(later ones hit the store's per-filter cache). This times that cold search, the column
masks alone (``_columns.Columns``, as the store evaluates: building the columns the filter
reads, then the mask), the mask over columns already built (what each further new filter
costs until the next write), and the reference semantics (``Predicate.matches`` called per
item, the way the store evaluated filters before it kept columns). Writes
benchmarks/results/<name>.json and prints a markdown table.

    python benchmarks/bench_filters.py [--sizes 10000 100000] [--dim 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, write_results

from fusionrec.stores import FaissStore, Predicate, parse_filter
from fusionrec.stores._columns import Columns
from fusionrec.testing import PRODUCT_FIELDS, random_products, random_queries

FILTERS = (
    "price < 20",
    "category contains_any ['tools', 'garden']",
    "price < 20 and category contains_any ['tools'] and in_stock = true",
    "not (brand in ['acme', 'globex'] or stock >= 5)",
)


def _best(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(n: int, dim: int, repeats: int) -> list[dict[str, Any]]:
    ids, vectors, meta = random_products(n, dim)
    store = FaissStore(dim=dim, fields=PRODUCT_FIELDS)
    store.upsert(ids, vectors, meta)
    state = store._state
    query = random_queries(1, dim)
    rows = []
    for text in FILTERS:
        flt: Predicate = parse_filter(text)

        def cold_search(flt: Predicate = flt) -> None:
            state.filters.clear()
            state.columns = None
            store.search(query, 10, filter=flt)

        def masks(flt: Predicate = flt) -> None:
            Columns(state.label_to_id, state.meta, PRODUCT_FIELDS).mask(flt)

        built = Columns(state.label_to_id, state.meta, PRODUCT_FIELDS)
        built.mask(flt)

        def mask_only(flt: Predicate = flt, built: Columns = built) -> None:
            built.mask(flt)

        def per_item(flt: Predicate = flt) -> None:
            [i for i, m in state.meta.items() if flt.matches(i, m)]

        def warm_search(flt: Predicate = flt) -> None:
            store.search(query, 10, filter=flt)

        warm = statistics.median(_best(warm_search, 1) for _ in range(50))
        rows.append(
            {
                "n": n,
                "filter": text,
                "share": round(float(np.mean([flt.matches(0, m) for m in meta])), 3),
                "cold_search_ms": 1000 * _best(cold_search, repeats),
                "column_mask_ms": 1000 * _best(masks, repeats),
                "mask_on_built_columns_ms": 1000 * _best(mask_only, repeats),
                "per_item_matches_ms": 1000 * _best(per_item, repeats),
                "warm_search_ms": 1000 * warm,
            }
        )
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="filters")
    args = parser.parse_args()
    rows = [row for n in args.sizes for row in run(n, args.dim, args.repeats)]
    headers = ["n", "filter", "share", "cold search ms", "build + mask ms", "mask ms"]
    headers += ["per-item matches ms", "warm search ms"]
    table = markdown_table(headers, [list(r.values()) for r in rows], digits=3)
    print(table)
    payload = {"machine": machine_info(), "dim": args.dim, "results": rows}
    print(write_results(args.name, payload))


if __name__ == "__main__":
    main()
