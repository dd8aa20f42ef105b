"""Serving speed: ``recommend()`` for a new user, and ``fusionrec recommend`` as a process.

Catalog: 3,883 synthetic movies (the ml-1m catalog size). The model (``--preset``, by default
``default``, what ``FusionRecommender()`` trains) is trained for one epoch: latency does not
depend on quality. Measures, per store (Faiss flat, Milvus Lite FLAT):
single-call ``recommend()`` p50/p99 for new users by demographics (user-tower encoding,
search and result building included), ``recommend_batch`` throughput, and the wall time of a
fresh ``fusionrec recommend`` process (import, load, connect, search, print).

Run: python benchmarks/bench_recommend.py [--calls 1000] [--process-runs 5] [--preset default]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, write_results

from fusionrec import FaissStore, FusionRecommender, MilvusStore, ModelConfig
from fusionrec.data import synthetic_movielens


def _latencies(rec: FusionRecommender, calls: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    ages = rng.choice([1, 18, 25, 35, 45, 50, 56], calls)
    genders = rng.choice(["M", "F"], calls)
    occupations = rng.integers(0, 21, calls)
    for i in range(20):  # warm-up
        rec.recommend(age=int(ages[i]), gender=str(genders[i]), occupation=int(occupations[i]))
    times = []
    for a, g, o in zip(ages, genders, occupations, strict=True):
        start = time.perf_counter()
        rec.recommend(age=int(a), gender=str(g), occupation=int(o), k=10)
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1e3
    start = time.perf_counter()
    rec.recommend_batch(
        ages=ages.tolist(), genders=genders.tolist(), occupations=occupations.tolist(), k=10
    )
    batch_s = time.perf_counter() - start
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "batch_users_per_s": calls / batch_s,
    }


def _process_wall(model_dir: Path, extra: list[str], runs: int) -> float:
    argv = [
        sys.executable,
        "-m",
        "fusionrec.cli",
        "recommend",
        "--model-dir",
        str(model_dir),
        "-a",
        "25",
        "-g",
        "F",
        "-j",
        "4",
        "-k",
        "5",
        *extra,
    ]
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--process-runs", type=int, default=5)
    parser.add_argument("--preset", default="default", choices=ModelConfig.preset_names())
    parser.add_argument("--out", default="recommend", help="results name (results/NAME.json)")
    args = parser.parse_args()

    data = synthetic_movielens(n_users=6040, n_movies=3883, n_ratings=200_000, seed=0)
    rec = FusionRecommender(ModelConfig.preset(args.preset, epochs=1), progress=False)
    rec.fit(data)
    workdir = Path(tempfile.mkdtemp(prefix="fusionrec-bench-"))
    results: dict[str, Any] = {
        "catalog": len(data.movies),
        "calls": args.calls,
        "preset": args.preset,
        "dim": rec.bundle.dim,
    }

    faiss_path = workdir / "movies.faiss"
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    results["faiss"] = _latencies(rec, args.calls)
    rec.store.save(faiss_path)  # type: ignore[attr-defined]
    rec.save(workdir / "model-faiss")

    rec.store = MilvusStore(uri=str(workdir / "movies.db"), collection="movies", dim=rec.bundle.dim)
    rec.index_movies()
    results["milvus_lite"] = _latencies(rec, args.calls)
    rec.save(workdir / "model-milvus")
    rec.close()

    results["faiss"]["process_wall_s"] = _process_wall(
        workdir / "model-faiss", ["--store", "faiss", "--uri", str(faiss_path)], args.process_runs
    )
    results["milvus_lite"]["process_wall_s"] = _process_wall(
        workdir / "model-milvus", [], args.process_runs
    )
    results["machine"] = machine_info()
    write_results(args.out, results)

    rows = [
        [name, r["p50_ms"], r["p99_ms"], r["batch_users_per_s"], r["process_wall_s"]]
        for name, r in (
            ("Faiss (flat)", results["faiss"]),
            ("Milvus Lite (FLAT)", results["milvus_lite"]),
        )
    ]
    print(
        f"recommend() for a new user, catalog {len(data.movies):,} movies, k=10, {args.calls} calls"
    )
    print(
        markdown_table(
            [
                "store",
                "p50 ms",
                "p99 ms",
                "batch users/s",
                "`fusionrec recommend` process s (median)",
            ],
            rows,
            digits=3,
        )
    )


if __name__ == "__main__":
    main()
