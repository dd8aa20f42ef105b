"""FaissStore specifics: atomic save/load, refusal of bad files, options, tombstones, one
writer per file and read-only readers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fusionrec.errors import (
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    StoreError,
    StoreInUseError,
)
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
    """One-query flat searches that mask exclusions read a cached view of Faiss's storage:
    writes must refresh it."""
    ids, vectors, meta = random_items(600, 8)
    queries = random_queries(6, 8)
    store = FaissStore(dim=8)
    store.upsert(ids[:300], vectors[:300], meta[:300])
    skip = frozenset(ids[:600:7].tolist())  # enough ids to be masked, not over-fetched

    def single(q: np.ndarray) -> list[int]:
        return hit_ids(store.search(q, 10, exclude_ids=[sorted(skip)]))[0]

    def expected(ids: np.ndarray, vectors: np.ndarray) -> list[list[int]]:
        allowed = [~np.isin(ids, list(skip))] * len(queries)
        return brute_force(ids, vectors, queries, 10, allowed)

    assert [single(q) for q in queries] == expected(ids[:300], vectors[:300])
    store.upsert(ids[300:], vectors[300:], meta[300:])  # grows the storage
    assert [single(q) for q in queries] == expected(ids, vectors)
    store.delete(ids[::2])  # compacts it
    assert [single(q) for q in queries] == expected(ids[1::2], vectors[1::2])
    moved = vectors[1::2][::-1].copy()  # same ids, other vectors
    store.upsert(ids[1::2], moved, meta[1::2])
    assert [single(q) for q in queries] == expected(ids[1::2], moved)


@pytest.mark.parametrize(
    ("n", "dim", "n_excluded"),
    [
        (2000, 8, 3),  # few ids: over-fetched and dropped
        (2000, 8, 40),  # many ids, small index: masked in BLAS scores
        (5000, 64, 40),  # many ids, large index: masked by a bitmap selector in Faiss's scan
        (5000, 64, 4995),  # fewer items left than k
        (5000, 64, 5000),  # nothing left
    ],
)
def test_single_flat_query_skips_excluded_ids_each_way(n: int, dim: int, n_excluded: int) -> None:
    ids, vectors, meta = random_items(n, dim)
    queries = random_queries(5, dim)
    store = FaissStore(dim=dim)
    store.upsert(ids, vectors, meta)
    rng = np.random.default_rng(3)
    for q in queries:
        # the query's own best items among the excluded, so that skipping them matters
        best = brute_force(ids, vectors, q[None], 20)[0][:10]
        rest = rng.choice(np.setdiff1d(ids, best), n_excluded - min(10, n_excluded), False)
        skip = [*best[:n_excluded], *rest.tolist(), 10**9]  # 10**9: an id the store lacks
        got = hit_ids(store.search(q, 10, exclude_ids=[skip]))[0]
        allowed = [~np.isin(ids, skip)]
        assert got == brute_force(ids, vectors, q[None], 10, allowed)[0]
        assert len(got) == min(10, n - n_excluded)


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


_OTHER_WRITER = textwrap.dedent(
    """
    import sys
    from fusionrec.errors import StoreInUseError
    from fusionrec.stores import FaissStore
    try:
        store = FaissStore(dim=8, path=sys.argv[1])
    except StoreInUseError as exc:
        print("StoreInUseError", exc)
    else:
        print("opened", store.count())
        store.close()
    """
)


def _other_writer(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_WRITER, str(path)], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip() or done.stderr


def test_one_writer_at_a_time_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "s.faiss"
    writer = FaissStore(dim=8, path=path)
    writer.upsert(*random_items(5, 8))
    out = _other_writer(path)
    assert out.startswith("StoreInUseError store in use by another writer"), out
    assert str(path) in out
    with pytest.raises(StoreInUseError, match="one writer at a time"):
        FaissStore(dim=8, path=path)  # a second writer in this process is refused too
    writer.close()
    assert _other_writer(path) == "opened 5"


def test_readers_never_write_and_see_completed_saves(tmp_path: Path) -> None:
    """Finding 1: a serving store closed after a reindex must not put its stale copy back."""
    path = tmp_path / "s.faiss"
    ids, vectors, meta = random_items(300, 8)
    with FaissStore(dim=8, path=path) as writer:
        writer.upsert(ids[:150], vectors[:150], meta[:150])
    reader = FaissStore(dim=8, path=path, read_only=True)
    assert reader.read_only and reader.count() == 150
    with FaissStore(dim=8, path=path) as writer:  # a reader does not block the writer
        writer.upsert(ids, vectors, meta)
    reader.search(random_queries(3, 8), 5)
    reader.close()
    assert FaissStore.load(path).count() == 300
    with FaissStore(dim=8, path=path, read_only=True) as again:
        assert again.count() == 300  # reopening sees the latest completed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.faiss", "s.faiss.lock"]


def test_read_only_refuses_writes_and_needs_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.faiss"
    _filled().save(path)
    before = path.stat()
    with FaissStore(dim=8, path=path, read_only=True) as reader:
        for write in (
            lambda: reader.upsert(*random_items(2, 8)),
            lambda: reader.delete([7]),
            lambda: reader.replace_all(*random_items(2, 8)),
            lambda: reader.save(path),
        ):
            with pytest.raises(StoreError, match="read-only"):
                write()
        reader.set_search_params()  # search-time knobs stay usable
        reader.save(tmp_path / "copy.faiss")  # another file is the caller's to write
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    missing = tmp_path / "elsewhere" / "none.faiss"
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(CollectionNotFoundError, match="read-only store opens an existing"):
        FaissStore(dim=8, path=missing, read_only=True)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    with pytest.raises(ConfigError, match="needs the path"):
        FaissStore(dim=8, read_only=True)


def test_writer_saves_on_close_only_after_a_change(tmp_path: Path) -> None:
    path = tmp_path / "s.faiss"
    _filled().save(path)
    inode = path.stat().st_ino
    with FaissStore(dim=8, path=path) as store:
        store.search(random_queries(2, 8), 3)
        store.get([7])
    assert path.stat().st_ino == inode  # untouched: nothing changed
    with FaissStore(dim=8, path=path) as store:
        store.delete([7])
    assert path.stat().st_ino != inode and FaissStore.load(path).count() == 199


def test_reopening_takes_the_saved_kind_and_parameters(tmp_path: Path) -> None:
    """Finding 4's root: reopening a file must not need its index kind repeated."""
    path = tmp_path / "h.faiss"
    with FaissStore(dim=8, index="hnsw", path=path, M=8) as store:
        store.upsert(*random_items(50, 8))
        store.set_search_params(efSearch=40)
    with FaissStore(dim=8, path=path, efSearch=64) as again:
        assert again.settings() == {
            "backend": "faiss",
            "dim": 8,
            "index": "hnsw",
            "path": str(path),
            "M": 8,
            "efConstruction": 200,
            "efSearch": 64,
        }
    with pytest.raises(ConfigError, match="hnsw index"):
        FaissStore(dim=8, path=path, M=16)  # a build-time parameter cannot differ


def test_saved_file_follows_the_umask(tmp_path: Path) -> None:
    """Finding 9: the index file was created 0600 whatever the umask."""
    old = os.umask(0o027)
    try:
        _filled().save(tmp_path / "s.faiss")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "s.faiss").stat().st_mode) == 0o640


def test_empty_ivf_store_saves_and_loads(tmp_path: Path) -> None:
    with FaissStore(dim=8, index="ivf", path=tmp_path / "e.faiss", nlist=4) as store:
        store.replace_all([], np.zeros((0, 8), np.float32))
    again = FaissStore.load(tmp_path / "e.faiss")
    assert again.count() == 0 and again.search(random_queries(1, 8), 3) == [[]]
    again.upsert(*random_items(50, 8))
    assert again.count() == 50
