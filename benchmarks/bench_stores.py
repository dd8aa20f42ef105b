"""Vector store speed and recall: numpy brute force, Faiss (flat/HNSW/IVF), Milvus Lite/server.

For each catalog size N: structured normalized vectors (``--vectors``, see embeddings.py:
``lowrank`` 200-d rank-32 signal plus noise, or ``trained``, shaped like a fusionrec model's
movie vectors with user-like queries), 1,000 queries, k = 10. Per backend and index: build
(insert + index) time, single-query latency p50/p99, batch queries/s, recall@10 against exact
numpy search, and the same with a genre filter. Writes
benchmarks/results/stores.json and prints a markdown table.

    python benchmarks/bench_stores.py --sizes 3883,100000
    python benchmarks/bench_stores.py --sizes 1000000 --backends numpy,faiss-flat,faiss-hnsw
    python benchmarks/bench_stores.py --milvus-server   # also start a Milvus 2.3 standalone
    python benchmarks/bench_stores.py --vectors trained --data-dir ml-100k --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import embeddings
import numpy as np
from _common import add_data_dir_argument, milvus_server, resolve_ml100k

from fusionrec.atomic import write_bytes_atomic
from fusionrec.stores import FaissStore, Filter, MilvusStore, VectorStore

GENRES = (
    "Drama", "Comedy", "Action", "Thriller", "Romance", "Horror", "Adventure", "Sci-Fi",
    "Children's", "Crime", "War", "Documentary", "Musical", "Mystery", "Animation", "Fantasy",
    "Western", "Film-Noir",
)  # fmt: skip
GENRE_WEIGHTS = np.array([25, 18, 8, 8, 7, 5, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1.5, 1.5, 0.8])
FILTER = Filter(genres_any=["Horror", "Sci-Fi"])
RESULTS = Path(__file__).parent / "results" / "stores.json"


def make_data(
    n: int, n_queries: int, dim: int, seed: int, fits: Any = None
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Item vectors, queries and ml-1m-like metadata.

    Without ``fits``: embeddings.lowrank of dimension ``dim``. With ``fits`` (from
    embeddings.trained_fits): vectors shaped like a trained model's, of its dimension.
    """
    if fits is None:
        vectors, queries = embeddings.lowrank(n, n_queries, dim, seed)
    else:
        vectors, queries = embeddings.trained(n, n_queries, seed, fits)
    rng = np.random.default_rng(seed + 1)
    p = GENRE_WEIGHTS / GENRE_WEIGHTS.sum()
    counts = rng.integers(1, 4, size=n)
    meta = [
        {
            "title": f"Movie {i}",
            "genres": list(rng.choice(GENRES, size=int(c), replace=False, p=p)),
            "year": int(1920 + i % 81),
        }
        for i, c in enumerate(counts)
    ]
    return vectors, queries, meta


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, mask: Any = None) -> np.ndarray:
    """Exact top-k row indices per query (numpy, batched)."""
    out = []
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ vectors.T
        if mask is not None:
            scores[:, ~mask] = -np.inf
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out.append(np.take_along_axis(part, order, axis=1))
    return np.concatenate(out)


def recall_at_k(got: list[list[int]], want: np.ndarray) -> float:
    return float(
        np.mean([len(set(g) & set(w.tolist())) / len(w) for g, w in zip(got, want, strict=True)])
    )


def percentiles(times: list[float]) -> tuple[float, float]:
    arr = np.array(times) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


class NumpyStore:
    """The brute-force reference, timed through the same calls as the stores."""

    exact = True

    def __init__(self, vectors: np.ndarray, genres: list[list[str]]) -> None:
        self.vectors = vectors
        wanted = set(FILTER.genres_any or ())
        self.mask = np.array([not wanted.isdisjoint(g) for g in genres])

    def search(self, queries: np.ndarray, k: int, filter: Filter | None = None) -> list[list[int]]:
        q = queries.reshape(-1, self.vectors.shape[1])
        return exact_top_k(self.vectors, q, k, self.mask if filter else None).tolist()


