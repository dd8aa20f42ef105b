"""FaissStore: an in-memory vector store on Faiss (flat, HNSW or IVF), saved atomically.

Items live in a plain Faiss index under sequential labels; a label -> id table and the
metadata sit beside it. Flat indexes delete physically (``remove_ids`` compacts labels, as
``IndexIDMap2`` does); HNSW and IVF cannot remove cheaply, so replaced or deleted labels
become tombstones that search skips, and the index is rebuilt once tombstones outnumber
half the live items. Metadata is kept per id and, for filtering, as numpy columns by label
(``_columns``), built once per write; a filter's mask becomes an ``IDSelectorBatch`` over
the matching labels (or an exact brute force over few of them);
exclusions and tombstones are post-filtered with an over-fetch that grows until every query
has k hits or the index is exhausted, so neither shrinks results below k (one query on a flat
index masks a long exclusion list instead).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss as _faiss_module
import numpy as np

from fusionrec.atomic import write_bytes_atomic
from fusionrec.errors import (
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    ReadOnlyStoreError,
    StoreError,
)
from fusionrec.stores import _faiss_file
from fusionrec.stores._columns import Columns
from fusionrec.stores._filelock import WriterLock, same_file
from fusionrec.stores._sync import ReadWriteLock
from fusionrec.stores.base import (
    FloatMatrix,
    Hit,
    IdArray,
    StoredItem,
    VectorStore,
    finite_score,
    finite_scores,
    top_k,
    top_k_rows,
)
from fusionrec.stores.fields import (
    Fields,
    MetadataField,
    copy_metadata,
    fields_from_settings,
    fields_setting,
    fields_to_settings,
)
from fusionrec.stores.filters import Predicate

# faiss ships partial stubs that miss the SWIG search-parameter classes; treat it as Any.
faiss: Any = _faiss_module

_DEFAULT_THREADS = faiss.omp_get_max_threads()
_INDEX_DEFAULTS: dict[str, dict[str, int]] = {
    "flat": {},
    "hnsw": {"M": 32, "efConstruction": 200, "efSearch": 128},
    "ivf": {"nlist": 1024, "nprobe": 32},
}
_SEARCH_TIME_PARAMS: dict[str, tuple[str, ...]] = {
    "flat": (),
    "hnsw": ("efSearch",),
    "ivf": ("nprobe",),
}
_MAX_FILTER_CACHE = 32
# Filters matching at most this many items are answered by exact brute force over the
# matching vectors: faster than a selector scan, and exact even on HNSW/IVF, whose graph or
# probes can miss items of a very selective filter.
_BRUTE_FORCE_MAX = 4096
# One query on a flat index skips ``exclude`` ids by the cheapest of three ways (measured for
# 10, 100 and 1,000 ids at 1,000 to 250,000 vectors of 32 and 200 dimensions, one thread):
# over-fetching k + len(exclude) hits costs about 0.2 us per excluded id, masking costs a pass
# over every vector, so the over-fetch serves while len(exclude) * _OVERFETCH_PER_ID < ntotal;
# above, the mask is applied to BLAS scores where the matrix has at most _BLAS_MASK_MAX_CELLS
# cells (numpy's OpenBLAS ran 200,000 on one thread and threaded 524,288; a threaded product
# stalls for milliseconds when another process holds the other core), else to Faiss's own
# scan as a bitmap selector (benchmarks/bench_faiss_single.py).
_OVERFETCH_PER_ID = 500
_BLAS_MASK_MAX_CELLS = 262_144
_new = object.__new__


def _index_params(index: str, params: Mapping[str, Any]) -> dict[str, int]:
    if index not in _INDEX_DEFAULTS:
        raise ConfigError(f"unknown Faiss index {index!r}; choose one of {sorted(_INDEX_DEFAULTS)}")
    defaults = _INDEX_DEFAULTS[index]
    unknown = set(params) - set(defaults)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {sorted(unknown)} for Faiss index {index!r}; "
            f"accepted: {sorted(defaults)}"
        )
    return {**defaults, **{key: _positive(key, value) for key, value in params.items()}}


def _positive(name: str, value: Any) -> int:
    """A Faiss parameter as a plain int; ConfigError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"Faiss parameter {name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class _State:
    """One generation of the store's content; replace_all swaps a whole new one in."""

    index: Any
    label_to_id: IdArray
    id_to_label: dict[int, int]
    meta: dict[int, dict[str, Any]]
    dead: int = 0
    filters: dict[Predicate, IdArray] = field(default_factory=dict)
    columns: Columns | None = None  # metadata columns by label; reset on writes
    flat_view: FloatMatrix | None = None  # a flat index's storage as numpy; reset on writes


