"""What ``recommend()`` costs above one bare vector search, per backend and catalog size.

In one process, per catalog size (``--sizes``, default 3,883 and 62,000 synthetic movies) and
backend (``--backends``: Faiss flat, Milvus Lite FLAT, and a Milvus 2.3 standalone server
started for the run, FLAT), it times, interleaved call by call so that load from other
processes hits every operation alike:

- ``bare``: the backend's own search call (``search`` on the Faiss store's own
  ``IndexFlatIP``, one thread, or ``MilvusClient.search`` with k 10 and the metadata fields),
  for one user vector;
- ``store``: ``VectorStore.search`` for the same vector;
- ``new user``: ``FusionRecommender.recommend(age=, gender=, occupation=, k=10)``;
- ``known N``: ``recommend(user_id, k=10)`` (exclude_seen) for users with N = 10, 100, 1,000
  seen movies.

It reports p50/p99 and each p50's ratio to the bare call's. ``--cold-caches`` adds, on the
smallest catalog's Faiss store, a new user's ``recommend()`` timed right after an untimed
streaming read of 0 to 8 MB (the vectors a 62,000-movie scan reads): what evicting the caches
alone costs the same Python work. Unless ``--no-crossover`` is
given, it also times a Milvus store's two ways of excluding N ids from one search, a filter
expression and an over-fetch whose excess is dropped, for N from 1 to 1,000: the measurement
behind the store's choice between them (``milvus.EXCLUDE_OVERFETCH_MAX``). The model
(``--preset``) is trained for one epoch: latency does not depend on quality.

    python benchmarks/bench_serving_path.py                      # ~3 min with the server
    python benchmarks/bench_serving_path.py --sizes 3883 --backends faiss,milvus-lite --calls 100
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, milvus_server, write_results

from fusionrec import FaissStore, FusionRecommender, MilvusStore, ModelConfig
from fusionrec.data import MovieLens, Ratings, synthetic_movielens
from fusionrec.stores import milvus as milvus_module

BACKENDS = ("faiss", "milvus-lite", "milvus-server")
SEEN_SIZES = (10, 100, 1000)
CROSSOVER_SIZES = (1, 3, 10, 30, 100, 300, 1000)
K = 10
AGES = (1, 18, 25, 35, 45, 50, 56)


def make_data(n_movies: int, seed: int = 0) -> tuple[MovieLens, dict[int, int]]:
    """Synthetic data whose users 1, 2, 3 have seen exactly 10, 100 and 1,000 movies."""
    data = synthetic_movielens(n_users=6040, n_movies=n_movies, n_ratings=200_000, seed=seed)
    rng = np.random.default_rng(seed + 1)
    known = {n: i + 1 for i, n in enumerate(SEEN_SIZES)}
    r = data.ratings
    keep = ~np.isin(r.user_id, list(known.values()))
    user_id, movie_id = [r.user_id[keep]], [r.movie_id[keep]]
    for n, user in known.items():
        user_id.append(np.full(n, user, dtype=np.int64))
        movie_id.append(rng.choice(data.movies.movie_id, size=n, replace=False))
    total = sum(len(a) for a in user_id)
    ratings = Ratings(
        user_id=np.concatenate(user_id),
        movie_id=np.concatenate(movie_id),
        rating=np.concatenate(
            [r.rating[keep], rng.integers(1, 6, total - int(keep.sum())).astype(np.float32)]
        ),
        timestamp=np.arange(total, dtype=np.int64),
    )
    return dataclasses.replace(data, ratings=ratings), {v: k for k, v in known.items()}


def train(data: MovieLens, preset: str) -> FusionRecommender:
    rec = FusionRecommender(ModelConfig.preset(preset, epochs=1, seed=0), progress=False)
    rec.fit(data)
    return rec


@contextmanager
def open_backend(
    name: str, rec: FusionRecommender, workdir: Path, server_uri: str | None, size: int
) -> Iterator[tuple[Any, Callable[[np.ndarray], Any]]]:
    """Index the catalog into ``name``; yield (store, bare search of one query vector)."""
    dim = rec.bundle.dim
    if name == "faiss":
        import faiss

        store: Any = FaissStore(dim=dim)
        rec.store = store
        rec.index_movies(replace=True)
        index = store._state.index  # the store's own Faiss index: same memory, same vectors
        assert index.ntotal == len(rec.movies)
        faiss.omp_set_num_threads(1)  # as FaissStore searches one query
        yield store, lambda q: index.search(q, K)
        return
    import pymilvus

    if name == "milvus-lite":
        uri = str(workdir / f"serving{size}.db")
        store = MilvusStore(uri=uri, collection=f"movies{size}", dim=dim)
        client = pymilvus.MilvusClient(uri=uri)
    else:
        assert server_uri is not None
        uri = server_uri
        store = MilvusStore(uri=uri, collection=f"movies{size}", dim=dim, index="FLAT")
        client = pymilvus.MilvusClient(uri=uri)
    rec.store = store
    rec.index_movies(replace=True)
    physical = store.physical_collection
    fields = ["title", "genres_text", "year"]

    def bare(q: np.ndarray) -> Any:
        return client.search(
            physical,
            data=q.tolist(),
            limit=K,
            output_fields=fields,
            search_params={"metric_type": "IP", "params": {}},
        )

    try:
        yield store, bare
    finally:
        client.close()
        rec.close()


@contextmanager
def exclusion_strategy(overfetch_max: int) -> Iterator[None]:
    """Force the Milvus store's exclusion strategy: over-fetch up to ``overfetch_max`` ids."""
    old = milvus_module.EXCLUDE_OVERFETCH_MAX
    milvus_module.EXCLUDE_OVERFETCH_MAX = overfetch_max
    try:
        yield
    finally:
        milvus_module.EXCLUDE_OVERFETCH_MAX = old


