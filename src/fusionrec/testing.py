"""The VectorStore conformance suite: a backend is done when it passes it.

Subclass :class:`VectorStoreConformance` in a pytest module (the class name must start with
``Test``) and implement :meth:`~VectorStoreConformance.make_store`; pytest collects the
inherited ``test_`` methods::

    from fusionrec.testing import VectorStoreConformance

    class TestMyStore(VectorStoreConformance):
        def make_store(self, dim, tmp_path):
            return MyStore(dim=dim, path=tmp_path / "store")

Exact stores (``store.exact``) must return exactly numpy's brute-force top k; approximate
ones must reach ``min_recall`` and honour filters, exclusions and k all the same.
:class:`MetadataFieldsConformance` runs the same checks on a non-movie payload (a product
catalog: str, float, int, bool and list[str] fields) and every filter predicate; its
``make_store`` also takes the fields to keep.
Requires pytest (imported here); uses synthetic data only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from fusionrec.errors import DimensionMismatchError, FilterError, ValidationError
from fusionrec.stores.base import Filter, Hit, VectorStore
from fusionrec.stores.fields import MetadataField
from fusionrec.stores.filter_parser import parse_filter
from fusionrec.stores.filters import And, ContainsAny, Eq, Ids, Not, OneOf, Or, Predicate, Range
from fusionrec.stores.registry import open_store

GENRES = ("Action", "Comedy", "Drama", "Horror", "Sci-Fi", "Film-Noir")


def random_items(
    n: int, dim: int, seed: int = 0, first_id: int = 1
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[dict[str, Any]]]:
    """Synthetic items: ids from ``first_id``, L2-normalized vectors, varied metadata."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(first_id, first_id + n, dtype=np.int64) * 7
    meta: list[dict[str, Any]] = [
        {
            "title": f"Amélie «{i}» (19{50 + i % 50})",
            "genres": [GENRES[i % len(GENRES)]] + ([GENRES[(i // 3) % 6]] if i % 4 == 0 else []),
            "year": 1950 + i % 50,
        }
        for i in range(n)
    ]
    for m in meta:
        m["genres"] = list(dict.fromkeys(m["genres"]))
    return ids, vectors, meta


def random_queries(n: int, dim: int, seed: int = 1) -> npt.NDArray[np.float32]:
    """L2-normalized random query vectors."""
    q = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q


def brute_force(
    ids: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    k: int,
    allowed: Sequence[npt.NDArray[np.bool_]] | None = None,
) -> list[list[int]]:
    """Exact top-k ids by inner product per query; ``allowed`` masks items per query."""
    scores = queries @ vectors.T
    out = []
    for row in range(queries.shape[0]):
        s = scores[row].astype(np.float64)
        if allowed is not None:
            s = np.where(allowed[row], s, -np.inf)
        order = np.argsort(-s, kind="stable")
        order = order[np.isfinite(s[order])][:k]
        out.append([int(ids[j]) for j in order])
    return out


def hit_ids(results: list[list[Hit]]) -> list[list[int]]:
    """Ids of search results, per query."""
    return [[h.id for h in hits] for hits in results]


def recall(got: list[list[int]], want: list[list[int]]) -> float:
    """Mean fraction of the wanted ids found per query."""
    shares = [len(set(g) & set(w)) / len(w) for g, w in zip(got, want, strict=True) if w]
    return float(np.mean(shares)) if shares else 1.0


class _Reopening:
    """How both suites reopen a store they wrote (override for a backend without settings)."""

    def reopen_store(self, store: VectorStore, tmp_path: Path) -> VectorStore:
        """Close ``store`` and open it again; default: ``open_store(store.settings())``."""
        settings = store.settings()
        store.close()
        return open_store(settings)


class VectorStoreConformance(_Reopening):
    """Behaviour every VectorStore backend must show; subclass and implement make_store."""

    dim: ClassVar[int] = 16
    n_items: ClassVar[int] = 300
    k: ClassVar[int] = 10
    min_recall: ClassVar[float] = 0.9
    threads: ClassVar[int] = 8

    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        """Return a new, empty store of dimension ``dim`` that may live under ``tmp_path``."""
        raise NotImplementedError

    # -- fixtures and helpers ------------------------------------------------------------

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        made = self.make_store(self.dim, tmp_path)
        try:
            yield made
        finally:
            made.close()

    @pytest.fixture
    def items(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[dict[str, Any]]]:
        return random_items(self.n_items, self.dim)

    @pytest.fixture
    def filled(
        self,
        store: VectorStore,
        items: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[dict[str, Any]]],
    ) -> VectorStore:
        store.upsert(*items)
        return store

    def check_ranking(
        self,
        store: VectorStore,
        results: list[list[Hit]],
        want: list[list[int]],
        k: int,
    ) -> None:
        """Exact stores: ids equal brute force; approximate: enough recall; both: k hits."""
        got = hit_ids(results)
        for row_ids, expected in zip(got, want, strict=True):
            assert len(row_ids) == len(expected), (row_ids, expected)
            assert len(set(row_ids)) == len(row_ids)
        for hits in results:
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True)
        if store.exact:
            assert got == want
        else:
            assert recall(got, want) >= self.min_recall

    # -- the suite -----------------------------------------------------------------------

    def test_empty_store(self, store: VectorStore) -> None:
        assert store.count() == 0
        assert store.dim == self.dim
        assert store.search(random_queries(1, self.dim)[0], self.k) == [[]]
        assert store.search(random_queries(3, self.dim), self.k) == [[], [], []]
        assert store.get([1, 2]) == []

    def test_top_k_matches_brute_force(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, _ = items
        queries = random_queries(25, self.dim)
        results = filled.search(queries, self.k)
        self.check_ranking(filled, results, brute_force(ids, vectors, queries, self.k), self.k)
        for hits in results:
            for hit in hits:
                assert isinstance(hit.id, int) and isinstance(hit.score, float)
        scores = queries @ vectors.T
        first = results[0][0]
        j = int(np.flatnonzero(ids == first.id)[0])
        assert first.score == pytest.approx(float(scores[0, j]), abs=1e-4)

    def test_single_query_returns_one_list(self, filled: VectorStore) -> None:
        queries = random_queries(4, self.dim)
        one = filled.search(queries[2], self.k)
        assert len(one) == 1
        assert hit_ids(one)[0] == hit_ids(filled.search(queries, self.k))[2]

    def test_metadata_round_trip(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, meta = items
        got = filled.get([int(ids[4]), 999_999_999, int(ids[0])])
        assert [g.id for g in got] == [int(ids[4]), int(ids[0])]
        assert got[0].metadata == meta[4]
        np.testing.assert_allclose(got[0].vector, vectors[4], atol=1e-6)
        hit = filled.search(vectors[4], 1)[0][0]
        assert hit.id == int(ids[4]) and hit.metadata == meta[4]

    def test_upsert_replaces_existing_id(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, _ = items
        target = int(ids[10])
        new_vec = random_queries(1, self.dim, seed=99)
        new_meta = {"title": "Replaced", "genres": ["Drama"], "year": 2001}
        filled.upsert([target], new_vec, [new_meta])
        assert filled.count() == self.n_items
        (item,) = filled.get([target])
        assert item.metadata == new_meta
        np.testing.assert_allclose(item.vector, new_vec[0], atol=1e-6)
        top = filled.search(new_vec, 1)[0][0]
        assert top.id == target and top.score == pytest.approx(1.0, abs=1e-4)
        old_hits = hit_ids(filled.search(vectors[10], self.n_items))[0]
        assert old_hits.count(target) == 1

    def test_delete_removes(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, _ = items
        gone = [int(i) for i in ids[:20]]
        filled.delete([*gone, 123_456_789])
        assert filled.count() == self.n_items - 20
        assert filled.get(gone) == []
        for hits in hit_ids(filled.search(vectors[:20], self.k)):
            assert not set(hits) & set(gone)
            assert len(hits) == self.k
        filled.delete([])
        assert filled.count() == self.n_items - 20

    def test_filters_honoured_with_k_hits(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, meta = items
        queries = random_queries(12, self.dim)
        some_ids = [int(i) for i in ids[::5]]
        filters = [
            Filter(genres_any=["Horror", "Film-Noir"]),
            Filter(year_between=(1960, 1969)),
            Filter(ids=some_ids),
            Filter(genres_any=["Comedy"], year_between=(1970, 1999), ids=some_ids),
        ]
        for flt in filters:
            mask = np.array([flt.matches(int(i), m) for i, m in zip(ids, meta, strict=True)])
            assert mask.any()
            results = filled.search(queries, self.k, filter=flt)
            want = brute_force(ids, vectors, queries, self.k, [mask] * len(queries))
            self.check_ranking(filled, results, want, self.k)
            for hits in results:
                assert all(flt.matches(h.id, h.metadata) for h in hits)
        none = filled.search(queries, self.k, filter=Filter(genres_any=["Western"]))
        assert none == [[] for _ in queries]
        assert filled.search(queries[0], self.k, filter=Filter(ids=[])) == [[]]

    def test_exclusions_keep_k_hits(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, _ = items
        queries = random_queries(6, self.dim)
        full = brute_force(ids, vectors, queries, 25)
        per_query = [row[:15] for row in full]
        results = filled.search(queries, self.k, exclude_ids=per_query)
        masks = [~np.isin(ids, row) for row in per_query]
        self.check_ranking(
            filled, results, brute_force(ids, vectors, queries, self.k, masks), self.k
        )
        shared = full[0][:15]
        results = filled.search(queries, self.k, exclude_ids=shared)
        masks = [~np.isin(ids, shared)] * len(queries)
        self.check_ranking(
            filled, results, brute_force(ids, vectors, queries, self.k, masks), self.k
        )
        single = filled.search(queries[0], self.k, exclude_ids=[shared])
        assert hit_ids(single)[0] == hit_ids(results)[0] or not filled.exact

    def test_filter_and_exclusion_combined(self, filled: VectorStore, items: Any) -> None:
        ids, vectors, meta = items
        flt = Filter(genres_any=["Drama"])
        mask = np.array([flt.matches(int(i), m) for i, m in zip(ids, meta, strict=True)])
        queries = random_queries(5, self.dim)
        first = brute_force(ids, vectors, queries, 8, [mask] * 5)
        results = filled.search(queries, self.k, filter=flt, exclude_ids=first)
        masks = [mask & ~np.isin(ids, row) for row in first]
        want = brute_force(ids, vectors, queries, self.k, masks)
        self.check_ranking(filled, results, want, self.k)

    def test_k_larger_than_count(self, store: VectorStore, items: Any) -> None:
        ids, vectors, meta = items
        store.upsert(ids[:30], vectors[:30], meta[:30])
        queries = random_queries(2, self.dim)
        results = store.search(queries, 100)
        want = brute_force(ids[:30], vectors[:30], queries, 100)
        assert [len(r) for r in results] == [30, 30]
        assert sorted(hit_ids(results)[0]) == sorted(want[0])
        excluded = store.search(queries, 100, exclude_ids=[int(i) for i in ids[:5]])
        assert [len(r) for r in excluded] == [25, 25]

    def test_dimension_mismatch(self, filled: VectorStore) -> None:
        wrong = random_queries(2, self.dim + 3)
        with pytest.raises(DimensionMismatchError):
            filled.search(wrong, self.k)
        with pytest.raises(DimensionMismatchError):
            filled.upsert([1, 2], wrong, [{}, {}])
        assert filled.count() == self.n_items

    def test_invalid_arguments(self, filled: VectorStore) -> None:
        good = random_queries(2, self.dim)
        with pytest.raises(ValidationError):
            filled.upsert([1, 2, 3], good, None)
        with pytest.raises(ValidationError):
            filled.upsert([1, 2], good, [{"title": "x"}])
        bad = good.copy()
        bad[1, 0] = np.nan
        with pytest.raises(ValidationError):
            filled.upsert([1, 2], bad)
        with pytest.raises(ValidationError):
            filled.search(bad, self.k)
        with pytest.raises(ValidationError):
            filled.search(good, 0)
        with pytest.raises(ValidationError):
            filled.search(good, self.k, exclude_ids=[[1], [2], [3]])
        with pytest.raises(FilterError):
            filled.search(good, self.k, filter={"genres_any": ["Drama"]})  # type: ignore[arg-type]
        assert filled.count() == self.n_items

    def test_ids_outside_int64_are_refused(self, filled: VectorStore) -> None:
        """Ids are exact: 2**63 must not wrap to -2**63, in any call that takes ids."""
        vector = random_queries(1, self.dim)
        for ids in (
            [2**63],
            np.array([2**63], dtype=np.uint64),
            [2**70],
            [-1, 2**63],
            [-(2**63) - 1],
        ):
            with pytest.raises(ValidationError, match="int64"):
                filled.upsert(ids, np.repeat(vector, len(ids), axis=0))
            with pytest.raises(ValidationError, match="int64"):
                filled.get(ids)
            with pytest.raises(ValidationError, match="int64"):
                filled.delete(ids)
        with pytest.raises(ValidationError, match="int64"):
            filled.search(vector, self.k, exclude_ids=[2**63])
        with pytest.raises(FilterError, match="int64"):
            Filter(ids=[2**64])
        edges = [2**63 - 2, -(2**63)]
        filled.upsert(edges, np.repeat(vector, 2, axis=0))
        assert sorted(item.id for item in filled.get(edges)) == sorted(edges)
        assert filled.count() == self.n_items + 2
        # the largest id round-trips, or is refused up front (never stored and then missed)
        try:
            filled.upsert([2**63 - 1], vector)
        except ValidationError as exc:
            assert str(2**63 - 1) in str(exc)
        else:
            assert [item.id for item in filled.get([2**63 - 1])] == [2**63 - 1]

    def test_settings_are_json(self, store: VectorStore) -> None:
        settings = store.settings()
        assert json.loads(json.dumps(settings)) == settings
        assert isinstance(settings["backend"], str)

    def test_persistence_after_reopen(self, store: VectorStore, items: Any, tmp_path: Path) -> None:
        ids, vectors, meta = items
        store.upsert(ids, vectors, meta)
        store.delete([int(ids[0])])
        queries = random_queries(10, self.dim)
        flt = Filter(genres_any=["Comedy", "Drama"])
        before = store.search(queries, self.k, filter=flt)
        plain = store.search(queries, self.k)
        reopened = self.reopen_store(store, tmp_path)
        try:
            assert store.closed
            assert reopened.count() == self.n_items - 1
            assert reopened.dim == self.dim
            assert hit_ids(reopened.search(queries, self.k, filter=flt)) == hit_ids(before)
            after = reopened.search(queries, self.k)
            assert hit_ids(after) == hit_ids(plain)
            np.testing.assert_allclose(
                [h.score for h in after[0]], [h.score for h in plain[0]], atol=1e-5
            )
            (item,) = reopened.get([int(ids[3])])
            assert item.metadata == meta[3]
            np.testing.assert_allclose(item.vector, vectors[3], atol=1e-6)
        finally:
            reopened.close()

    def test_concurrent_searches_equal_serial(self, filled: VectorStore) -> None:
        queries = random_queries(48, self.dim)
        flt = Filter(year_between=(1950, 1980))
        serial = [hit_ids(filled.search(q, self.k, filter=flt))[0] for q in queries]
        batch = hit_ids(filled.search(queries, self.k, filter=flt))
        assert batch == serial
        got: dict[int, list[int]] = {}
        errors: list[BaseException] = []

        def work(offset: int) -> None:
            try:
                for i in range(offset, len(queries), self.threads):
                    got[i] = hit_ids(filled.search(queries[i], self.k, filter=flt))[0]
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not errors, errors
        assert [got[i] for i in range(len(queries))] == serial

    def test_replace_all_keeps_answering(self, filled: VectorStore, items: Any) -> None:
        old_ids = {int(i) for i in items[0]}
        new_ids, new_vectors, new_meta = random_items(120, self.dim, seed=5, first_id=100_000)
        new_set = {int(i) for i in new_ids}
        queries = random_queries(4, self.dim)
        stop = threading.Event()
        seen: list[list[int]] = []
        errors: list[BaseException] = []

        def searcher() -> None:
            try:
                while not stop.is_set():
                    seen.extend(hit_ids(filled.search(queries, self.k)))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=searcher) for _ in range(3)]
        for worker in workers:
            worker.start()
        try:
            filled.replace_all(new_ids, new_vectors, new_meta)
            seen_at_switch = len(seen)
            results = filled.search(queries, self.k)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert not errors, errors
        assert seen_at_switch > 0
        for row in seen:
            assert len(row) == self.k
            assert set(row) <= old_ids or set(row) <= new_set, row
        assert filled.count() == 120
        self.check_ranking(
            filled, results, brute_force(new_ids, new_vectors, queries, self.k), self.k
        )
        assert filled.get([min(old_ids)]) == []


#: A non-movie payload: a product catalog's metadata, one field of every type.
PRODUCT_FIELDS: tuple[MetadataField, ...] = (
    MetadataField("sku_name", "str", max_length=128),
    MetadataField("brand", "str", max_length=32),
    MetadataField("category", "list[str]", max_length=32, max_items=8),
    MetadataField("price", "float"),
    MetadataField("stock", "int"),
    MetadataField("in_stock", "bool"),
)
CATEGORIES = ("tools", "garden", 'kid\'s "toys"', "cuisine-été", "back\\slash", "sale")
BRANDS = ("acme", "globex", "initech", "O'Neil")


def random_products(
    n: int, dim: int, seed: int = 0, first_id: int = 1
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[dict[str, Any]]]:
    """Synthetic products (see :data:`PRODUCT_FIELDS`); some have no category at all."""
    ids, vectors, _ = random_items(n, dim, seed, first_id)
    meta: list[dict[str, Any]] = []
    for i in range(n):
        cats = [CATEGORIES[i % 6], CATEGORIES[(i // 6) % 6]] if i % 5 else []
        meta.append(
            {
                "sku_name": f'SKU-{i} "{BRANDS[i % 4]}"',
                "brand": BRANDS[i % 4],
                "category": list(dict.fromkeys(cats)),
                "price": round(0.5 + (i * 37 % 400) / 10, 2),
                "stock": i % 13 - 2,
                "in_stock": i % 3 != 0,
            }
        )
    return ids, vectors, meta


class MetadataFieldsConformance(_Reopening):
    """Declared metadata fields and every filter predicate, on a product payload.

    Subclass and implement :meth:`make_store`, which creates a store keeping ``fields``.
    """

    dim: ClassVar[int] = 16
    n_items: ClassVar[int] = 300
    k: ClassVar[int] = 10
    min_recall: ClassVar[float] = 0.9

    def make_store(self, dim: int, tmp_path: Path, fields: Sequence[MetadataField]) -> VectorStore:
        """Return a new, empty store of dimension ``dim`` keeping ``fields``."""
        raise NotImplementedError

    @pytest.fixture
    def products(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[dict[str, Any]]]:
        return random_products(self.n_items, self.dim)

    @pytest.fixture
    def catalog(self, tmp_path: Path, products: Any) -> Iterator[VectorStore]:
        made = self.make_store(self.dim, tmp_path, PRODUCT_FIELDS)
        try:
            made.upsert(*products)
            yield made
        finally:
            made.close()

    def check_filtered(self, store: VectorStore, products: Any, flt: Predicate) -> int:
        """Search with ``flt``; hits must be brute force over the matching items (k of them
        while enough match) and satisfy ``matches``. Returns how many items match."""
        ids, vectors, meta = products
        mask = np.array([flt.matches(int(i), m) for i, m in zip(ids, meta, strict=True)])
        queries = random_queries(8, self.dim)
        results = store.search(queries, self.k, filter=flt)
        want = brute_force(ids, vectors, queries, self.k, [mask] * len(queries))
        got = hit_ids(results)
        for row, expected in zip(got, want, strict=True):
            assert len(row) == len(expected) == min(self.k, int(mask.sum())), (flt, row)
        if store.exact:
            assert got == want, flt
        else:
            assert recall(got, want) >= self.min_recall, flt
        for hits in results:
            assert all(flt.matches(h.id, h.metadata) for h in hits), flt
        return int(mask.sum())

    def test_fields_are_kept(self, catalog: VectorStore, products: Any) -> None:
        ids, vectors, meta = products
        assert catalog.fields == PRODUCT_FIELDS
        got = catalog.get([int(ids[7]), int(ids[5])])
        assert [g.metadata for g in got] == [meta[7], meta[5]]
        assert isinstance(got[0].metadata["price"], float)
        assert type(got[0].metadata["in_stock"]) is bool
        hit = catalog.search(vectors[7], 1)[0][0]
        assert hit.id == int(ids[7]) and hit.metadata == meta[7]
        catalog.upsert([1], vectors[:1], [{"sku_name": "bare"}])
        (bare,) = catalog.get([1])
        assert bare.metadata == {
            "sku_name": "bare",
            "brand": "",
            "category": [],
            "price": 0.0,
            "stock": 0,
            "in_stock": False,
        }
        assert json.loads(json.dumps(catalog.settings())) == catalog.settings()

    def test_metadata_is_validated_against_fields(self, catalog: VectorStore) -> None:
        vector = random_queries(1, self.dim)
        for bad in (
            {"title": "a movie"},
            {"price": "cheap"},
            {"price": float("nan")},
            {"stock": 2.5},
            {"in_stock": 1},
            {"category": "tools"},
            {"category": ["x"] * 9},
            {"brand": "b" * 33},
        ):
            with pytest.raises(ValidationError, match="metadata\\[0\\]"):
                catalog.upsert([1], vector, [bad])
        assert catalog.count() == self.n_items

    def test_every_predicate_returns_k_hits(self, catalog: VectorStore, products: Any) -> None:
        filters: list[Predicate] = [
            Range("price", hi=20, include_hi=False),
            ContainsAny("category", ["tools"]),
            ContainsAny("category", ['kid\'s "toys"', "cuisine-été", "back\\slash"]),
            Range("price", hi=20, include_hi=False) & ContainsAny("category", ["garden"]),
            Eq("in_stock", True),
            Eq("in_stock", False),
            Eq("brand", "O'Neil"),
            Eq("sku_name", 'SKU-12 "acme"'),
            Eq("price", 3.2),
            Eq("stock", 4),
            OneOf("brand", ["acme", "initech"]),
            OneOf("stock", [-2, 0, 7]),
            Range("stock", lo=3, hi=8),
            Range("stock", lo=-1.5, hi=2.5),
            Range("price", lo=10.5),
            Range("price", lo=10.5, hi=30, include_lo=False),
            ~ContainsAny("category", ["tools", "garden"]),
            ~Eq("in_stock", True) | Range("price", lo=35),
            Or(Ids([int(i) for i in products[0][:4]]), Eq("brand", "globex")),
            And(Not(OneOf("brand", ["acme"])), Range("stock", hi=5), Eq("in_stock", True)),
            Or(*(Eq("sku_name", f'SKU-{i} "{BRANDS[i % 4]}"') for i in range(0, 120, 2))),
        ]
        for flt in filters:
            matched = self.check_filtered(catalog, products, flt)
            assert 0 < matched < self.n_items, flt
        assert catalog.search(random_queries(2, self.dim), self.k, filter=Eq("brand", "x")) == [
            [],
            [],
        ]

    def test_string_form_filters(self, catalog: VectorStore, products: Any) -> None:
        for text in (
            "price < 20 and category contains_any ['tools', 'garden']",
            "not in_stock = true or (stock >= 5 and brand in ['acme', \"O'Neil\"])",
            "brand != 'acme' and not category contains_any ['sale']",
            "sku_name = 'SKU-12 \"acme\"' or price <= 2",
        ):
            flt = parse_filter(text)
            assert self.check_filtered(catalog, products, flt) > 0, text
            again = parse_filter(str(flt))
            assert hit_ids(catalog.search(random_queries(3, self.dim), self.k, filter=flt)) == (
                hit_ids(catalog.search(random_queries(3, self.dim), self.k, filter=again))
            )

    def test_filters_that_do_not_fit_the_fields(self, catalog: VectorStore) -> None:
        query = random_queries(1, self.dim)
        for flt, message in (
            (Eq("colour", "red"), "unknown field"),
            (Filter(genres_any=["Drama"]), "unknown field"),
            (Eq("price", "cheap"), "price"),
            (Eq("in_stock", 1), "in_stock"),
            (Eq("stock", 2.5), "stock"),
            (OneOf("brand", [1, 2]), "brand"),
            (Eq("category", "tools"), "contains_any"),
            (ContainsAny("brand", ["acme"]), "list"),
            (Range("in_stock", lo=0), "int or float"),
            (Range("sku_name", hi=3), "int or float"),
            (Eq("price", 1.0) & Eq("nope", 1), "unknown field"),
        ):
            with pytest.raises(FilterError, match=message):
                catalog.search(query, self.k, filter=flt)

    def test_fields_survive_reopen(
        self, catalog: VectorStore, products: Any, tmp_path: Path
    ) -> None:
        ids, _, meta = products
        flt = parse_filter("price < 20 and category contains_any ['tools']")
        queries = random_queries(4, self.dim)
        before = hit_ids(catalog.search(queries, self.k, filter=flt))
        reopened = self.reopen_store(catalog, tmp_path)
        try:
            assert reopened.fields == PRODUCT_FIELDS
            assert hit_ids(reopened.search(queries, self.k, filter=flt)) == before
            (item,) = reopened.get([int(ids[9])])
            assert item.metadata == meta[9]
        finally:
            reopened.close()
