"""The saved Faiss file under damage: truncated or bit-flipped files either load with the same
answers or raise a FusionrecError; never a traceback of another type, a crash or a hang.

faiss.deserialize_index on garbage can abort the whole process, so a failure here may show as
pytest itself dying: that is the bug these tests exist to catch. Every case loads a file of a
few kilobytes, so the suite stays within seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionrec.errors import CollectionNotFoundError, FusionrecError, StoreError
from fusionrec.stores import FaissStore, _faiss_file
from fusionrec.testing import hit_ids, random_items, random_queries

_DIM = 4
_QUERIES = random_queries(5, _DIM, seed=3)
_KINDS = {"flat": {}, "hnsw": {"M": 4}, "ivf": {"nlist": 2, "nprobe": 2}}


def _saved(kind: str, tmp: Path) -> tuple[bytes, FaissStore]:
    store = FaissStore(dim=_DIM, index=kind, **_KINDS[kind])
    ids, vectors, meta = random_items(24, _DIM)
    store.upsert(ids, vectors, meta)
    if kind != "flat":
        store.delete(ids[:3])  # tombstones: the header's "dead" count matters
    path = tmp / f"{kind}.faiss"
    store.save(path)
    return path.read_bytes(), store


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, FaissStore]]:
    tmp = tmp_path_factory.mktemp("faiss-file")
    return {kind: _saved(kind, tmp) for kind in _KINDS}


def _write(path: Path, data: bytes) -> None:
    """Write a new file: truncating one in place makes ext4 flush it (slow in a loop)."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def _load_or_refuse(data: bytes, original: FaissStore, path: Path) -> None:
    """A damaged file must raise a FusionrecError or load with exactly the original answers."""
    _write(path, data)
    try:
        loaded = FaissStore.load(path)
    except FusionrecError:
        return
    assert loaded.settings() | {"path": None} == original.settings() | {"path": None}
    assert loaded.count() == original.count()
    every = [item.id for item in original.get(np.arange(200, dtype=np.int64))]
    got = loaded.get(every)
    want = original.get(every)
    assert [(g.id, g.metadata) for g in got] == [(w.id, w.metadata) for w in want]
    np.testing.assert_array_equal([g.vector for g in got], [w.vector for w in want])
    for query in _QUERIES:  # one at a time: single queries stay off Faiss's thread pool
        assert hit_ids(loaded.search(query, 6)) == hit_ids(original.search(query, 6))


@pytest.mark.parametrize("kind", list(_KINDS))
def test_every_truncation_is_refused(
    kind: str, originals: dict[str, tuple[bytes, FaissStore]], tmp_path: Path
) -> None:
    data, _ = originals[kind]
    path = tmp_path / "cut.faiss"
    for size in range(0, len(data), 7):
        _write(path, data[:size])
        with pytest.raises(StoreError):
            FaissStore.load(path)


@pytest.mark.parametrize("bit", [0, 7])
def test_every_single_byte_flip_of_a_flat_file(
    bit: int, originals: dict[str, tuple[bytes, FaissStore]], tmp_path: Path
) -> None:
    """Exhaustive on a small flat store: each byte flipped in turn, low bit and high bit."""
    data, original = originals["flat"]
    path = tmp_path / "flip.faiss"
    for pos in range(len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 1 << bit
        _load_or_refuse(bytes(damaged), original, path)


@settings(
    max_examples=400,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(list(_KINDS)),
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6
    ),
    cut=st.none() | st.floats(0, 1),
)
def test_random_damage_is_refused_or_harmless(
    originals: dict[str, tuple[bytes, FaissStore]],
    tmp_path: Path,
    kind: str,
    flips: list[tuple[float, int]],
    cut: float | None,
) -> None:
    data, original = originals[kind]
    damaged = bytearray(data)
    for where, mask in flips:
        damaged[int(where * len(damaged))] ^= mask
    if cut is not None:
        damaged = damaged[: int(cut * len(damaged))]
    _load_or_refuse(bytes(damaged), original, tmp_path / "fuzz.faiss")


def test_foreign_and_empty_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.faiss"
    with path.open("wb") as handle:
        np.savez(handle, header=np.zeros(3, np.uint8))
    with pytest.raises(StoreError, match="not a fusionrec Faiss store"):
        FaissStore.load(path)
    path.write_bytes(b"")
    with pytest.raises(StoreError):
        FaissStore.load(path)
    with pytest.raises(CollectionNotFoundError, match="no saved Faiss store"):
        FaissStore.load(tmp_path / "missing.faiss")


def _resealed(original: FaissStore, path: Path, **changes: Any) -> None:
    """Write ``original`` with some parts replaced and a valid checksum (a crafted file)."""
    state = original._state
    ids = np.array(sorted(state.meta), dtype=np.int64)
    parts: dict[str, Any] = {
        "header": {
            "dim": original.dim,
            "index": original.index_type,
            "params": {},
            "count": len(ids),
            "dead": state.dead,
        },
        "index": faiss.serialize_index(state.index),
        "label_to_id": state.label_to_id,
        "ids": ids,
        "meta": [state.meta[int(i)] for i in ids],
    }
    parts.update(changes)
    path.write_bytes(_faiss_file.encode(**parts))


def test_crafted_files_with_valid_checksums_are_refused(
    originals: dict[str, tuple[bytes, FaissStore]], tmp_path: Path
) -> None:
    """The checksum only catches accidents; the parts must still agree with each other, and a
    flat index's bytes must have exactly the layout Faiss expects before Faiss parses them."""
    _, flat = originals["flat"]
    path = tmp_path / "crafted.faiss"
    _resealed(flat, path)
    assert FaissStore.load(path).count() == flat.count()  # the helper itself writes valid files
    raw = np.array(faiss.serialize_index(flat._state.index))
    longer = raw.copy()
    longer[8:16] = np.frombuffer(np.int64(10**9).tobytes(), np.uint8)  # ntotal
    ids = np.array(sorted(flat._state.meta), dtype=np.int64)
    header = {"dim": _DIM, "index": "flat", "params": {}, "count": len(ids), "dead": 0}
    crafted = [
        {"index": longer},
        {"index": raw[:-4]},
        {"index": np.frombuffer(b"IHNf" + raw.tobytes()[4:], np.uint8)},
        {"header": {**header, "count": len(ids) + 1}},
        {"header": {**header, "dead": 1}},
        {"header": {**header, "dim": _DIM + 1}},
        {"header": {**header, "index": "pq"}},
        {"header": {**header, "params": {"M": 4}}},
        {"ids": ids[::-1].copy()},
        {"label_to_id": np.roll(flat._state.label_to_id, 1) * 0},
        {"meta": [{"title": "x"}] * len(ids)},
    ]
    for change in crafted:
        _resealed(flat, path, **change)
        with pytest.raises(StoreError):
            FaissStore.load(path)
