"""Time load_movielens on a 1,000,000-rating ml-1m-format directory (and optionally ml-100k).

Writes benchmarks/results/load.json and prints a markdown table. Synthetic data stands in for
ml-1m (never redistributed); the real ml-100k is timed when --ml100k or FUSIONREC_ML100K
points at it.

    python benchmarks/bench_load.py [--ratings 1000000] [--repeats 3] [--ml100k PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ML100K_ENV, machine_info, markdown_table, write_results

from fusionrec.data import load_movielens, synthetic_movielens, write_movielens


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def _row(name: str, size: str, times: list[float]) -> dict[str, Any]:
    return {
        "case": name,
        "size": size,
        "repeats": len(times),
        "best_s": round(min(times), 4),
        "median_s": round(statistics.median(times), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--movies", type=int, default=3706)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ml100k", default=os.environ.get(ML100K_ENV), help=f"ml-100k dir (default ${ML100K_ENV})"
    )
    args = parser.parse_args(argv)

    rows = []
    gen_times, data = _timed(
        lambda: synthetic_movielens(args.users, args.movies, args.ratings, seed=args.seed), 1
    )
    size = f"{args.users} users, {args.movies} movies, {args.ratings:,} ratings"
    rows.append(_row("synthetic_movielens", size, gen_times))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ml-1m"
        write_times, _ = _timed(lambda: write_movielens(data, folder, "ml-1m"), 1)
        rows.append(_row("write_movielens ml-1m dir", size, write_times))
        load_times, loaded = _timed(lambda: load_movielens(folder), args.repeats)
        if len(loaded.ratings) != args.ratings:
            raise SystemExit(f"loaded {len(loaded.ratings)} ratings, expected {args.ratings}")
        rows.append(_row("load_movielens ml-1m dir", size, load_times))
        archive = write_movielens(data, Path(tmp) / "ml-1m.zip", "ml-1m")
        zip_times, _ = _timed(lambda: load_movielens(archive), args.repeats)
        rows.append(_row("load_movielens ml-1m .zip", size, zip_times))
    if args.ml100k:
        times, real = _timed(lambda: load_movielens(args.ml100k), args.repeats)
        real_size = (
            f"{len(real.users)} users, {len(real.movies)} movies, {len(real.ratings):,} ratings"
        )
        rows.append(_row("load_movielens ml-100k (real)", real_size, times))

    path = write_results("load", {"benchmark": "load", "machine": machine_info(), "results": rows})
    headers = ["case", "data", "best (s)", "median (s)", "runs"]
    table = [[r["case"], r["size"], r["best_s"], r["median_s"], r["repeats"]] for r in rows]
    print(markdown_table(headers, table, digits=3))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