class BareFaissFlat:
    """A bare ``faiss.IndexFlatIP`` (one thread for single queries): what FaissStore wraps.

    Timed beside ``faiss-flat`` so the store's own overhead shows in the same run. Filtered
    searches go through an ``IDSelectorBatch`` of the matching rows.
    """

    exact = True

    def __init__(self, vectors: np.ndarray, mask: np.ndarray) -> None:
        import faiss

        self._faiss: Any = faiss  # its stubs miss SearchParameters' keywords
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)
        self.selector = faiss.IDSelectorBatch(np.flatnonzero(mask).astype(np.int64))
        self.threads = faiss.omp_get_max_threads()

    def search(self, queries: np.ndarray, k: int, filter: Filter | None = None) -> list[list[int]]:
        q = queries.reshape(-1, self.index.d)
        self._faiss.omp_set_num_threads(1 if len(q) == 1 else self.threads)
        params = self._faiss.SearchParameters(sel=self.selector) if filter else None
        _, labels = self.index.search(q, k, params=params)
        return labels.tolist()  # type: ignore[no-any-return]


def timed_search(store: Any, queries: np.ndarray, k: int, flt: Filter | None) -> list[list[int]]:
    res = store.search(queries, k, filter=flt)
    if isinstance(store, (NumpyStore, BareFaissFlat)):
        return res  # type: ignore[no-any-return]
    return [[h.id for h in row] for row in res]


def measure(
    name: str,
    build: Callable[[], Any],
    queries: np.ndarray,
    k: int,
    truth: np.ndarray,
    truth_filtered: np.ndarray,
    n_single: int,
) -> dict[str, Any]:
    """Build the store, then time single and batch searches, plain and filtered."""
    t0 = time.perf_counter()
    store = build()
    build_s = time.perf_counter() - t0
    row: dict[str, Any] = {"backend": name, "build_s": round(build_s, 3)}
    row["exact"] = bool(store.exact)
    for label, flt, want in (("", None, truth), ("filtered_", FILTER, truth_filtered)):
        for q in queries[:5]:
            timed_search(store, q, k, flt)  # warm-up
        singles, got = [], []
        for q in queries[:n_single]:
            t = time.perf_counter()
            got.extend(timed_search(store, q, k, flt))
            singles.append(time.perf_counter() - t)
        p50, p99 = percentiles(singles)
        n_batch = min(len(queries), max(n_single, 100))
        t = time.perf_counter()
        batch = timed_search(store, queries[:n_batch], k, flt)
        qps = n_batch / (time.perf_counter() - t)
        row[f"{label}single_queries"] = n_single
        row[f"{label}p50_ms"] = round(p50, 4)
        row[f"{label}p99_ms"] = round(p99, 4)
        row[f"{label}batch_qps"] = round(qps, 1)
        row[f"{label}recall_at_k"] = round(recall_at_k(batch, want[:n_batch]), 4)
        row[f"{label}single_recall_at_k"] = round(recall_at_k(got, want[:n_single]), 4)
    if isinstance(store, VectorStore):
        store.close()
    print(f"  {name}: build {build_s:.1f}s p50 {row['p50_ms']:.3f} ms", file=sys.stderr)
    return row


def insert(store: VectorStore, vectors: np.ndarray, meta: list[dict[str, Any]]) -> VectorStore:
    """Bulk-load; on Milvus also seal and wait for the index (else a server answers from
    growing segments with an interim index)."""
    store.upsert(np.arange(len(vectors), dtype=np.int64), vectors, meta)
    if isinstance(store, MilvusStore):
        store.flush()
    return store


