"""Load a 25M-rating data set in the ml-25m csv format: wall time and peak RSS of a fresh process.

Generates ml-25m's shape (25,000,095 ratings of 162,541 users on 62,423 movies, half stars,
sorted by user then movie as GroupLens ships it; movies.csv with quoted titles; ~1.09M tag
rows) with numpy, writes it with ``write_movielens(..., "ml-25m")`` into a temporary
directory, then runs ``load_movielens`` in a new Python process per repeat and reads that
process's peak RSS (VmHWM). Writes benchmarks/results/load_25m.json.

    python benchmarks/bench_load_25m.py [--ratings 25000095] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import machine_info, markdown_table, write_results

from fusionrec.data import CSV_GENRES, MovieLens, Movies, Ratings, Users, write_movielens

#: Runs in the fresh process: time the load, then report the counts and the peak RSS.
_LOADER = """
import json, sys, time
start = time.perf_counter()
from fusionrec.data import load_movielens
imported = time.perf_counter()
data = load_movielens(sys.argv[1])
loaded = time.perf_counter()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({
    "import_s": imported - start,
    "load_s": loaded - imported,
    "peak_rss_mib": hwm / 1024,
    "users": len(data.users),
    "movies": len(data.movies),
    "ratings": len(data.ratings),
    "half_stars": int((data.ratings.rating % 1 != 0).sum()),
    "movies_with_tags": sum(bool(t) for t in data.movies.tags),
    "notes": list(data.notes),
}))
"""


def _pairs(
    rng: np.random.Generator, n: int, n_users: int, n_movies: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``n`` distinct (user, movie) index pairs sorted by user then movie: skewed activity
    (at least one rating per user), Zipf movie popularity."""
    activity = rng.lognormal(0.0, 1.2, n_users)
    popularity = np.power(rng.permutation(n_movies) + 1.0, -1.0)
    cumulative = np.cumsum(popularity / popularity.sum())
    keys = np.zeros(0, dtype=np.int64)
    while len(keys) < n:
        want = int((n - len(keys)) * 1.3) + 1000
        per_user = rng.multinomial(want, activity / activity.sum())
        if len(keys) == 0:
            per_user = np.maximum(per_user, 1)
        users = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
        movies = np.searchsorted(cumulative, rng.random(len(users)), side="right")
        movies = np.minimum(movies, n_movies - 1).astype(np.int64)
        keys = np.concatenate([keys, users * n_movies + movies])
        keys.sort()
        keys = keys[np.flatnonzero(np.diff(keys, prepend=-1))]  # distinct pairs, sorted
    user = keys // n_movies
    first = np.flatnonzero(np.diff(user, prepend=-1))  # keep every user's first pair
    rest = np.ones(len(keys), dtype=bool)
    rest[first] = False
    drop = rng.choice(np.flatnonzero(rest), len(keys) - n, replace=False)
    keys = np.delete(keys, drop)
    return keys // n_movies, keys % n_movies


def generate(n_ratings: int, n_users: int, n_movies: int, n_tag_rows: int, seed: int) -> MovieLens:
    """A data set of ml-25m's shape in the shared schema (see the module docstring)."""
    rng = np.random.default_rng(seed)
    user_idx, movie_idx = _pairs(rng, n_ratings, n_users, n_movies)
    movie_ids = np.sort(rng.choice(209_171, n_movies, replace=False)).astype(np.int64) + 1
    halves = rng.choice(10, len(user_idx), p=[1, 3, 2, 7, 5, 20, 12, 27, 9, 14] / np.float64(100))
    ratings = Ratings(
        user_id=user_idx + 1,
        movie_id=movie_ids[movie_idx],
        rating=((halves + 1) / 2).astype(np.float32),
        timestamp=789_652_009 + rng.integers(0, 785_000_000, len(user_idx), dtype=np.int64),
    )
    titles = np.empty(n_movies, dtype=object)
    genres = np.empty(n_movies, dtype=object)
    tags = np.empty(n_movies, dtype=object)
    years = rng.integers(1900, 2020, n_movies, dtype=np.int64)
    per_movie = n_tag_rows / n_movies
    tag_counts = np.minimum(rng.poisson(per_movie, n_movies), 20)
    tag_words = rng.zipf(1.3, int(tag_counts.sum()) + 1) % 70_000
    used = 0
    for i in range(n_movies):
        if i % 7 == 0:
            titles[i] = f"Story of Movie {i}, The"
        elif i % 13 == 0:
            titles[i] = f'Say "Movie {i}"'
        else:
            titles[i] = f"Movie {i}"
        picks = rng.integers(0, len(CSV_GENRES), 1 + i % 3)
        genres[i] = () if i % 100 == 0 else tuple(dict.fromkeys(CSV_GENRES[g] for g in picks))
        count = int(tag_counts[i])
        tags[i] = tuple(dict.fromkeys(f"tag {w}" for w in tag_words[used : used + count]))
        used += count
    movies = Movies(movie_id=movie_ids, title=titles, year=years, genres=genres, tags=tags)
    users = Users(user_id=np.arange(1, n_users + 1, dtype=np.int64))
    return MovieLens(users=users, movies=movies, ratings=ratings, occupations=(), genres=CSV_GENRES)


def _load_in_fresh_process(path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, str(path)], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    result["process_s"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_095)
    parser.add_argument("--users", type=int, default=162_541)
    parser.add_argument("--movies", type=int, default=62_423)
    parser.add_argument("--tags", type=int, default=1_093_360, help="about this many tag rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--name", default="load_25m", help="results file name")
    args = parser.parse_args(argv)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="fusionrec-25m-")) / "ml-25m"
    try:
        start = time.perf_counter()
        data = generate(args.ratings, args.users, args.movies, args.tags, args.seed)
        generated = time.perf_counter()
        write_movielens(data, folder, "ml-25m", overwrite=True)
        written = time.perf_counter()
        expected = (len(data.users), len(data.movies), len(data.ratings))
        del data
        sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
        runs = [_load_in_fresh_process(folder) for _ in range(args.repeats)]
    finally:
        if args.keep is None:
            shutil.rmtree(folder.parent, ignore_errors=True)
    for run in runs:
        if (run["users"], run["movies"], run["ratings"]) != expected:
            raise SystemExit(f"loaded counts {run} differ from the generated {expected}")
    loads = [r["load_s"] for r in runs]
    summary = {
        "generate_s": round(generated - start, 2),
        "write_s": round(written - generated, 2),
        "file_bytes": sizes,
        "users": expected[0],
        "movies": expected[1],
        "ratings": expected[2],
        "load_best_s": round(min(loads), 2),
        "load_median_s": round(statistics.median(loads), 2),
        "peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in runs)),
    }
    path = write_results(args.name, {"machine": machine_info(), "summary": summary, "runs": runs})
    rows = [
        [i + 1, r["load_s"], r["import_s"], r["process_s"], r["peak_rss_mib"]]
        for i, r in enumerate(runs)
    ]
    print(markdown_table(["run", "load s", "import s", "process s", "peak RSS MiB"], rows, 2))
    print(json.dumps(summary, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
