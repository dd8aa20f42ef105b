"""Fixtures for the server tests: one tiny trained model directory, fresh recommenders over it,
and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")

from fusionrec import FaissStore, FusionRecommender, ModelConfig  # noqa: E402
from fusionrec.data import synthetic_movielens  # noqa: E402
from fusionrec.server import create_app  # noqa: E402


@dataclass(frozen=True)
class ModelFiles:
    """A saved model directory and the Faiss index file holding its item vectors."""

    model_dir: Path
    faiss_path: Path


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    """Train a tiny model once (one epoch, synthetic data), index it into Faiss and save both."""
    root = tmp_path_factory.mktemp("served")
    data = synthetic_movielens(n_users=60, n_movies=40, n_ratings=1_500, seed=7)
    rec = FusionRecommender(ModelConfig.preset("default", epochs=1, seed=1), progress=False)
    rec.fit(data)
    store = FaissStore(dim=rec.bundle.dim)
    rec.store = store
    rec.index_movies()
    files = ModelFiles(model_dir=root / "model", faiss_path=root / "movies.faiss")
    rec.save(files.model_dir)
    store.save(files.faiss_path)
    return files


@pytest.fixture
def load_rec(model_files: ModelFiles) -> Callable[[], FusionRecommender]:
    """A factory of fresh recommenders (own Faiss copy), so one test's writes stay its own."""

    def load() -> FusionRecommender:
        return FusionRecommender.load(
            model_files.model_dir, store=FaissStore.load(model_files.faiss_path), progress=False
        )

    return load


@dataclass
class LiveServer:
    """A uvicorn server running ``create_app(rec)`` in a thread; ``url`` has no trailing slash."""

    url: str
    rec: FusionRecommender


def _start(rec: FusionRecommender) -> tuple[object, threading.Thread, str]:
    config = uvicorn.Config(
        create_app(rec), host="127.0.0.1", port=0, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fusionrec-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def live_server(load_rec: Callable[[], FusionRecommender]) -> Iterator[LiveServer]:
    """A real HTTP server on a free loopback port, stopped (gracefully) after the test."""
    rec = load_rec()
    server, thread, url = _start(rec)
    try:
        yield LiveServer(url=url, rec=rec)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=30)