class FaissStore(VectorStore):
    """In-memory store; ``index`` is "flat" (exact, default), "hnsw" or "ivf".

    ``params``: HNSW ``M``, ``efConstruction``, ``efSearch``; IVF ``nlist`` (capped at the
    number of vectors at first insert), ``nprobe``. With ``path``, an existing file is loaded
    (``index=None`` takes the file's kind and parameters; search-time ones given here win)
    and the store is its one writer: it holds ``<path>.lock`` until :meth:`close`, which
    saves back only if something changed. ``read_only=True`` opens an existing file without
    the lock, never writes it and refuses upsert, delete and replace_all; reopening sees the
    latest completed save. ``fields`` declares the metadata kept per item (default: the
    MovieLens title, genres and year; a saved file brings its own). Single-query searches
    run Faiss on one OpenMP thread: on small indexes thread start-up costs more than the
    search.
    """

    backend = "faiss"

    def __init__(
        self,
        dim: int,
        index: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        read_only: bool = False,
        fields: Sequence[MetadataField | Mapping[str, Any]] | None = None,
        **params: int,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        if index is not None and not isinstance(index, str):
            raise ConfigError(f"index must be a string, got {index!r}")
        self._dim = int(dim)
        self._fields_arg = None if fields is None else fields_from_settings(fields)
        self._fields = self._fields_arg or fields_from_settings(None)
        self._path = None if path is None else Path(path)
        self._read_only = bool(read_only)
        if self._read_only and self._path is None:
            raise ConfigError("read_only=True needs the path of a saved Faiss store")
        self._lock = ReadWriteLock()
        self._list_fields: tuple[Fields, tuple[str, ...]] | None = None
        self._closed = False
        self._changes = self._saved = 0  # write count, and its value at the last save
        self._writer = None if self._path is None or read_only else WriterLock(self._path)
        try:
            self._open(index, params)
        except BaseException:
            if self._writer is not None:
                self._writer.release()
            raise

    def _open(self, index: str | None, params: Mapping[str, int]) -> None:
        """Start empty, or from the saved file, checking it against ``index`` and ``params``."""
        path = self._path
        if path is None or not path.exists():
            if self._read_only:
                raise CollectionNotFoundError(
                    f"{path}: no saved Faiss store there; a read-only store opens an existing "
                    "file (index one first)"
                )
            self._kind = index or "flat"
            self._params = _index_params(self._kind, params)
            self._state = self._empty_state()
            return
        loaded = FaissStore.load(path, dim=self._dim)
        if self._fields_arg is not None and self._fields_arg != loaded._fields:
            raise ConfigError(
                f"{path} keeps metadata fields {[f.name for f in loaded._fields]} of other "
                f"declarations than the fields given; open it without fields= to use its own"
            )
        self._fields = loaded._fields
        self._kind = index or loaded._kind
        given = {k: v for k, v in _index_params(self._kind, params).items() if k in params}
        build_time = set(_INDEX_DEFAULTS[self._kind]) - set(_SEARCH_TIME_PARAMS[self._kind])
        differ = {k: v for k, v in given.items() if k in build_time and loaded._params[k] != v}
        if self._kind != loaded._kind or differ:
            raise ConfigError(
                f"{path} holds a {loaded._kind} index with {loaded._params}, "
                f"not {self._kind} with {given}"
            )
        self._params = {**loaded._params, **given}
        self._state = loaded._state

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def exact(self) -> bool:
        return self._kind == "flat"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fields(self) -> Fields:
        return self._fields

    @property
    def index_type(self) -> str:
        """The Faiss index kind: flat, hnsw or ivf."""
        return self._kind

    def set_search_params(self, **params: int) -> None:
        """Change search-time knobs (HNSW ``efSearch``, IVF ``nprobe``) without a rebuild.

        The recall/latency trade-off is tuned on a built index; the new values are part of
        :meth:`settings` and of what :meth:`save` writes.
        """
        allowed = _SEARCH_TIME_PARAMS[self._kind]
        for name in params:
            if name not in allowed:
                raise ConfigError(
                    f"{name!r} is not a search-time parameter of a {self._kind} index; "
                    f"expected one of {list(allowed)}"
                )
        checked = {name: _positive(name, value) for name, value in params.items()}
        with self._lock.write():
            self._params = {**self._params, **checked}
            self._changes += 1

    @property
    def read_only(self) -> bool:
        """Whether this store was opened to read a saved file only."""
        return self._read_only

    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "dim": self._dim,
            "index": self._kind,
            "path": None if self._path is None else str(self._path),
            **self._params,
            **fields_setting(self._fields),
        }

    def close(self) -> None:
        """Release the writer lock, saving first if this writer changed anything."""
        if self._closed:
            return
        if self._writer is not None and self._path is not None and self._changes != self._saved:
            self.save(self._path)
        self._closed = True
        if self._writer is not None:
            self._writer.release()

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index, ids and metadata to one checksummed file, atomically.

        Saving to another file takes that file's lock for the write, so it never overwrites
        a file another store is writing; a read-only store cannot save over its own file.
        """
        self._check_open()
        target = Path(path)
        own = self._path is not None and same_file(target, self._path)
        if own and self._read_only:
            raise StoreError(
                f"{target} was opened read-only: open it with read_only=False to write it"
            )
        with self._lock.read():
            state = self._state
            changes = self._changes
            ids = np.array(sorted(state.meta), dtype=np.int64)
            header = {
                "dim": self._dim,
                "index": self._kind,
                "params": self._params,
                "count": len(state.meta),
                "dead": state.dead,
                "fields": fields_to_settings(self._fields),
            }
            raw = np.zeros(0, np.uint8)  # an IVF index before its first insert
            if state.index is not None:
                raw = faiss.serialize_index(state.index)
            data = _faiss_file.encode(
                header, raw, state.label_to_id, ids, [state.meta[int(i)] for i in ids]
            )
        if own:
            write_bytes_atomic(target, data)
            self._saved = changes
            return
        lock = WriterLock(target)
        try:
            write_bytes_atomic(target, data)
        finally:
            lock.release()

    @classmethod
    def load(cls, path: str | os.PathLike[str], dim: int | None = None) -> FaissStore:
        """Read a file written by :meth:`save` into a store with no path (it never writes).

        The file is verified before Faiss sees it (see ``_faiss_file``): a truncated,
        corrupted or foreign file raises StoreError, another ``dim`` DimensionMismatchError.
        """
        path = Path(path)
        saved = _faiss_file.decode(path)
        header = saved.header
        if header.get("format") != _faiss_file.FORMAT or header.get("version") != (
            _faiss_file.VERSION
        ):
            raise StoreError(
                f"{path} is not a fusionrec Faiss store of format version "
                f"{_faiss_file.VERSION} (found {header.get('version')!r}); re-run the indexing"
            )
        file_dim: Any = header.get("dim")
        if dim is not None and file_dim != dim:
            raise DimensionMismatchError(f"{path} holds vectors of dimension {file_dim}, not {dim}")
        try:
            fields = fields_from_settings(header.get("fields"))
            params = dict(header.get("params") or {})
            store = cls(file_dim, str(header.get("index")), fields=fields, **params)
        except (ConfigError, TypeError) as exc:
            raise StoreError(f"{path}: invalid store header ({exc})") from exc
        store._state = _read_state(path, store, saved)
        return store

    # -- hooks ---------------------------------------------------------------------------

    def _empty_state(self) -> _State:
        return _State(
            index=self._new_index(),
            label_to_id=np.zeros(0, dtype=np.int64),
            id_to_label={},
            meta={},
        )

    def _new_index(self) -> Any:
        if self._kind == "flat":
            return faiss.IndexFlatIP(self._dim)
        if self._kind == "hnsw":
            index = faiss.IndexHNSWFlat(self._dim, self._params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self._params["efConstruction"]
            return index
        return None  # IVF is built at the first insert, when nlist can be fitted to the data

    def _add(self, state: _State, vectors: FloatMatrix) -> None:
        if state.index is None:
            nlist = max(1, min(self._params["nlist"], vectors.shape[0] // 39 or 1))
            quantizer = faiss.IndexFlatIP(self._dim)
            index = faiss.IndexIVFFlat(quantizer, self._dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            index.make_direct_map()
            state.index = index
        state.index.add(vectors)
        state.flat_view = None

    def _upsert(self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]) -> None:
        self._check_writable()
        with self._lock.write():
            self._changes += 1
            state = self._state
            self._remove(state, ids)
            self._append(state, ids, vectors, metadata)
            self._maybe_compact(state)

    def _append(
        self, state: _State, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]
    ) -> None:
        start = state.label_to_id.size
        self._add(state, vectors)
        state.label_to_id = np.concatenate([state.label_to_id, ids])
        for offset, (item_id, meta) in enumerate(zip(ids.tolist(), metadata, strict=True)):
            state.id_to_label[item_id] = start + offset
            state.meta[item_id] = meta
        state.filters.clear()
        state.columns = None

    def _remove(self, state: _State, ids: IdArray) -> None:
        labels = [state.id_to_label.pop(i) for i in ids.tolist() if i in state.id_to_label]
        if not labels:
            return
        for item_id in ids.tolist():
            state.meta.pop(item_id, None)
        state.filters.clear()
        state.columns = None
        label_arr = np.array(labels, dtype=np.int64)
        if self._kind == "flat":
            state.index.remove_ids(faiss.IDSelectorBatch(label_arr))
            state.flat_view = None
            keep = np.ones(state.label_to_id.size, dtype=bool)
            keep[label_arr] = False
            state.label_to_id = state.label_to_id[keep]
            state.id_to_label = {int(i): j for j, i in enumerate(state.label_to_id.tolist())}
        else:
            state.label_to_id[label_arr] = -1
            state.dead += label_arr.size

    def _maybe_compact(self, state: _State) -> None:
        if state.dead <= max(1024, len(state.meta) // 2):
            return
        live_ids = np.array(list(state.id_to_label), dtype=np.int64)
        labels = np.array([state.id_to_label[i] for i in live_ids.tolist()], dtype=np.int64)
        vectors = state.index.reconstruct_batch(labels) if labels.size else None
        meta = [state.meta[i] for i in live_ids.tolist()]
        fresh = self._empty_state()
        if vectors is not None:
            self._append(fresh, live_ids, np.ascontiguousarray(vectors, np.float32), meta)
        state.index, state.label_to_id = fresh.index, fresh.label_to_id
        state.flat_view = None
        state.id_to_label, state.dead = fresh.id_to_label, 0
        state.filters.clear()
        state.columns = None

    def _delete(self, ids: IdArray) -> None:
        self._check_writable()
        with self._lock.write():
            self._changes += 1
            self._remove(self._state, ids)
            self._maybe_compact(self._state)

    def _count(self) -> int:
        return len(self._state.meta)

    def _get(self, ids: IdArray) -> list[StoredItem]:
        with self._lock.read():
            state = self._state
            found = [i for i in ids.tolist() if i in state.id_to_label]
            if not found:
                return []
            labels = np.array([state.id_to_label[i] for i in found], dtype=np.int64)
            vectors = np.asarray(state.index.reconstruct_batch(labels), dtype=np.float32)
            return [
                StoredItem(i, vectors[row].copy(), copy_metadata(state.meta[i]))
                for row, i in enumerate(found)
            ]

    def _replace_all(
        self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]
    ) -> None:
        self._check_writable()
        fresh = self._empty_state()
        if ids.size:
            self._append(fresh, ids, vectors, metadata)
        with self._lock.write():
            self._changes += 1
            self._state = fresh

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyStoreError(
                f"the Faiss store {self._path} is open read-only: upsert, delete and "
                "replace_all need a store opened with read_only=False (its one writer)"
            )

    def _search(
        self,
        queries: FloatMatrix,
        k: int,
        filter: Predicate | None,
        excludes: list[frozenset[int]],
    ) -> list[list[Hit]]:
        lock = self._lock
        lock.acquire_read()  # not ``with lock.read()``: two calls fewer per search
        try:
            state = self._state
            if state.index is None or not state.meta:
                return [[] for _ in range(queries.shape[0])]
            if filter is None and queries.shape[0] == 1 and not state.dead:
                if not excludes[0]:
                    return [self._search_one(state, queries, k)]
                if self._kind == "flat":
                    return [self._search_one_excluding(state, queries, k, excludes[0])]
            selector = None
            ntotal = int(state.index.ntotal)
            dead = state.dead
            if filter is not None:
                allowed = self._allowed_labels(state, filter)
                if not allowed.size:
                    return [[] for _ in range(queries.shape[0])]
                if allowed.size <= _BRUTE_FORCE_MAX:
                    return self._search_subset(state, queries, k, allowed, excludes)
                selector = faiss.IDSelectorBatch(allowed)
                ntotal, dead = int(allowed.size), 0
            _set_threads(1 if queries.shape[0] == 1 else _DEFAULT_THREADS)
            return self._search_state(state, queries, k, selector, ntotal, dead, excludes)
        finally:
            lock.release_read()

    def _hits(self, state: _State, ids: list[int], scores: list[float]) -> list[Hit]:
        """Hits of items known to be stored, each with a copy of its metadata.

        :func:`copy_metadata` per hit, with the store's list fields named once rather than
        found by testing every value's type (a search builds k of these).
        """
        lists = self._list_fields
        if lists is None or lists[0] is not self._fields:
            names = tuple(spec.name for spec in self._fields if spec.type == "list[str]")
            lists = self._list_fields = (self._fields, names)
        meta, names = state.meta, lists[1]
        hits = []
        for item_id, score in zip(ids, scores, strict=True):
            copy = meta[item_id].copy()
            for name in names:
                value = copy[name]
                if value.__class__ is list:
                    copy[name] = value.copy()
            hit = _new(Hit)  # Hit's fields set directly: its __init__ is a Python call per hit
            hit.id, hit.score, hit.metadata = item_id, score, copy
            hits.append(hit)
        return hits

    def _search_one(self, state: _State, query: FloatMatrix, k: int) -> list[Hit]:
        """The common case, one query with nothing to skip: one direct Faiss call.

        The SWIG ``search_c`` is called with fresh output arrays, as the Python wrapper's
        argument checks cost a measurable share of a sub-0.1 ms search. (A BLAS product over
        the flat storage was faster only while OpenBLAS could take the second core.)
        """
        fetch = min(k, state.label_to_id.size)  # = ntotal without tombstones, read without SWIG
        if self._kind == "flat":  # exact over every stored item: fetch real labels, no -1
            scores, labels = _scan(state, query, fetch, None)
            return self._hits(
                state, state.label_to_id[labels].tolist(), finite_scores(scores.tolist())
            )
        scores, labels = _scan(state, query, fetch, self._search_params(None, fetch))
        return self._collect(state, scores, labels, k, frozenset())

    def _search_one_excluding(
        self, state: _State, query: FloatMatrix, k: int, exclude: frozenset[int]
    ) -> list[Hit]:
        """One query on a flat index, ``exclude`` ids skipped (see ``_OVERFETCH_PER_ID``).

        A flat index stores every label, so an over-fetch of k + len(exclude) hits always
        leaves k; a mask leaves exactly the items that may be returned.
        """
        n = state.label_to_id.size
        if len(exclude) * _OVERFETCH_PER_ID < n:
            scores, labels = _scan(state, query, min(n, k + len(exclude)), None)
            return self._collect(state, scores, labels, k, exclude)
        to_label = state.id_to_label
        masked = [label for i in exclude if (label := to_label.get(i)) is not None]
        fetch = min(k, n - len(masked))
        if fetch <= 0:
            return []
        if n * self._dim <= _BLAS_MASK_MAX_CELLS:
            all_scores = _flat_vectors(state) @ query[0]
            all_scores[masked] = -np.inf
            labels = top_k(all_scores, fetch)  # labels are positions in a flat index
            scores = all_scores[labels]
        else:
            allowed = np.ones(n, dtype=bool)
            allowed[masked] = False
            bits = np.packbits(allowed, bitorder="little")  # Faiss's bitmap: bit i%8 of byte i//8
            selector = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(bits))  # size in bytes
            scores, labels = _scan(state, query, fetch, faiss.SearchParameters(sel=selector))
        return self._collect(state, scores, labels, k, frozenset())

    def _search_state(
        self,
        state: _State,
        queries: FloatMatrix,
        k: int,
        selector: Any,
        ntotal: int,
        dead: int,
        excludes: list[frozenset[int]],
    ) -> list[list[Hit]]:
        results: list[list[Hit]] = [[] for _ in range(queries.shape[0])]
        pending = np.arange(queries.shape[0])
        fetch = min(ntotal, k + dead + max(len(e) for e in excludes))
        while pending.size:
            batch = queries if pending.size == queries.shape[0] else queries[pending]
            params = self._search_params(selector, fetch)
            if params is None:
                scores, labels = state.index.search(batch, fetch)
            else:
                scores, labels = state.index.search(batch, fetch, params=params)
            still: list[int] = []
            for row, qi in enumerate(pending.tolist()):
                hits = self._collect(state, scores[row], labels[row], k, excludes[qi])
                results[qi] = hits
                if len(hits) < k and fetch < ntotal:
                    still.append(qi)
            pending = np.array(still, dtype=np.int64)
            fetch = min(ntotal, fetch * 2)
        return results

    def _search_subset(
        self,
        state: _State,
        queries: FloatMatrix,
        k: int,
        labels: IdArray,
        excludes: list[frozenset[int]],
    ) -> list[list[Hit]]:
        vectors = np.asarray(state.index.reconstruct_batch(labels), dtype=np.float32)
        scores = queries @ vectors.T
        ids = state.label_to_id[labels]
        fetch = min(labels.size, k + max(len(e) for e in excludes))
        order = top_k_rows(scores, fetch)
        results = []
        for row, exclude in enumerate(excludes):
            hits: list[Hit] = []
            for col in order[row].tolist():
                item_id = int(ids[col])
                if item_id in exclude:
                    continue
                meta = copy_metadata(state.meta[item_id])
                hits.append(Hit(item_id, finite_score(scores[row, col]), meta))
                if len(hits) == k:
                    break
            results.append(hits)
        return results

    def _search_params(self, selector: Any, fetch: int) -> Any:
        if self._kind == "hnsw":
            ef = max(self._params["efSearch"], fetch)
            return faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
        if self._kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self._params["nprobe"])
        return None if selector is None else faiss.SearchParameters(sel=selector)

    def _collect(
        self, state: _State, scores: Any, labels: Any, k: int, exclude: frozenset[int]
    ) -> list[Hit]:
        valid = labels if labels[-1] >= 0 else labels[labels >= 0]  # Faiss pads with -1
        item_ids = state.label_to_id[valid].tolist()  # one vectorized lookup, then plain ints
        row_scores = finite_scores(scores[: valid.size].tolist())
        if not exclude and not state.dead:  # no tombstones: every label is a stored item
            return self._hits(state, item_ids[:k], row_scores[:k])
        ids: list[int] = []
        kept: list[float] = []
        for score, item_id in zip(row_scores, item_ids, strict=True):
            if item_id < 0 or item_id in exclude:
                continue
            ids.append(item_id)
            kept.append(score)
            if len(ids) == k:
                break
        return self._hits(state, ids, kept)

    def _allowed_labels(self, state: _State, flt: Predicate) -> IdArray:
        """The labels a core predicate lets through, sorted (cached per content generation)."""
        cached = state.filters.get(flt)
        if cached is not None:
            return cached
        if state.columns is None:
            state.columns = Columns(state.label_to_id, state.meta, self._fields)
        out = np.flatnonzero(state.columns.mask(flt)).astype(np.int64)
        if len(state.filters) >= _MAX_FILTER_CACHE:
            state.filters.clear()
        state.columns = None
        state.filters[flt] = out
        return out


_threads = [_DEFAULT_THREADS]


def _set_threads(n: int) -> None:
    """Set Faiss's OpenMP thread count (process-wide) when it changes."""
    if _threads[0] != n:
        faiss.omp_set_num_threads(n)
        _threads[0] = n