def operations(
    rec: FusionRecommender,
    data: MovieLens,
    store: Any,
    bare: Callable[[np.ndarray], Any],
    known: dict[int, int],
    crossover: bool,
) -> dict[str, Callable[[int], Any]]:
    """Named calls, each taking the round number (which picks the new user's demographics)."""
    rng = np.random.default_rng(0)
    n = 64
    ages, genders = rng.choice(AGES, n).tolist(), rng.choice(["M", "F"], n).tolist()
    occupations = rng.integers(0, 21, n).tolist()
    bundle = rec.bundle
    queries = bundle.user_vectors(
        bundle.encoder.encode_users({"gender": genders, "age": ages, "occupation": occupations})
    )
    ops: dict[str, Callable[[int], Any]] = {
        "bare": lambda i: bare(queries[i % n : i % n + 1]),
        "store": lambda i: store.search(queries[i % n], K),
        "new user": lambda i: rec.recommend(
            age=ages[i % n], gender=genders[i % n], occupation=occupations[i % n], k=K
        ),
    }
    for user, seen in sorted(known.items(), key=lambda kv: kv[1]):
        ops[f"known {seen}"] = lambda i, u=user: rec.recommend(u, k=K)
    if crossover and isinstance(store, MilvusStore):
        most = max(known, key=lambda user: known[user])
        seen_ids = data.ratings.movie_id[data.ratings.user_id == most].tolist()
        for size in CROSSOVER_SIZES:
            ids = seen_ids[:size]

            def by_expression(i: int, ids: list[int] = ids) -> Any:
                with exclusion_strategy(0):
                    return store.search(queries[i % n], K, exclude_ids=[ids])

            def by_overfetch(i: int, ids: list[int] = ids) -> Any:
                with exclusion_strategy(len(ids)):
                    return store.search(queries[i % n], K, exclude_ids=[ids])

            ops[f"exclude {size} by expression"] = by_expression
            ops[f"exclude {size} by over-fetch"] = by_overfetch
    return ops


COLD_READ_MB = (0.0, 0.5, 2.0, 8.0)


