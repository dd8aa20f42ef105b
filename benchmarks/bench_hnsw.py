"""HNSW at scale: one build, then a sweep of efSearch for the recall/latency trade-off.

The vectors come from embeddings.py (``--vectors lowrank``: 200-d rank-32 plus noise;
``--vectors trained``: shaped like a trained fusionrec model's movie vectors, queried with
user-like vectors; needs ml-100k). Each efSearch is measured through ``FaissStore.search``
(single queries, one Faiss thread): p50, p99 and recall@10 against exact numpy search in the
same run. With ``--milvus-server`` the same vectors also go into an HNSW collection on a Milvus
2.3 standalone started for the run, swept over ``ef`` through ``MilvusStore.search``.

Run: python benchmarks/bench_hnsw.py [--n 1000000] [--ef 16,24,32,48,64,96,128]
     python benchmarks/bench_hnsw.py --vectors trained --data-dir ml-100k --milvus-server
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import embeddings
import numpy as np
from _common import (
    add_data_dir_argument,
    machine_info,
    markdown_table,
    resolve_ml100k,
    write_results,
)
from bench_stores import (
    exact_top_k,
    insert,
    make_data,
    milvus_server,
    percentiles,
    recall_at_k,
)

from fusionrec.stores import FaissStore, MilvusStore, VectorStore


def build(store: VectorStore, vectors: np.ndarray, meta: list[dict[str, Any]]) -> float:
    """Seconds to load the vectors (bench_stores.insert: on Milvus until the index is built)."""
    start = time.perf_counter()
    insert(store, vectors, meta)
    return time.perf_counter() - start


def sweep(
    store: VectorStore,
    set_ef: Callable[[int], None],
    efs: list[int],
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
) -> list[dict[str, Any]]:
    """Single-query p50/p99 and recall@k for each ef on one built index."""
    rows: list[dict[str, Any]] = []
    for ef in efs:
        set_ef(ef)
        for q in queries[:50]:  # warm-up
            store.search(q, k)
        times, got = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.search(q, k)[0]
            times.append(time.perf_counter() - t0)
            got.append([h.id for h in hits])
        p50, p99 = percentiles(times)
        rows.append(
            {"efSearch": ef, "p50_ms": p50, "p99_ms": p99, "recall_at_10": recall_at_k(got, truth)}
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=200, help="lowrank vectors' dimension")
    parser.add_argument("--vectors", choices=("lowrank", "trained"), default="lowrank")
    add_data_dir_argument(parser)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="16,24,32,48,64,96,128")
    parser.add_argument("--no-faiss", action="store_true", help="skip the Faiss build")
    parser.add_argument("--milvus-server", action="store_true", help="also sweep a Milvus server")
    parser.add_argument("--name", default="hnsw", help="results file: results/<name>.json")
    args = parser.parse_args()

    fits = None
    if args.vectors == "trained":
        fits = embeddings.trained_fits(resolve_ml100k(args.data_dir))
    vectors, queries, meta = make_data(args.n, args.queries, args.dim, 0, fits)
    dim = int(vectors.shape[1])
    truth = exact_top_k(vectors, queries, args.k)
    efs = [int(x) for x in args.ef.split(",")]
    results: dict[str, Any] = {
        "n": args.n,
        "dim": dim,
        "vectors": args.vectors,
        "energy_dims_50_90_99": embeddings.energy_dims(vectors),
        "queries": args.queries,
        "M": args.m,
        "efConstruction": args.ef_construction,
    }
    tables: list[tuple[str, float, list[dict[str, Any]]]] = []

    if not args.no_faiss:
        faiss_store = FaissStore(
            dim=dim, index="hnsw", M=args.m, efConstruction=args.ef_construction
        )
        build_s = build(faiss_store, vectors, meta)
        print(f"Faiss build {build_s:.0f} s", flush=True)
        rows = sweep(
            faiss_store,
            lambda ef: faiss_store.set_search_params(efSearch=ef),
            efs,
            queries,
            truth,
            args.k,
        )
        results.update({"build_s": build_s, "sweep": rows})
        tables.append(("FaissStore", build_s, rows))
        del faiss_store

    if args.milvus_server:
        hnsw = {"M": args.m, "efConstruction": args.ef_construction}
        with (
            milvus_server() as uri,
            MilvusStore(uri, "bench_hnsw", dim=dim, index="HNSW", index_params=hnsw) as ms,
        ):
            build_s = build(ms, vectors, meta)
            print(f"Milvus build {build_s:.0f} s", flush=True)
            rows = sweep(ms, lambda ef: ms.set_search_params(ef=ef), efs, queries, truth, args.k)
        results["milvus_server"] = {"build_s": build_s, "sweep": rows}
        tables.append(("MilvusStore on a Milvus 2.3 standalone server", build_s, rows))

    results["machine"] = machine_info()
    write_results(args.name, results)

    for title, build_s, rows in tables:
        print(
            f"\n{title}: HNSW, N = {args.n:,}, {args.vectors} vectors, M {args.m}, "
            f"efConstruction {args.ef_construction}, build {build_s:.0f} s"
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