def builders(
    n: int,
    dim: int,
    vectors: np.ndarray,
    meta: list[dict[str, Any]],
    mask: np.ndarray,
    workdir: Path,
    uri: str,
) -> dict[str, Callable[[], Any]]:
    nlist = int(max(16, min(4096, 4 * np.sqrt(n))))
    lite = str(workdir / f"bench{n}.db")
    out: dict[str, Callable[[], Any]] = {
        "numpy": lambda: NumpyStore(vectors, [m["genres"] for m in meta]),
        "faiss-bare": lambda: BareFaissFlat(vectors, mask),
        "faiss-flat": lambda: insert(FaissStore(dim), vectors, meta),
        "faiss-hnsw": lambda: insert(
            FaissStore(dim, "hnsw", M=32, efConstruction=128, efSearch=128), vectors, meta
        ),
        "faiss-ivf": lambda: insert(FaissStore(dim, "ivf", nlist=nlist, nprobe=32), vectors, meta),
        "milvus-lite-flat": lambda: insert(
            MilvusStore(lite, collection="flat", dim=dim, index="FLAT"), vectors, meta
        ),
        "milvus-lite-ivf": lambda: insert(
            MilvusStore(
                lite,
                collection="ivf",
                dim=dim,
                index="IVF_FLAT",
                index_params={"nlist": nlist},
                search_params={"nprobe": 32},
            ),
            vectors,
            meta,
        ),
    }
    if uri:
        out["milvus-server-flat"] = lambda: insert(
            MilvusStore(uri, collection=f"flat{n}", dim=dim, index="FLAT"), vectors, meta
        )
        out["milvus-server-hnsw"] = lambda: insert(
            MilvusStore(
                uri,
                collection=f"hnsw{n}",
                dim=dim,
                index="HNSW",
                index_params={"M": 32, "efConstruction": 128},
                search_params={"ef": 128},
            ),
            vectors,
            meta,
        )
    return out


def run(args: argparse.Namespace, uri: str) -> list[dict[str, Any]]:
    rows = []
    wanted = args.backends.split(",")
    fits = (
        embeddings.trained_fits(resolve_ml100k(args.data_dir))
        if args.vectors == "trained"
        else None
    )
    for n in args.sizes:
        print(f"N = {n}", file=sys.stderr)
        vectors, queries, meta = make_data(n, args.queries, args.dim, args.seed, fits)
        mask = NumpyStore(vectors, [m["genres"] for m in meta]).mask
        truth = exact_top_k(vectors, queries, args.k)
        energy = embeddings.energy_dims(vectors)
        truth_f = exact_top_k(vectors, queries, args.k, mask)
        with tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp:
            made = builders(n, vectors.shape[1], vectors, meta, mask, Path(tmp), uri)
            for name in wanted:
                if name not in made:
                    continue
                n_single = args.queries
                if name.startswith("milvus-lite") and n > args.lite_full_below:
                    n_single = min(n_single, args.lite_queries)
                row = measure(name, made[name], queries, args.k, truth, truth_f, n_single)
                row.update(
                    {
                        "n": n,
                        "dim": int(vectors.shape[1]),
                        "vectors": args.vectors,
                        "energy_dims_50_90_99": energy,
                        "filter_share": round(float(mask.mean()), 3),
                    }
                )
                rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| N | backend | exact | build s | p50 ms | p99 ms | batch q/s | recall@10 "
        "| filtered p50 ms | filtered recall@10 |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['backend']} | {'yes' if r['exact'] else 'no'} | {r['build_s']:.2f} "
            f"| {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['batch_qps']:,.0f} "
            f"| {r['recall_at_k']:.3f} | {r['filtered_p50_ms']:.3f} "
            f"| {r['filtered_recall_at_k']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[3883, 100000]
    )
    parser.add_argument("--dim", type=int, default=200, help="lowrank vectors' dimension")
    parser.add_argument("--vectors", choices=("lowrank", "trained"), default="lowrank")
    add_data_dir_argument(parser)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backends",
        default="numpy,faiss-bare,faiss-flat,faiss-hnsw,faiss-ivf,milvus-lite-flat,milvus-lite-ivf,"
        "milvus-server-flat,milvus-server-hnsw",
    )
    parser.add_argument("--milvus-server", action="store_true", help="start a Milvus 2.3 server")
    parser.add_argument("--lite-queries", type=int, default=100)
    parser.add_argument("--lite-full-below", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.milvus_server:
        with milvus_server() as uri:
            rows = run(args, uri)
    else:
        rows = run(args, "")
    report = {
        "benchmark": "stores",
        "command": "python benchmarks/bench_stores.py " + " ".join(sys.argv[1:]),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "versions": {p: version(p) for p in ("numpy", "faiss-cpu", "pymilvus", "milvus-lite")},
        "vectors": args.vectors,
        "k": args.k,
        "queries": args.queries,
        "filter": FILTER.to_dict(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = [r for r in previous.get("runs", []) if r.get("command") != report["command"]]
    write_bytes_atomic(args.out, json.dumps({"runs": [*runs, report]}, indent=1).encode())
    print(markdown(rows))


if __name__ == "__main__":
    main()
