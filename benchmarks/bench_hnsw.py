"""HNSW on Faiss at scale: one build, then a sweep of efSearch for the recall/latency trade-off.

The vectors are bench_stores' structured ones (low rank plus noise, 200-d, normalized). Each
efSearch is measured through ``FaissStore.search`` (single queries, one Faiss thread): p50,
p99 and recall@10 against exact numpy search in the same run.

Run: python benchmarks/bench_hnsw.py [--n 1000000] [--ef 16,24,32,48,64,96,128]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, write_results
from bench_stores import exact_top_k, make_data, percentiles, recall_at_k

from fusionrec.stores import FaissStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=200)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="16,24,32,48,64,96,128")
    parser.add_argument("--name", default="hnsw", help="results file: results/<name>.json")
    args = parser.parse_args()

    vectors, queries, meta = make_data(args.n, args.queries, args.dim, seed=0)
    truth = exact_top_k(vectors, queries, args.k)
    ids = np.arange(args.n, dtype=np.int64)
    store = FaissStore(dim=args.dim, index="hnsw", M=args.m, efConstruction=args.ef_construction)
    start = time.perf_counter()
    for lo in range(0, args.n, 100_000):
        store.upsert(ids[lo : lo + 100_000], vectors[lo : lo + 100_000], meta[lo : lo + 100_000])
    build_s = time.perf_counter() - start

    rows: list[dict[str, Any]] = []
    for ef in (int(x) for x in args.ef.split(",")):
        store.set_search_params(efSearch=ef)
        for q in queries[:50]:  # warm-up
            store.search(q, args.k)
        times, got = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.search(q, args.k)[0]
            times.append(time.perf_counter() - t0)
            got.append([h.id for h in hits])
        p50, p99 = percentiles(times)
        rows.append(
            {"efSearch": ef, "p50_ms": p50, "p99_ms": p99, "recall_at_10": recall_at_k(got, truth)}
        )
        print(rows[-1], flush=True)

    results = {
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "M": args.m,
        "efConstruction": args.ef_construction,
        "build_s": build_s,
        "sweep": rows,
        "machine": machine_info(),
    }
    write_results(args.name, results)
    print(
        f"FaissStore HNSW, N = {args.n:,}, M {args.m}, efConstruction "
        f"{args.ef_construction}, build {build_s:.0f} s"
    )
    print(
        markdown_table(
            ["efSearch", "p50 ms", "p99 ms", "recall@10"],
            [[r["efSearch"], r["p50_ms"], r["p99_ms"], r["recall_at_10"]] for r in rows],
            digits=3,
        )
    )


if __name__ == "__main__":
    main()
