"""Concurrent requests against a real server: the same answers as serial ones, no lost writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx2

from fusionrec.data.tables import AGE_BUCKETS

THREADS = 8


def _requests() -> list[tuple[str, str, dict[str, Any] | None]]:
    """A mix of every read endpoint: known and new users, filters, batches, similar, lookups."""
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    for user in range(1, 21):
        out.append(("POST", "/api/recommend", {"user_id": user, "k": 7}))
    for i, age in enumerate(AGE_BUCKETS):
        new = {"age": age, "gender": "MF"[i % 2], "occupation": i, "k": 5}
        out.append(("POST", "/api/recommend", new))
        out.append(("POST", "/api/recommend", {**new, "filter": {"genres_any": ["Drama"]}}))
    out.append(("POST", "/api/recommend/batch", {"users": [{"user_id": u} for u in range(1, 30)]}))
    for movie in range(1, 11):
        out.append(("GET", f"/api/items/{movie}/similar?k=6", None))
        out.append(("GET", f"/api/items/{movie}", None))
    return out


@contextmanager
def _clients(url: str) -> Iterator[Any]:
    """``client()`` gives each thread its own keep-alive client (creating one costs ~20 ms)."""
    local = threading.local()
    made: list[httpx2.Client] = []
    lock = threading.Lock()

    def client() -> httpx2.Client:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(base_url=url, timeout=30)
            with lock:
                made.append(local.client)
        return local.client  # type: ignore[no-any-return]

    try:
        yield client
    finally:
        for c in made:
            c.close()


def _call(client: httpx2.Client, request: tuple[str, str, dict[str, Any] | None]) -> Any:
    method, path, body = request
    response = client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_concurrent_requests_answer_as_serial_ones(live_server: Any) -> None:
    requests = _requests()
    with httpx2.Client(base_url=live_server.url, timeout=30) as client:
        serial = [_call(client, r) for r in requests]
    many = requests * 3
    with _clients(live_server.url) as client, ThreadPoolExecutor(THREADS) as pool:
        concurrent = list(pool.map(lambda r: _call(client(), r), many))
    assert concurrent == serial * 3


def test_concurrent_writes_are_not_lost_and_reads_keep_answering(live_server: Any) -> None:
    """Eight writers add disjoint interactions while readers recommend; every pair lands."""
    users = list(range(1, 61))
    movies = live_server.rec.movies.movie_id.tolist()
    # one request per user naming every movie, so exclude_seen then leaves nothing
    writes = [[{"user_id": u, "movie_id": m} for m in movies] for u in users]

    with _clients(live_server.url) as client, ThreadPoolExecutor(THREADS) as pool:

        def write(pairs: list[dict[str, int]]) -> int:
            body = _call(client(), ("POST", "/api/interactions", {"interactions": pairs}))
            return int(body["received"])

        def read(user: int) -> int:
            body = _call(client(), ("POST", "/api/recommend", {"user_id": user, "k": 5}))
            return len(body["items"])

        written = pool.map(write, writes)
        read_sizes = list(pool.map(read, users))
    assert sum(written) == 60 * len(movies)
    assert all(0 <= n <= 5 for n in read_sizes)
    seen = live_server.rec._require_seen()
    assert len(seen) == 60 * len(movies)  # no writer's pairs were lost to another's swap
    with httpx2.Client(base_url=live_server.url, timeout=30) as client:
        for user in (1, 30, 60):
            response = client.post("/api/recommend", json={"user_id": user, "k": 5})
            assert response.json()["items"] == []
