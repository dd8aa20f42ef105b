"""One query on a flat Faiss index: which way to score it, and which way to skip excluded ids.

The measurement behind ``FaissStore``'s single-query paths (``_OVERFETCH_PER_ID`` and
``_BLAS_MASK_MAX_CELLS`` in ``fusionrec/stores/faiss.py``). Per catalog size and dimension, on
random unit vectors, timed interleaved query by query, p50 and p99 in ms:

- nothing excluded: Faiss's scan (SWIG ``search_c``, one OpenMP thread) against a BLAS
  matrix-vector product over Faiss's storage plus ``top_k``;
- N ids excluded: over-fetch k + N hits and drop them; mask them in BLAS scores; mask them
  with an ``IDSelectorBitmap`` inside Faiss's scan.

numpy's OpenBLAS threads are left as they are unless ``--blas-threads`` sets them, so the BLAS
figures show what the machine's load does to a threaded product (compare a run with
``--blas-threads 1``).

    python benchmarks/bench_faiss_single.py --out faiss_single
    python benchmarks/bench_faiss_single.py --blas-threads 1 --out faiss_single_blas1
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np
from _common import machine_info, markdown_table, write_results

from fusionrec.stores.base import top_k
from fusionrec.train.blas import blas_threads

K = 10


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def ways(
    index: Any, vectors: np.ndarray, excluded: np.ndarray
) -> dict[str, Callable[[np.ndarray], Any]]:
    """The ways to answer one query ``[1, dim]`` with ``excluded`` labels skipped."""
    n = vectors.shape[0]
    ptr = faiss.swig_ptr
    skip = frozenset(excluded.tolist())

    def scan(q: np.ndarray, fetch: int, params: Any = None) -> np.ndarray:
        scores = np.empty(fetch, dtype=np.float32)
        labels = np.empty(fetch, dtype=np.int64)
        index.search_c(1, ptr(q), fetch, ptr(scores), ptr(labels), params)
        return labels

    def faiss_scan(q: np.ndarray) -> Any:
        return scan(q, K)

    def blas(q: np.ndarray) -> Any:
        return top_k(vectors @ q[0], K)

    def overfetch(q: np.ndarray) -> Any:
        labels = scan(q, min(n, K + excluded.size))
        return [label for label in labels.tolist() if label not in skip][:K]

    def blas_mask(q: np.ndarray) -> Any:
        scores = vectors @ q[0]
        scores[excluded] = -np.inf
        return top_k(scores, K)

    def bitmap(q: np.ndarray) -> Any:
        allowed = np.ones(n, dtype=bool)
        allowed[excluded] = False
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(bits.size, ptr(bits))
        return scan(q, K, faiss.SearchParameters(sel=selector))

    if not excluded.size:
        return {"faiss scan": faiss_scan, "blas": blas}
    return {"over-fetch": overfetch, "blas mask": blas_mask, "bitmap mask": bitmap}


def measure(ops: dict[str, Callable[[np.ndarray], Any]], queries: np.ndarray, calls: int) -> Any:
    times: dict[str, list[float]] = {name: [] for name in ops}
    for i in range(calls):
        q = queries[i % len(queries)][None]
        for name, op in ops.items():
            start = time.perf_counter()
            op(q)
            times[name].append(time.perf_counter() - start)
    return {
        name: {
            "p50_ms": float(np.median(t) * 1e3),
            "p99_ms": float(np.percentile(t, 99) * 1e3),
        }
        for name, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3883,16384,62000,250000")
    parser.add_argument("--dims", default="32,200")
    parser.add_argument("--excluded", default="0,10,100,1000", help="excluded ids per query")
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--blas-threads", type=int, default=0, help="0: numpy's own setting")
    parser.add_argument("--out", default="faiss_single")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    runs = []
    for dim in [int(d) for d in args.dims.split(",")]:
        for n in [int(s) for s in args.sizes.split(",")]:
            vectors = _unit(rng, n, dim)
            index = faiss.IndexFlatIP(dim)
            index.add(vectors)
            view = faiss.rev_swig_ptr(index.get_xb(), n * dim).reshape(n, dim)
            queries = _unit(rng, 64, dim)
            for count in [int(e) for e in args.excluded.split(",")]:
                if count >= n:
                    continue
                excluded = rng.choice(n, count, replace=False).astype(np.int64)
                ops = ways(index, view, excluded)
                if args.blas_threads:
                    with blas_threads(args.blas_threads):
                        timing = measure(ops, queries, args.calls)
                else:
                    timing = measure(ops, queries, args.calls)
                runs.append({"n": n, "dim": dim, "excluded": count, "ops": timing})
                print(
                    n,
                    dim,
                    count,
                    {k: round(v["p50_ms"], 4) for k, v in timing.items()},
                    flush=True,
                )
    rows = [
        [r["n"], r["dim"], r["excluded"], name, t["p50_ms"], t["p99_ms"]]
        for r in runs
        for name, t in r["ops"].items()
    ]
    print(markdown_table(["vectors", "dim", "excluded", "way", "p50 ms", "p99 ms"], rows, digits=4))
    write_results(
        args.out,
        {
            "benchmark": "faiss_single",
            "k": K,
            "calls": args.calls,
            "blas_threads": args.blas_threads or "numpy default",
            "runs": runs,
            "machine": machine_info(),
        },
    )


if __name__ == "__main__":
    main()
