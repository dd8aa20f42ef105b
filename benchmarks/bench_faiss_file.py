"""Time FaissStore.save and FaissStore.load (with the file's verification) at several sizes.

Loading checks the zip members, each array header, a SHA-256 over the whole content and (flat)
the Faiss layout before Faiss reads the index; this measures what that costs. Writes
benchmarks/results/<name>.json and prints a markdown table.

    python benchmarks/bench_faiss_file.py [--sizes 100000 1000000] [--dim 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, write_results

from fusionrec.stores import FaissStore


def _store(n: int, dim: int, seed: int) -> FaissStore:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    meta = [{"title": f"Movie {i} (1995)", "genres": ["Drama"], "year": 1995} for i in range(n)]
    store = FaissStore(dim=dim)
    store.upsert(np.arange(1, n + 1, dtype=np.int64), vectors, meta)
    return store


def _times(fn: Any, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="faiss_file", help="results file name (no .json)")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-faiss-file-") as tmp:
        for n in args.sizes:
            store = _store(n, args.dim, args.seed)
            path = Path(tmp) / f"{n}.faiss"
            save = _times(lambda s=store, p=path: s.save(p), args.repeats)
            load = _times(lambda p=path: FaissStore.load(p), args.repeats)
            rows.append(
                {
                    "vectors": n,
                    "dim": args.dim,
                    "file_mb": round(path.stat().st_size / 2**20, 1),
                    "save_median_s": round(statistics.median(save), 4),
                    "load_median_s": round(statistics.median(load), 4),
                    "load_best_s": round(min(load), 4),
                }
            )
            store.close()
    print(
        markdown_table(
            ["vectors", "dim", "file MB", "save (median s)", "load (median s)", "load (best s)"],
            [list(r.values()) for r in rows],
        )
    )
    write_results(args.name, {"machine": machine_info(), "repeats": args.repeats, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
