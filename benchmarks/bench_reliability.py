"""Memory of a pathological title, and the cost of checked, versioned model directories.

For each title size, a fresh process loads ml-100k, replaces one movie's title by a single
token of that many characters, trains one epoch (``rating`` preset), saves and loads the
model; it reports its peak RSS, the tracemalloc peak of the encoder's part (fit, encode, JSON
round trip) and the save and load times, with the share of load spent checking checksums.
Writes benchmarks/results/reliability.json and prints a markdown table.

    python benchmarks/bench_reliability.py [--data-dir ML100K] [--sizes 0 2000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from typing import Any

from _common import (
    add_data_dir_argument,
    machine_info,
    markdown_table,
    resolve_ml100k,
    write_results,
)

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time, tracemalloc
    from pathlib import Path
    from fusionrec import FusionRecommender, ModelConfig, atomic
    from fusionrec.data import MovieLens, load_movielens
    from fusionrec.features import FeatureEncoder

    data_dir, size = sys.argv[1], int(sys.argv[2])
    data = load_movielens(data_dir)
    titles = data.movies.title.copy()
    if size:
        titles[0] = "x" * size
    movies = type(data.movies)(data.movies.movie_id, titles, data.movies.year, data.movies.genres)
    data = MovieLens(data.users, movies, data.ratings, data.occupations, data.genres)

    tracemalloc.start()
    encoder = FeatureEncoder.fit(data)
    encoder.encode_movies(data.movies)
    FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    encoder_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    rec = FusionRecommender(ModelConfig.preset("rating", epochs=1, seed=0), progress=False)
    rec.fit(data)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = rec.save(Path(tmp) / "model")
        save_s = time.perf_counter() - start
        start = time.perf_counter()
        FusionRecommender.load(root)
        load_s = time.perf_counter() - start
        version = atomic._read_pointer(root, "recommender.json")
        start = time.perf_counter()
        atomic._check(version, root / "recommender.json")
        check_s = time.perf_counter() - start
        bytes_on_disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(json.dumps({
        "title_chars": size,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "encoder_tracemalloc_peak_mib": round(encoder_peak / 2**20, 2),
        "model_dir_mib": round(bytes_on_disk / 2**20, 2),
        "save_s": round(save_s, 3),
        "load_s": round(load_s, 3),
        "checksum_check_s": round(check_s, 3),
    }))
    """
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 2_000_000, 10_000_000])
    args = parser.parse_args(argv)
    data_dir = resolve_ml100k(args.data_dir)
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(data_dir), str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    path = write_results(
        "reliability",
        {
            "benchmark": "reliability",
            "data": str(data_dir),
            "machine": machine_info(),
            "results": rows,
        },
    )
    headers = [
        "title chars",
        "peak RSS (MiB)",
        "encoder peak (MiB)",
        "model dir (MiB)",
        "save (s)",
        "load (s)",
        "checksums (s)",
    ]
    keys = [
        "title_chars",
        "peak_rss_mib",
        "encoder_tracemalloc_peak_mib",
        "model_dir_mib",
        "save_s",
        "load_s",
        "checksum_check_s",
    ]
    print(markdown_table(headers, [[r[k] for k in keys] for r in rows], digits=3))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
