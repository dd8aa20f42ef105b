"""One training epoch on 25M ratings of ml-25m's shape: peak RSS, epoch time, serving latency.

Generates the data set of ``bench_load_25m`` (25,000,095 ratings of 162,541 users on 62,423
movies, csv-release format: ids-only users, genres, titles, tags, years), writes it with
``write_movielens(..., "ml-25m")``, then in a fresh process: ``load_movielens``;
``FusionRecommender(default preset, epochs=1, refit=False, rating_min=0.5).fit`` (the csv
schema; early stopping's 5% validation split carved as usual); then for Faiss (flat) and
Milvus Lite, ``index_movies`` of the 62k movies and ``recommend(user_id, k=10)`` for known
users (seen movies excluded), timed per call. The process's peak RSS (VmHWM) is read after
each phase and reset between phases (``/proc/self/clear_refs``), so each phase's peak is its
own; a thread samples the RSS every second (every 10th sample is kept as ``rss_trace``, so
the peak can be placed in the epoch's steps or in what follows them).
Writes benchmarks/results/<out>.json.

    python benchmarks/bench_scale_25m.py [--ratings 25000095] [--keep DIR] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import config_overrides, machine_info, markdown_table, write_results
from bench_load_25m import generate

from fusionrec.data import write_movielens

RSS_TARGET_MIB = 4096

#: Runs in the fresh process; prints one JSON line per phase, then the summary.
_CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import numpy as np

def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) / 1024 for l in fh if l.startswith(key + ":"))

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

import threading
trace = []  # (seconds since start, RSS MiB), sampled every second
t0 = time.perf_counter()
def sample():
    while True:
        trace.append((round(time.perf_counter() - t0, 1), round(status("VmRSS"))))
        time.sleep(1.0)
threading.Thread(target=sample, daemon=True).start()

phases = {}
def phase(name, started):
    phases[name] = {"seconds": time.perf_counter() - started, "peak_rss_mib": status("VmHWM"),
                    "rss_after_mib": status("VmRSS"),
                    "ended_at_seconds": time.perf_counter() - t0}
    print(json.dumps({name: phases[name]}), file=sys.stderr, flush=True)
    return reset_peak()

path, calls, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
overrides = json.loads(sys.argv[4])
t = time.perf_counter()
from fusionrec import FaissStore, FusionRecommender, MilvusStore, ModelConfig
from fusionrec.data import load_movielens
data = load_movielens(path)
resets = phase("load", t)
config = ModelConfig.preset("default", epochs=1, refit=False, rating_min=0.5, **overrides)
rec = FusionRecommender(config)
t = time.perf_counter()
rec.fit(data)
resets &= phase("fit", t)
epoch = rec.history_.epochs[0]
fit = {"epoch_seconds": epoch.seconds, "samples_per_second": epoch.samples_per_second,
       "n_train": rec.history_.n_train, "val_rmse": epoch.val_rmse,
       "trained_parameters": sum(int(np.prod(p.shape)) for p in rec._model.parameters()
                                 if not p.stop_gradient),
       "config": config.to_dict()}
rng = np.random.default_rng(0)
users = rng.choice(np.unique(data.ratings.user_id), warmup + calls, replace=False).tolist()
serving = {}
with tempfile.TemporaryDirectory(prefix="fusionrec-scale-") as tmp:
    for name in ("faiss", "milvus-lite"):
        if name == "faiss":
            store = FaissStore(dim=rec.bundle.dim)
        else:
            store = MilvusStore(uri=str(Path(tmp) / "scale.db"), collection="movies",
                                dim=rec.bundle.dim)
        rec.store = store
        started = time.perf_counter()
        n = rec.index_movies(replace=True)
        index_s = time.perf_counter() - started
        times = []
        for i, user in enumerate(users):
            t = time.perf_counter()
            hits = rec.recommend(user, k=10)
            if i >= warmup:
                times.append(time.perf_counter() - t)
            assert len(hits) == 10
        ms = np.array(times) * 1000
        serving[name] = {"movies": n, "index_seconds": index_s, "calls": len(times),
                         "p50_ms": float(np.percentile(ms, 50)),
                         "p99_ms": float(np.percentile(ms, 99))}
        resets &= phase(f"serve {name}", started)
        store.close()
print(json.dumps({"phases": phases, "fit": fit, "serving": serving, "rss_trace": trace[::10],
                  "peak_reset_per_phase": resets,
                  "ratings": len(data.ratings), "users": len(data.users),
                  "movies": len(data.movies)}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_095)
    parser.add_argument("--users", type=int, default=162_541)
    parser.add_argument("--movies", type=int, default=62_423)
    parser.add_argument("--tags", type=int, default=1_093_360, help="about this many tag rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=200, help="timed recommend calls per store")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="write the files here (reused if present)")
    parser.add_argument("--out", default="scale_25m", help="results file name")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a config override on top of the default preset, e.g. lazy_adam=true",
    )
    args = parser.parse_args(argv)
    overrides = config_overrides(args.set)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="fusionrec-25m-")) / "ml-25m"
    load_before = os.getloadavg()[0]
    try:
        if not (folder / "ratings.csv").exists():
            data = generate(args.ratings, args.users, args.movies, args.tags, args.seed)
            write_movielens(data, folder, "ml-25m", overwrite=True)
            del data
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(folder),
                str(args.calls),
                str(args.warmup),
                json.dumps(overrides),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"the measuring process failed (exit {done.returncode})")
    finally:
        if args.keep is None:
            shutil.rmtree(folder.parent, ignore_errors=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    peak = max(p["peak_rss_mib"] for p in result["phases"].values())
    summary = {
        "process_seconds": wall,
        "peak_rss_mib": peak,
        "rss_target_mib": RSS_TARGET_MIB,
        "met": peak <= RSS_TARGET_MIB,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    path = write_results(args.out, {"machine": machine_info(), "summary": summary, **result})
    rows = [
        [k, v["seconds"], v["peak_rss_mib"], v["rss_after_mib"]]
        for k, v in result["phases"].items()
    ]
    print(markdown_table(["phase", "seconds", "peak RSS MiB", "RSS after MiB"], rows, 1))
    srows = [
        [k, v["movies"], v["index_seconds"], v["p50_ms"], v["p99_ms"]]
        for k, v in result["serving"].items()
    ]
    print(markdown_table(["store", "movies", "index s", "p50 ms", "p99 ms"], srows, 3))
    print(json.dumps({**summary, **result["fit"]}, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
