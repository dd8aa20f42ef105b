"""The link from a model directory to its store: the directory is untrusted data.

Loading opens the saved store read-only (so serving never overwrites what another process
indexed), creates nothing where the directory points, and sends credentials only to a URI
the caller gives in the same call.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fusionrec import (
    CollectionNotFoundError,
    ConfigError,
    FaissStore,
    FusionRecommender,
    ModelConfig,
    ModelDirError,
    StoreError,
)
from fusionrec.atomic import current_version
from fusionrec.data import MovieLens


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_data: MovieLens) -> Path:
    """A trained model directory with no store link yet (tests write their own)."""
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=1, seed=0), progress=False)
    rec.fit(tiny_data)
    return rec.save(tmp_path_factory.mktemp("store-link") / "model")


@pytest.fixture
def link(reseal: Callable[[Path, str], Path]) -> Callable[[Path, Any], Path]:
    """Point a model directory's store link at ``settings`` as a crafted directory would (with
    its checksums recomputed, so only the link's own validation stands in the way)."""

    def point(model_dir: Path, settings: Any) -> Path:
        state_file = current_version(model_dir, "recommender.json") / "state.json"
        state = json.loads(state_file.read_text(encoding="utf-8"))
        state["store"] = settings
        state_file.write_text(json.dumps(state), encoding="utf-8")
        reseal(model_dir, "recommender.json")
        return model_dir

    return point


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that records whether anyone connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()


def _connected(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def _faiss_settings(model_dir: Path, path: Path) -> dict[str, Any]:
    dim = FusionRecommender.load(model_dir).bundle.dim
    return {"backend": "faiss", "dim": dim, "index": "flat", "path": str(path)}


def test_serving_never_overwrites_a_newer_index(
    model_dir: Path, tmp_path: Path, link: Callable[[Path, Any], Path]
) -> None:
    """Finding 1: 1,682 movies indexed, 150 left after the server closed."""
    path = tmp_path / "movies.faiss"
    link(model_dir, _faiss_settings(model_dir, path))
    indexer = FusionRecommender.load(model_dir, store_options={"read_only": False})
    movies = indexer.movies
    indexer.index_movies(movies.take(list(range(10))))
    indexer.close()
    serving = FusionRecommender.load(model_dir)
    assert len(serving.recommend(age=30, gender="F", occupation=2, k=5, exclude_seen=False)) == 5
    indexer = FusionRecommender.load(model_dir, store_options={"read_only": False})
    indexer.index_movies()
    indexer.close()
    serving.recommend(age=30, gender="M", occupation=3, k=5)
    serving.close()
    assert FaissStore.load(path).count() == len(movies)


def test_loaded_store_is_read_only_until_asked(
    model_dir: Path, tmp_path: Path, link: Callable[[Path, Any], Path]
) -> None:
    path = tmp_path / "movies.faiss"
    link(model_dir, _faiss_settings(model_dir, path))
    writer = FusionRecommender.load(model_dir, store_options={"read_only": False})
    writer.index_movies()
    writer.close()
    reader = FusionRecommender.load(model_dir)
    with pytest.raises(StoreError, match="read-only"):
        reader.index_movies()
    reader.close()


def test_a_directory_cannot_make_a_read_create_files(
    model_dir: Path, tmp_path: Path, link: Callable[[Path, Any], Path]
) -> None:
    """Finding 2: a read-only recommend created files at paths the directory chose."""
    victim = tmp_path / "victim"
    victim.mkdir()
    faiss_link = _faiss_settings(model_dir, victim / "x.faiss")
    milvus_link = {"backend": "milvus", "uri": str(victim / "x.db"), "collection": "movies"}
    for settings in (faiss_link, milvus_link):
        rec = FusionRecommender.load(link(model_dir, settings))
        with pytest.raises(CollectionNotFoundError):
            rec.recommend(age=30, gender="F", occupation=2)
        rec.close()
        assert list(victim.iterdir()) == []


def test_a_token_goes_only_to_a_uri_the_caller_gives(
    model_dir: Path, listener: socket.socket, link: Callable[[Path, Any], Path]
) -> None:
    """Finding 2: the token was sent to whatever server recommender.json named."""
    port = listener.getsockname()[1]
    link(model_dir, {"backend": "milvus", "uri": f"http://127.0.0.1:{port}", "dim": 8})
    with pytest.raises(ConfigError, match="not trusted with credentials"):
        FusionRecommender.load(model_dir, store_options={"token": "user:password"})
    assert not _connected(listener)


def test_a_malformed_store_link_is_a_model_dir_error(
    model_dir: Path, link: Callable[[Path, Any], Path]
) -> None:
    with pytest.raises(ModelDirError, match="'store' must be an object"):
        FusionRecommender.load(link(model_dir, ["faiss"]))
    rec = FusionRecommender.load(link(model_dir, {"backend": "milvus", "bogus": 1}))
    with pytest.raises(ConfigError, match="does not take these options"):
        _ = rec.store