def cold_caches(rec: FusionRecommender, calls: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of a new user's recommend() right after an untimed read of N MB."""
    buffers = {mb: np.ones(int(mb * 2**20) // 4, dtype=np.float32) for mb in COLD_READ_MB}
    times: dict[float, list[float]] = {mb: [] for mb in COLD_READ_MB}
    order = list(COLD_READ_MB)
    rng = random.Random(0)
    for i in range(calls + 20):  # the first 20 rounds warm up
        rng.shuffle(order)
        for mb in order:
            float(buffers[mb].sum())  # streams the buffer through the caches
            start = time.perf_counter()
            rec.recommend(age=AGES[i % len(AGES)], gender="MF"[i % 2], occupation=i % 21, k=K)
            if i >= 20:
                times[mb].append(time.perf_counter() - start)
    out = {}
    for mb, values in times.items():
        ms = np.asarray(values) * 1e3
        out[f"after {mb:g} MB read"] = {
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
        }
    return out


def measure(ops: dict[str, Callable[[int], Any]], calls: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) per operation, interleaved call by call in a new random order each round.

    The shuffle keeps any cost one operation leaves behind (garbage collection after an
    over-fetch, evicted caches) from always landing on the same next operation.
    """
    for i in range(20):  # warm-up: caches, connections, lazily built tables
        for op in ops.values():
            op(i)
    times: dict[str, list[float]] = {name: [] for name in ops}
    names = list(ops)
    rng = random.Random(0)
    for i in range(calls):
        rng.shuffle(names)
        for name in names:
            op = ops[name]
            start = time.perf_counter()
            op(i)
            times[name].append(time.perf_counter() - start)
    out = {}
    for name, values in times.items():
        ms = np.asarray(values) * 1e3
        out[name] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
    bare = out["bare"]["p50_ms"]
    for row in out.values():
        row["ratio_p50"] = row["p50_ms"] / bare
        row["over_bare_ms"] = row["p50_ms"] - bare
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3883,62000", help="catalog sizes, comma-separated")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=",".join(BACKENDS))
    parser.add_argument("--calls", type=int, default=200, help="timed calls per operation")
    parser.add_argument("--preset", default="default", choices=ModelConfig.preset_names())
    parser.add_argument("--no-crossover", action="store_true", help="skip the exclusion timing")
    parser.add_argument(
        "--cold-caches", action="store_true", help="time a new user after reads of 0-8 MB"
    )
    parser.add_argument("--out", default="serving_path", help="results name (results/NAME.json)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"error: unknown backend(s) {sorted(unknown)}; choose from {BACKENDS}")
    crossover = not args.no_crossover and hasattr(milvus_module, "EXCLUDE_OVERFETCH_MAX")
    skipped = []
    if "milvus-server" in backends and importlib.util.find_spec("milvus") is None:
        print("milvus-server skipped: the 'milvus' package (pip install -e '.[test]') is missing")
        backends.remove("milvus-server")
        skipped.append("milvus-server")

    results: dict[str, Any] = {
        "k": K,
        "calls": args.calls,
        "preset": args.preset,
        "skipped": skipped,
        "runs": [],
    }
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serving-")))
        server_uri = stack.enter_context(milvus_server()) if "milvus-server" in backends else None
        for size in sizes:
            data, known = make_data(size)
            rec = train(data, args.preset)
            for backend in backends:
                with open_backend(backend, rec, workdir, server_uri, size) as (store, bare):
                    ops = operations(rec, data, store, bare, known, crossover)
                    timings = measure(ops, args.calls)
                    if args.cold_caches and backend == "faiss" and size == min(sizes):
                        results["cold_caches"] = {"catalog": size, **cold_caches(rec, args.calls)}
                        print(f"\nnew user on Faiss, {size:,} movies, after a read of N MB")
                        print(
                            markdown_table(
                                ["read before", "p50 ms", "p99 ms"],
                                [
                                    [n, t["p50_ms"], t["p99_ms"]]
                                    for n, t in results["cold_caches"].items()
                                    if n != "catalog"
                                ],
                                digits=3,
                            )
                        )
                results["runs"].append({"catalog": size, "backend": backend, "ops": timings})
                print(f"\n{backend}, {size:,} movies, k={K}, {args.calls} interleaved calls each")
                print(
                    markdown_table(
                        ["operation", "p50 ms", "p99 ms", "p50 / bare", "p50 - bare ms"],
                        [
                            [n, t["p50_ms"], t["p99_ms"], t["ratio_p50"], t["over_bare_ms"]]
                            for n, t in timings.items()
                        ],
                        digits=3,
                    ),
                    flush=True,
                )
    results["machine"] = machine_info()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
