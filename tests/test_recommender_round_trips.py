"""Store round trips per recommend() / recommend_batch(): one search, nothing else.

A counting wrapper store counts every call that reaches a backend; on Milvus Lite the
client's own calls are counted too, so a second gRPC round trip cannot creep back in.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusionrec import FaissStore, Filter, FusionRecommender, MilvusStore, ModelConfig
from fusionrec.data import MovieLens
from fusionrec.errors import NotFittedError
from fusionrec.stores import Hit, StoredItem, VectorStore
from fusionrec.stores.base import FloatMatrix, IdArray


class CountingStore(VectorStore):
    """Delegates to ``inner`` and counts each backend operation by name."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.backend = inner.backend

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def exact(self) -> bool:
        return self.inner.exact

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def settings(self) -> dict[str, Any]:
        return self.inner.settings()

    def close(self) -> None:
        self.inner.close()

    def _check_searchable(self) -> None:
        self.calls["check_searchable"] += 1

    def _upsert(self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]) -> None:
        self.calls["upsert"] += 1
        self.inner.upsert(ids, vectors, metadata)

    def _delete(self, ids: IdArray) -> None:
        self.calls["delete"] += 1
        self.inner.delete(ids)

    def _count(self) -> int:
        self.calls["count"] += 1
        return self.inner.count()

    def _get(self, ids: IdArray) -> list[StoredItem]:
        self.calls["get"] += 1
        return self.inner.get(ids)

    def _search(
        self, queries: FloatMatrix, k: int, filter: Filter | None, excludes: list[frozenset[int]]
    ) -> list[list[Hit]]:
        self.calls["search"] += 1
        return self.inner.search(queries, k, filter, [sorted(e) for e in excludes])

    def _replace_all(
        self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]
    ) -> None:
        self.calls["replace_all"] += 1
        self.inner.replace_all(ids, vectors, metadata)


@pytest.fixture(scope="module")
def trained(tiny_data: MovieLens) -> FusionRecommender:
    rec = FusionRecommender(ModelConfig.preset("default", epochs=1, seed=0), progress=False)
    return rec.fit(tiny_data)


def _calls(rec: FusionRecommender, data: MovieLens) -> dict[str, Counter[str]]:
    """The store calls made by each kind of recommend() / recommend_batch() call."""
    store = rec.store
    assert isinstance(store, CountingStore)
    users = [int(u) for u in np.unique(data.ratings.user_id)[:4]]
    calls = {
        "new user": lambda: rec.recommend(age=25, gender="F", occupation=4, k=5),
        "known user": lambda: rec.recommend(users[0], k=5),
        "known user, genre filter": lambda: rec.recommend(
            users[0], k=3, filter=Filter(genres_any=["Drama", "Comedy"])
        ),
        "batch of known users": lambda: rec.recommend_batch(users, k=5),
        "batch of new users": lambda: rec.recommend_batch(
            ages=[18, 35, 56], genders=["M", "F", "M"], occupations=[1, 2, 3], k=5
        ),
    }
    out = {}
    for name, call in calls.items():
        store.calls.clear()
        assert all(call() if name.startswith("batch") else [call()])  # non-empty results
        out[name] = Counter(store.calls)
    return out


def test_each_recommend_is_one_store_search(
    trained: FusionRecommender, tiny_data: MovieLens
) -> None:
    trained.store = CountingStore(FaissStore(dim=trained.bundle.dim))
    trained.index_movies()
    for name, calls in _calls(trained, tiny_data).items():
        assert calls == Counter(search=1), name


def test_an_empty_store_is_still_reported(trained: FusionRecommender) -> None:
    store = CountingStore(FaissStore(dim=trained.bundle.dim))
    trained.store = store
    with pytest.raises(NotFittedError, match="index_movies"):
        trained.recommend(age=25, gender="F", occupation=4)
    assert store.calls == Counter(search=1, count=1)  # the count only after an empty search


def test_a_filter_matching_nothing_gives_empty_lists(trained: FusionRecommender) -> None:
    trained.store = CountingStore(FaissStore(dim=trained.bundle.dim))
    trained.index_movies()
    assert trained.recommend(age=25, gender="F", occupation=4, filter=Filter(ids=[-5])) == []


class _CountingClient:
    """A MilvusClient proxy that counts the client methods called (each one a round trip)."""

    def __init__(self, client: Any, calls: Counter[str]) -> None:
        self._client = client
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def test_milvus_lite_recommend_is_one_client_call(
    trained: FusionRecommender, tiny_data: MovieLens, tmp_path: Path
) -> None:
    milvus = MilvusStore(
        uri=str(tmp_path / "calls.db"), collection="movies", dim=trained.bundle.dim
    )
    trained.store = CountingStore(milvus)
    try:
        trained.index_movies()
        client_calls: Counter[str] = Counter()
        milvus._client = _CountingClient(milvus._client, client_calls)
        for name, calls in _calls(trained, tiny_data).items():
            assert calls == Counter(search=1), name
        assert client_calls == Counter(search=5)  # one client search per call above
    finally:
        trained.close()
