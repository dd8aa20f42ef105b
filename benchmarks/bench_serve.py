"""HTTP load on ``fusionrec serve``: requests/s and p50/p99 of POST /api/recommend.

Loopback only (127.0.0.1). The server is a separate ``fusionrec serve`` process; this process
is the load generator: ``--concurrency`` keep-alive HTTP/1.1 connections, each sending its next
request when the previous answer is in (a closed loop), raw asyncio streams so the generator
costs little CPU beside the server on a small machine. Each level stops after
``--requests`` requests or ``--seconds`` seconds, whichever comes first, after a warm-up.

Model: the ``default`` preset trained for one epoch on synthetic data with an ml-1m-sized
catalog (3,706 movies, 6,040 users, 200,000 ratings): latency does not depend on quality.
Requests: known users in turn (k = 10, exclude_seen), and new users by demographics.

Run: python benchmarks/bench_serve.py [--requests 4000] [--seconds 20] [--backends faiss milvus]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_info, markdown_table, write_results

from fusionrec import FaissStore, FusionRecommender, MilvusStore, ModelConfig
from fusionrec.data import synthetic_movielens
from fusionrec.data.tables import AGE_BUCKETS

HOST = "127.0.0.1"
CONCURRENCY = (1, 8, 32)
N_USERS, N_MOVIES, N_RATINGS = 6040, 3706, 200_000
TARGETS = {
    "faiss": {"p50_ms_max": 3.0, "rps_min_at_8": 500.0},
    "milvus": {"p50_ms_max": 10.0},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def build_model(workdir: Path) -> dict[str, dict[str, Any]]:
    """Train, index into Faiss and Milvus Lite, save; the ``fusionrec serve`` arguments each."""
    data = synthetic_movielens(n_users=N_USERS, n_movies=N_MOVIES, n_ratings=N_RATINGS, seed=0)
    rec = FusionRecommender(ModelConfig.preset("default", epochs=1, seed=0), progress=False)
    rec.fit(data)
    faiss_path = workdir / "movies.faiss"
    rec.store = FaissStore(dim=rec.bundle.dim)
    rec.index_movies()
    rec.store.save(faiss_path)  # type: ignore[attr-defined]
    rec.save(workdir / "model-faiss")
    rec.store = MilvusStore(uri=str(workdir / "movies.db"), collection="movies", dim=rec.bundle.dim)
    rec.index_movies()
    rec.save(workdir / "model-milvus")
    rec.close()
    return {
        "faiss": {
            "label": "Faiss (flat)",
            "argv": [
                "--model-dir",
                str(workdir / "model-faiss"),
                "--store",
                "faiss",
                "--uri",
                str(faiss_path),
            ],
        },
        "milvus": {
            "label": "Milvus Lite (FLAT)",
            "argv": ["--model-dir", str(workdir / "model-milvus")],
        },
    }


def payloads(kind: str, n: int = 2000) -> list[bytes]:
    """Request bodies: known users in turn, or new users with varied demographics."""
    rng = np.random.default_rng(0)
    if kind == "known":
        users = rng.permutation(np.arange(1, N_USERS + 1))[:n]
        return [json.dumps({"user_id": int(u), "k": 10}).encode() for u in users]
    return [
        json.dumps(
            {
                "age": int(rng.choice(AGE_BUCKETS)),
                "gender": str(rng.choice(["M", "F"])),
                "occupation": int(rng.integers(0, 21)),
                "k": 10,
            }
        ).encode()
        for _ in range(n)
    ]


def _request(body: bytes) -> bytes:
    head = (
        f"POST /api/recommend HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(
    port: int, bodies: Sequence[bytes], concurrency: int, requests: int, seconds: float
) -> dict[str, Any]:
    """Closed-loop load; returns requests/s, p50/p99 latency (ms), completed and error counts."""
    raws = [_request(b) for b in bodies]
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal issued, errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while issued < requests and time.perf_counter() < deadline:
                raw = raws[issued % len(raws)]
                issued += 1
                start = time.perf_counter()
                status = await _one(reader, writer, raw)
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        finally:
            writer.close()

    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1e3
    return {
        "concurrency": concurrency,
        "completed": len(latencies),
        "errors": errors,
        "seconds": wall,
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"fusionrec serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.25)
    raise SystemExit("fusionrec serve did not become ready")


def run_backend(argv: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Start ``fusionrec serve``, load it at each concurrency per request kind, stop it."""
    port = _free_port()
    command = [sys.executable, "-m", "fusionrec.cli", "serve", *argv, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    out: dict[str, Any] = {}
    try:
        _wait_ready(port, process)
        for kind in args.kinds:
            bodies = payloads(kind)
            asyncio.run(load(port, bodies, 8, args.warmup, args.seconds))  # warm-up
            out[kind] = [
                asyncio.run(load(port, bodies, c, args.requests, args.seconds)) for c in CONCURRENCY
            ]
    finally:
        process.terminate()
        process.wait(timeout=60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per level (default 4000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level (default 20)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring")
    parser.add_argument("--backends", nargs="+", default=["faiss", "milvus"])
    parser.add_argument("--kinds", nargs="+", default=["known", "new"], choices=["known", "new"])
    parser.add_argument("--out", default="serve", help="results name (results/NAME.json)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fusionrec-bench-serve-"))
    started = time.perf_counter()
    servers = build_model(workdir)
    print(f"model trained and indexed in {time.perf_counter() - started:.0f} s")
    results: dict[str, Any] = {
        "catalog": N_MOVIES,
        "users": N_USERS,
        "preset": "default",
        "k": 10,
        "requests_per_level": args.requests,
        "seconds_per_level": args.seconds,
        "targets": TARGETS,
        "backends": {},
    }
    rows = []
    for name in args.backends:
        measured = run_backend(servers[name]["argv"], args)
        results["backends"][name] = measured
        for kind, levels in measured.items():
            for level in levels:
                rows.append(
                    [
                        servers[name]["label"],
                        kind,
                        level["concurrency"],
                        round(level["rps"]),
                        level["p50_ms"],
                        level["p99_ms"],
                        level["completed"],
                        level["errors"],
                    ]
                )
    packages = ("numpy", "faiss", "pymilvus", "fastapi", "uvicorn", "httptools", "uvloop")
    results["machine"] = machine_info(packages)
    write_results(args.out, results)
    print(
        f"POST /api/recommend over loopback, catalog {N_MOVIES:,} items, k = 10 "
        f"(at most {args.requests} requests or {args.seconds:.0f} s per level)"
    )
    headers = ["store", "users", "concurrency", "req/s", "p50 ms", "p99 ms", "requests", "errors"]
    print(markdown_table(headers, rows, digits=2))


if __name__ == "__main__":
    main()
