"""Both built-in backends pass the shared conformance suite (real Milvus Lite, no mocks)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from fusionrec.stores import FaissStore, MetadataField, MilvusStore, VectorStore
from fusionrec.testing import MetadataFieldsConformance, VectorStoreConformance

_names = itertools.count()


class TestFaissFlat(VectorStoreConformance):
    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return FaissStore(dim=dim, path=tmp_path / "store.faiss")

    def test_is_exact(self, store: VectorStore) -> None:
        assert store.exact


class TestFaissSaveLoad(VectorStoreConformance):
    """Reopen through explicit save()/load() instead of a path-bound store."""

    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return FaissStore(dim=dim)

    def reopen_store(self, store: VectorStore, tmp_path: Path) -> VectorStore:
        assert isinstance(store, FaissStore)
        store.save(tmp_path / "saved.faiss")
        store.close()
        return FaissStore.load(tmp_path / "saved.faiss", dim=self.dim)


class TestFaissHnsw(VectorStoreConformance):
    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return FaissStore(dim=dim, index="hnsw", path=tmp_path / "hnsw.faiss", M=8)

    def test_is_not_exact(self, store: VectorStore) -> None:
        assert not store.exact


class TestFaissIvf(VectorStoreConformance):
    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return FaissStore(dim=dim, index="ivf", path=tmp_path / "ivf.faiss", nlist=8, nprobe=8)


class TestMilvusLite(VectorStoreConformance):
    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return MilvusStore(uri=str(tmp_path / "lite.db"), collection="movies", dim=dim)

    def test_is_exact(self, store: VectorStore) -> None:
        assert store.exact


@pytest.mark.milvus_server
class TestMilvusServer(VectorStoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, milvus_server_uri: str) -> None:
        self.uri = milvus_server_uri

    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return MilvusStore(uri=self.uri, collection=f"conf_{next(_names)}", dim=dim)


@pytest.mark.milvus_server
class TestMilvusServerHnsw(VectorStoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, milvus_server_uri: str) -> None:
        self.uri = milvus_server_uri

    def make_store(self, dim: int, tmp_path: Path) -> VectorStore:
        return MilvusStore(uri=self.uri, collection=f"hnsw_{next(_names)}", dim=dim, index="HNSW")


class TestFaissFlatProducts(MetadataFieldsConformance):
    def make_store(self, dim: int, tmp_path: Path, fields: Sequence[MetadataField]) -> VectorStore:
        return FaissStore(dim=dim, path=tmp_path / "products.faiss", fields=fields)


class TestFaissSaveLoadProducts(MetadataFieldsConformance):
    def make_store(self, dim: int, tmp_path: Path, fields: Sequence[MetadataField]) -> VectorStore:
        return FaissStore(dim=dim, fields=fields)

    def reopen_store(self, store: VectorStore, tmp_path: Path) -> VectorStore:
        assert isinstance(store, FaissStore)
        store.save(tmp_path / "saved.faiss")
        store.close()
        return FaissStore.load(tmp_path / "saved.faiss", dim=self.dim)


class TestFaissHnswProducts(MetadataFieldsConformance):
    def make_store(self, dim: int, tmp_path: Path, fields: Sequence[MetadataField]) -> VectorStore:
        return FaissStore(dim=dim, index="hnsw", path=tmp_path / "p.faiss", fields=fields, M=8)


class TestMilvusLiteProducts(MetadataFieldsConformance):
    def make_store(self, dim: int, tmp_path: Path, fields: Sequence[MetadataField]) -> VectorStore:
        return MilvusStore(
            uri=str(tmp_path / "lite.db"), collection="products", dim=dim, fields=fields
        )


@pytest.mark.milvus_server
class TestMilvusServerProducts(MetadataFieldsConformance):
    @pytest.fixture(autouse=True)
    def _server(self, milvus_server_uri: str) -> None:
        self.uri = milvus_server_uri

    def make_store(self, dim: int, tmp_path: Path, fields: Sequence[MetadataField]) -> VectorStore:
        return MilvusStore(uri=self.uri, collection=f"prod_{next(_names)}", dim=dim, fields=fields)
