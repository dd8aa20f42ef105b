"""The backend registry: built-ins, runtime registration, entry points, open_store."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import numpy as np
import pytest

from fusionrec.errors import ConfigError, UnknownBackendError
from fusionrec.stores import (
    ENTRY_POINT_GROUP,
    FaissStore,
    VectorStore,
    available_backends,
    create,
    open_store,
    register,
    registry,
    unregister,
)


def test_builtins_are_declared_as_entry_points() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert names["milvus"] == "fusionrec.stores.milvus:MilvusStore"
    assert names["faiss"] == "fusionrec.stores.faiss:FaissStore"
    assert {"faiss", "milvus"} <= set(available_backends())


def test_unknown_backend_lists_available() -> None:
    with pytest.raises(UnknownBackendError, match=r"'nope'.*faiss.*milvus"):
        create("nope", dim=4)


def test_create_and_register() -> None:
    store = create("faiss", dim=8, index="hnsw", M=8)
    assert isinstance(store, FaissStore) and store.dim == 8 and not store.exact

    def factory(dim: int, **options: object) -> VectorStore:
        return FaissStore(dim=dim)

    register("memory", factory)
    try:
        assert "memory" in available_backends()
        assert create("memory", dim=3).dim == 3
    finally:
        unregister("memory")
    assert "memory" not in available_backends()


def test_third_party_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint(
        name="thirdparty", value="fusionrec.stores.faiss:FaissStore", group=ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "_entry_points", lambda: {"thirdparty": point})
    assert "thirdparty" in available_backends()
    assert isinstance(create("thirdparty", dim=5), FaissStore)


def test_open_store_reopens_from_settings(tmp_path: Path) -> None:
    store = create("faiss", dim=4, path=tmp_path / "s.faiss")
    store.upsert([1, 2], np.eye(2, 4, dtype=np.float32), [{"title": "a"}, {"title": "b"}])
    settings = store.settings()
    store.close()
    with open_store(settings) as again:
        assert again.count() == 2
        assert again.get([2])[0].metadata["title"] == "b"


def test_open_store_read_only_and_unknown_options(tmp_path: Path) -> None:
    store = create("faiss", dim=4, path=tmp_path / "s.faiss")
    store.upsert([1], np.eye(1, 4, dtype=np.float32))
    settings = store.settings()
    store.close()
    with open_store(settings, read_only=True) as reader:
        assert isinstance(reader, FaissStore) and reader.read_only and reader.count() == 1
    with pytest.raises(ConfigError, match="does not take these options"):
        open_store({"backend": "milvus", "uri": str(tmp_path / "m.db"), "nope": 1})

    def legacy(dim: int) -> VectorStore:
        return FaissStore(dim=dim)

    register("legacy", legacy)
    try:
        with pytest.raises(ConfigError, match="read_only"):
            open_store({"backend": "legacy", "dim": 4}, read_only=True)
    finally:
        unregister("legacy")
    with pytest.raises(ConfigError, match="'backend'"):
        open_store({"dim": 4})


def test_stores_never_import_paddle_or_the_model() -> None:
    code = (
        "import sys\n"
        "import fusionrec.stores, fusionrec.testing\n"
        "from fusionrec.stores import FaissStore, MilvusStore\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'paddle' or m == 'fusionrec.model']\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
