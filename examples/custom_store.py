"""A third-party VectorStore in about 100 lines, proven by fusionrec's conformance suite.

``NumpyStore`` keeps items in numpy arrays and answers by brute force (exact). It implements
the ``_``-prefixed hooks of :class:`fusionrec.stores.VectorStore`; argument checking, batching
of queries and error messages come from the base class. Its ``settings()`` name a ``.npz``
file so ``open_store`` can reopen it; ``read_only=True`` (how ``FusionRecommender.load``
reopens a saved store) opens an existing file and never writes it.

Run the suite against it:  python examples/custom_store.py   (or: pytest examples/custom_store.py)
A package would register it through the entry-point group ``fusionrec.vector_stores``.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.errors import CollectionNotFoundError, StoreError
from fusionrec.stores import Filter, Hit, StoredItem, VectorStore, register
from fusionrec.stores.base import top_k_rows
from fusionrec.testing import VectorStoreConformance


class NumpyStore(VectorStore):
    """Exact in-memory store persisted to one ``.npz`` file on every write."""

    backend = "numpy-example"

    def __init__(self, dim: int, path: str | Path, read_only: bool = False) -> None:
        self._dim = int(dim)
        self._path = Path(path)
        self._read_only = read_only
        if read_only and not self._path.exists():
            raise CollectionNotFoundError(f"{self._path} does not exist (read_only=True)")
        self._lock = threading.Lock()
        self._closed = False
        # One tuple (ids, vectors, metadata), swapped whole, so a search never mixes versions.
        self._state: tuple[Any, Any, list[dict[str, Any]]] = (
            np.empty(0, dtype=np.int64),
            np.empty((0, self._dim), dtype=np.float32),
            [],
        )
        if self._path.exists():
            with np.load(self._path, allow_pickle=False) as saved:
                self._state = (saved["ids"], saved["vectors"], json.loads(str(saved["meta"])))

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def exact(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._closed

    def settings(self) -> dict[str, Any]:
        return {"backend": self.backend, "dim": self._dim, "path": str(self._path)}

    def close(self) -> None:
        self._closed = True

    def _commit(self, state: tuple[Any, Any, list[dict[str, Any]]]) -> None:
        """Write the file (temp + rename), then publish the new state to searches."""
        if self._read_only:
            raise StoreError(f"{self._path} is open read-only")
        tmp = self._path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=state[0], vectors=state[1], meta=json.dumps(state[2]))
        tmp.replace(self._path)
        self._state = state

    def _upsert(self, ids: Any, vectors: Any, metadata: list[dict[str, Any]]) -> None:
        with self._lock:
            old_ids, old_vectors, old_meta = self._state
            keep = ~np.isin(old_ids, ids)
            self._commit(
                (
                    np.concatenate([old_ids[keep], ids]),
                    np.concatenate([old_vectors[keep], vectors]),
                    [m for m, k in zip(old_meta, keep, strict=True) if k] + metadata,
                )
            )

    def _delete(self, ids: Any) -> None:
        with self._lock:
            old_ids, old_vectors, old_meta = self._state
            keep = ~np.isin(old_ids, ids)
            kept_meta = [m for m, k in zip(old_meta, keep, strict=True) if k]
            self._commit((old_ids[keep], old_vectors[keep], kept_meta))

    def _count(self) -> int:
        return len(self._state[0])

    def _get(self, ids: Any) -> list[StoredItem]:
        all_ids, vectors, meta = self._state
        rows = np.flatnonzero(np.isin(all_ids, ids))
        return [StoredItem(int(all_ids[r]), vectors[r].copy(), meta[r]) for r in rows]

    def _search(
        self, queries: Any, k: int, filter: Filter | None, excludes: list[frozenset[int]]
    ) -> list[list[Hit]]:
        ids, vectors, meta = self._state  # one consistent snapshot
        allowed: npt.NDArray[np.bool_] = np.ones(len(ids), dtype=bool)
        if filter is not None:
            allowed = np.array(
                [filter.matches(int(i), m) for i, m in zip(ids, meta, strict=True)], dtype=bool
            )
        scores = queries @ vectors.T
        results = []
        for row, excluded in enumerate(excludes):
            mask = allowed & ~np.isin(ids, list(excluded))
            row_scores = np.where(mask, scores[row], -np.inf)[None, :]
            best = top_k_rows(row_scores, min(k, int(mask.sum())))[0]
            results.append([Hit(int(ids[c]), float(row_scores[0, c]), meta[c]) for c in best])
        return results

    def _replace_all(self, ids: Any, vectors: Any, metadata: list[dict[str, Any]]) -> None:
        with self._lock:
            self._commit((ids.copy(), vectors.copy(), list(metadata)))


register(NumpyStore.backend, NumpyStore, replace=True)


class TestNumpyStore(VectorStoreConformance):
    """The whole conformance suite, run against NumpyStore."""

    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return NumpyStore(dim=dim, path=tmp_path / "store.npz")


if __name__ == "__main__":
    import pytest

    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