def _scan(
    state: _State, query: FloatMatrix, fetch: int, params: Any
) -> tuple[FloatMatrix, IdArray]:
    """Faiss's search of one query ``[1, dim]`` for ``fetch`` hits on one thread, called
    through SWIG's ``search_c`` directly: scores and labels, best first."""
    _set_threads(1)
    scores = np.empty(fetch, dtype=np.float32)
    labels = np.empty(fetch, dtype=np.int64)
    ptr = faiss.swig_ptr
    state.index.search_c(1, ptr(query), fetch, ptr(scores), ptr(labels), params)
    return scores, labels


def _flat_vectors(state: _State) -> FloatMatrix:
    """A flat index's vectors as a numpy view of Faiss's storage (no copy), cached until a write.

    Labels are positions in a flat index, so row i of the view is label i.
    """
    view = state.flat_view
    if view is None:
        n, dim = int(state.index.ntotal), int(state.index.d)
        view = faiss.rev_swig_ptr(state.index.get_xb(), n * dim).reshape(n, dim)
        state.flat_view = view
    return view


_INDEX_CLASSES = {"flat": "IndexFlatIP", "hnsw": "IndexHNSWFlat", "ivf": "IndexIVFFlat"}


def _read_state(path: Path, store: FaissStore, saved: _faiss_file.StoreFile) -> _State:
    """The store content of a verified file, after checking that its parts agree."""
    header, ids, meta = saved.header, saved.ids, saved.meta
    labels = saved.label_to_id.copy()  # tombstoning writes into it
    count, dead = header.get("count"), header.get("dead")
    live = np.flatnonzero(labels >= 0)
    if (
        not len(meta) == ids.size == count == live.size
        or dead != labels.size - live.size
        or np.any(labels < -1)
        or (store._kind == "flat" and dead)
        or np.any(ids[1:] <= ids[:-1])  # saved sorted and unique
        or not np.array_equal(np.sort(labels[live]), ids)
        or not _all_metadata(meta, store.fields)
    ):
        raise StoreError(f"{path} is inconsistent: index, ids and metadata disagree")
    if saved.index.size == 0:
        if store._kind != "ivf" or labels.size:
            raise StoreError(f"{path} is inconsistent: the index is missing")
        index = None
    else:
        if store._kind == "flat":
            _faiss_file.check_flat_index(path, saved.index, store.dim, labels.size)
        try:
            index = faiss.deserialize_index(saved.index)
        except RuntimeError as exc:
            raise StoreError(f"{path}: Faiss cannot read the index ({exc})") from exc
        if (
            type(index).__name__ != _INDEX_CLASSES[store._kind]
            or index.metric_type != faiss.METRIC_INNER_PRODUCT
            or index.d != store.dim
            or index.ntotal != labels.size
        ):
            raise StoreError(f"{path} is inconsistent: the index does not match its header")
        if store._kind == "ivf":
            faiss.extract_index_ivf(index).make_direct_map()
    return _State(
        index=index,
        label_to_id=labels,
        id_to_label={int(labels[j]): int(j) for j in live},
        meta={int(i): m for i, m in zip(ids.tolist(), meta, strict=True)},
        dead=int(dead),
    )


def _all_metadata(meta: list[Any], fields: Fields) -> bool:
    """Whether every entry is a dict with exactly the declared field names (one C-level pass)."""
    keys = dict.fromkeys(spec.name for spec in fields).keys()
    try:
        return all(map(keys.__eq__, map(dict.keys, meta)))
    except TypeError:  # an entry that is not a dict
        return False
