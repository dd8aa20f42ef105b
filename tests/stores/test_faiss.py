"""FaissStore specifics: atomic save/load, refusal of bad files, options, tombstones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionrec.errors import ConfigError, DimensionMismatchError, StoreError
from fusionrec.stores import FaissStore, Filter
from fusionrec.testing import brute_force, hit_ids, random_items, random_queries


def _filled(index: str = "flat", **params: int) -> FaissStore:
    store = FaissStore(dim=8, index=index, **params)
    store.upsert(*random_items(200, 8))
    return store


def test_load_refuses_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "s.faiss"
    _filled().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="truncated"):
        FaissStore.load(path)


def test_load_refuses_other_file_and_dim(tmp_path: Path) -> None:
    path = tmp_path / "s.faiss"
    _filled().save(path)
    with pytest.raises(DimensionMismatchError, match="dimension 8, not 16"):
        FaissStore.load(path, dim=16)
    with pytest.raises(DimensionMismatchError):
        FaissStore(dim=16, path=path)
    with pytest.raises(ConfigError, match="flat"):
        FaissStore(dim=8, index="hnsw", path=path)
    junk = tmp_path / "junk.faiss"
    junk.write_bytes(b"not a store at all")
    with pytest.raises(StoreError):
        FaissStore.load(junk)


def test_save_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "s.faiss"
    store = _filled("ivf", nlist=4)
    store.save(path)
    store.delete([7, 14])
    store.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.faiss", "s.faiss.lock"]
    again = FaissStore.load(path)
    assert again.count() == 198 and again.settings()["index"] == "ivf"


def test_bad_options_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown Faiss index"):
        FaissStore(dim=8, index="pq")
    with pytest.raises(ConfigError, match="efSearch"):
        FaissStore(dim=8, index="flat", efSearch=10)
    with pytest.raises(ConfigError, match="positive"):
        FaissStore(dim=8, index="hnsw", M=0)
    with pytest.raises(ConfigError):
        FaissStore(dim=0)


def test_hnsw_tombstones_then_compaction_keep_answers_right() -> None:
    ids, vectors, meta = random_items(3000, 8)
    store = FaissStore(dim=8, index="hnsw", M=16, efSearch=256)
    store.upsert(ids, vectors, meta)
    store.delete(ids[:2500])
    assert store.count() == 500
    queries = random_queries(20, 8)
    want = brute_force(ids[2500:], vectors[2500:], queries, 10)
    got = hit_ids(store.search(queries, 10))
    assert all(len(row) == 10 for row in got)
    assert not set(np.concatenate(got).tolist()) & set(ids[:2500].tolist())
    overlap = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert overlap >= 0.9


def test_single_flat_queries_follow_every_write() -> None:
    """One-query flat searches read a cached view of Faiss's storage: writes must refresh it."""
    ids, vectors, meta = random_items(600, 8)
    queries = random_queries(6, 8)
    store = FaissStore(dim=8)
    store.upsert(ids[:300], vectors[:300], meta[:300])

    def single(q: np.ndarray) -> list[int]:
        return hit_ids(store.search(q, 10))[0]

    assert [single(q) for q in queries] == brute_force(ids[:300], vectors[:300], queries, 10)
    store.upsert(ids[300:], vectors[300:], meta[300:])  # grows the storage
    assert [single(q) for q in queries] == brute_force(ids, vectors, queries, 10)
    store.delete(ids[::2])  # compacts it
    assert [single(q) for q in queries] == brute_force(ids[1::2], vectors[1::2], queries, 10)
    moved = vectors[1::2][::-1].copy()  # same ids, other vectors
    store.upsert(ids[1::2], moved, meta[1::2])
    assert [single(q) for q in queries] == brute_force(ids[1::2], moved, queries, 10)


def test_selective_filter_is_exact_on_hnsw() -> None:
    store = _filled("hnsw", M=4)
    ids, vectors, meta = random_items(200, 8)
    flt = Filter(year_between=(1950, 1951))
    mask = np.array([flt.matches(int(i), m) for i, m in zip(ids, meta, strict=True)])
    queries = random_queries(5, 8)
    want = brute_force(ids, vectors, queries, 10, [mask] * 5)
    assert hit_ids(store.search(queries, 10, filter=flt)) == want


def test_closed_store_refuses_work() -> None:
    store = _filled()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()


def test_search_params_change_without_rebuild_and_are_validated() -> None:
    store = FaissStore(dim=16, index="hnsw", efSearch=16)
    ids, vectors, meta = random_items(500, 16)
    store.upsert(ids, vectors, meta)
    queries = random_queries(20, 16)
    store.set_search_params(efSearch=256)
    assert store.settings()["efSearch"] == 256
    exact = FaissStore(dim=16)
    exact.upsert(ids, vectors, meta)
    wide = [[h.id for h in row] for row in store.search(queries, 10)]
    assert wide == [[h.id for h in row] for row in exact.search(queries, 10)]
    with pytest.raises(ConfigError, match="efConstruction"):
        store.set_search_params(efConstruction=10)
    with pytest.raises(ConfigError, match="positive"):
        store.set_search_params(efSearch=0)
    with pytest.raises(ConfigError, match="flat"):
        exact.set_search_params(nprobe=4)
