"""The HTTP API through FastAPI's in-process client: answers, bounds and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionrec import FaissStore, FusionRecommender
from fusionrec.server import MAX_BATCH_USERS, MAX_BODY_BYTES, MAX_K, create_app

NEW_USER = {"age": 25, "gender": "F", "occupation": 4}


@pytest.fixture
def rec(load_rec: Callable[[], FusionRecommender]) -> FusionRecommender:
    return load_rec()


@pytest.fixture
def client(rec: FusionRecommender) -> Iterator[TestClient]:
    # raise_server_exceptions (the default): a 500 fails the test with its traceback
    with TestClient(create_app(rec)) as test_client:
        yield test_client


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [hit["movie_id"] for hit in response.json()["items"]]


def _detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


def test_health_ready_and_model_info(client: TestClient, model_files: Any) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "items": 40,
        "detail": None,
    }
    info = client.get("/api/model")
    body = info.json()
    assert body["store"] == {"backend": "faiss", "exact": True, "count": 40}
    assert body["users"]["count"] == 60 and body["users"]["examples"][:3] == [1, 2, 3]
    fields = {f["name"]: f for f in body["new_user_fields"]}
    assert [o["value"] for o in fields["age"]["options"]] == [1, 18, 25, 35, 45, 50, 56]
    assert fields["age"]["options"][0]["label"] == "under 18"
    assert {o["value"] for o in fields["gender"]["options"]} == {"F", "M"}
    assert len(fields["occupation"]["options"]) == 21
    assert "Comedy" in body["filters"]["genres"] and body["limits"]["max_k"] == MAX_K
    # no filesystem path leaks: neither the model directory nor any absolute path
    assert str(model_files.model_dir.parent) not in info.text
    assert "/tmp" not in info.text


def test_recommend_new_and_known_user(client: TestClient, rec: FusionRecommender) -> None:
    new = client.post("/api/recommend", json={**NEW_USER, "k": 5})
    assert len(_ids(new)) == 5
    hit = new.json()["items"][0]
    assert set(hit) >= {"movie_id", "title", "genres", "year", "score", "rating"}
    direct = rec.recommend(age=25, gender="F", occupation=4, k=5)
    expected = [{"rating": None, **r.to_dict()} for r in direct]  # rating: None if not predicted
    assert new.json()["items"] == expected

    user = 3
    seen = set(rec._require_seen().of(user).tolist())
    known = _ids(client.post("/api/recommend", json={"user_id": user, "k": 10}))
    assert len(known) == 10 and not seen & set(known)
    with_seen = _ids(
        client.post("/api/recommend", json={"user_id": user, "k": 40, "exclude_seen": False})
    )
    assert seen <= set(with_seen)


def test_recommend_filter(client: TestClient) -> None:
    body = {**NEW_USER, "k": 5, "filter": {"genres_any": ["Comedy"], "year_between": [1980, 2000]}}
    response = client.post("/api/recommend", json=body)
    items = response.json()["items"]
    assert items and all("Comedy" in h["genres"] and 1980 <= h["year"] <= 2000 for h in items)
    assert _ids(client.post("/api/recommend", json={**NEW_USER, "filter": {"ids": [3, 5]}})) in (
        [3, 5],
        [5, 3],
    )
    expr = {"genres_any": ["Comedy"], "expr": "year < 1990 or genres contains_any ['Drama']"}
    items = client.post("/api/recommend", json={**NEW_USER, "k": 5, "filter": expr}).json()
    assert items["items"] and all(
        "Comedy" in h["genres"] and (h["year"] < 1990 or "Drama" in h["genres"])
        for h in items["items"]
    )


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({**NEW_USER, "k": MAX_K + 1}, 422, "body.k"),
        ({**NEW_USER, "k": 0}, 422, "body.k"),
        ({**NEW_USER, "gender": "X"}, 400, "gender must be 'M' or 'F'"),
        ({**NEW_USER, "occupation": "astronaut"}, 400, "unknown occupation"),
        ({"age": 25, "gender": "F"}, 400, "a new user needs all of"),
        ({"user_id": 99999}, 400, "unknown user id 99999"),
        ({"user_id": 2**70}, 422, "body.user_id"),
        ({}, 400, "pass a user id"),
        ({**NEW_USER, "path": "/etc/passwd"}, 422, "body.path"),
        ({**NEW_USER, "filter": {"year_between": [2000, 1990]}}, 400, "lo > hi"),
        ({**NEW_USER, "filter": {"genres_any": []}}, 400, "genres_any is empty"),
        ({**NEW_USER, "filter": {"sql": "1"}}, 422, "body.filter.sql"),
        ({**NEW_USER, "filter": {"expr": "year >"}}, 400, "position 6"),
        ({**NEW_USER, "filter": {"expr": "price < 3"}}, 400, "unknown field 'price'"),
        ({**NEW_USER, "filter": {"expr": "year > 1 or " * 200 + "year > 1"}}, 422, "expr"),
    ],
)
def test_bad_recommend_requests_get_one_line_4xx(
    client: TestClient, body: dict[str, Any], status: int, fragment: str
) -> None:
    assert fragment in _detail(client.post("/api/recommend", json=body), status)


def test_malformed_and_oversized_bodies(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    _detail(client.post("/api/recommend", content=b"{not json", headers=headers), 422)
    _detail(client.post("/api/recommend", content=b"[1, 2]", headers=headers), 422)
    big = json.dumps({**NEW_USER, "filter": {"ids": list(range(400_000))}}).encode()
    assert len(big) > MAX_BODY_BYTES
    assert "larger than" in _detail(
        client.post("/api/recommend", content=big, headers=headers), 413
    )


def test_batch_recommend_keeps_order_and_matches_single_calls(client: TestClient) -> None:
    users: list[dict[str, Any]] = [
        {"user_id": 4},
        {"age": 40, "gender": "M", "occupation": "writer"},
        {"user_id": 9},
        NEW_USER,
    ]
    response = client.post("/api/recommend/batch", json={"users": users, "k": 4})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 4
    for user, hits in zip(users, results, strict=True):
        single = client.post("/api/recommend", json={**user, "k": 4}).json()["items"]
        # a batch is scored by a matrix product, one user by a matrix-vector product: the same
        # items in the same order, scores equal up to float32 rounding
        assert [h["movie_id"] for h in hits] == [h["movie_id"] for h in single]
        for batch_hit, single_hit in zip(hits, single, strict=True):
            assert batch_hit["score"] == pytest.approx(single_hit["score"], abs=1e-5)
            assert batch_hit["rating"] == pytest.approx(single_hit["rating"], abs=1e-4)


def test_batch_bounds_and_missing_users(client: TestClient) -> None:
    too_many = {"users": [{"user_id": 1}] * (MAX_BATCH_USERS + 1)}
    assert "body.users" in _detail(client.post("/api/recommend/batch", json=too_many), 422)
    _detail(client.post("/api/recommend/batch", json={"users": []}), 422)
    body = {"users": [{"user_id": 1}, {}]}
    assert "users[1]" in _detail(client.post("/api/recommend/batch", json=body), 400)


def test_item_lookup_and_similar(client: TestClient) -> None:
    item = client.get("/api/items/7")
    assert item.status_code == 200 and item.json()["movie_id"] == 7 and item.json()["indexed"]
    assert "12345" in _detail(client.get("/api/items/12345"), 404)
    assert "not an integer" in _detail(client.get("/api/items/abc"), 400)  # ids are ints here
    similar = _ids(client.get("/api/items/7/similar", params={"k": 5}))
    assert len(similar) == 5 and 7 not in similar
    comedy = client.get("/api/items/7/similar", params={"k": 3, "genre": ["Comedy", "Drama"]})
    assert all({"Comedy", "Drama"} & set(h["genres"]) for h in comedy.json()["items"])
    _detail(client.get("/api/items/7/similar", params={"k": MAX_K + 1}), 422)
    _detail(client.get("/api/items/12345/similar"), 404)


def test_add_items_then_find_and_recommend_them(client: TestClient) -> None:
    new = [
        {"movie_id": 9001, "title": "Space Comedy", "genres": ["Comedy", "Sci-Fi"], "year": 2001},
        {"movie_id": 9002, "title": "Quiet Drama", "genres": ["Drama"]},
    ]
    added = client.post("/api/items", json={"items": new})
    assert added.json() == {"received": 2, "added": 2}
    assert client.get("/api/items/9001").json()["title"] == "Space Comedy"
    assert client.get("/ready").json()["items"] == 42
    assert _ids(client.post("/api/recommend", json={**NEW_USER, "filter": {"ids": [9002]}})) == [
        9002
    ]
    assert len(_ids(client.get("/api/items/9001/similar", params={"k": 3}))) == 3
    dup = {"items": [new[0], new[0]]}
    assert "more than once" in _detail(client.post("/api/items", json=dup), 400)
    _detail(client.post("/api/items", json={"items": [{"movie_id": 1, "title": ""}]}), 422)
    _detail(client.post("/api/items", json={"items": []}), 422)


def test_add_interactions_grows_what_exclude_seen_leaves_out(client: TestClient) -> None:
    # user 4 saw 9 of the 40 movies (user 5 saw all of them: an empty list)
    assert _ids(client.post("/api/recommend", json={"user_id": 5, "k": 3})) == []
    before = _ids(client.post("/api/recommend", json={"user_id": 4, "k": 3}))
    pairs = [{"user_id": 4, "movie_id": m} for m in before]
    response = client.post("/api/interactions", json={"interactions": pairs})
    assert response.json() == {"received": 3, "added": 3}
    after = _ids(client.post("/api/recommend", json={"user_id": 4, "k": 3}))
    assert not set(before) & set(after)
    again = client.post("/api/interactions", json={"interactions": pairs})
    assert again.json()["added"] == 0
    unknown_user = {"interactions": [{"user_id": 99999, "movie_id": 1}]}
    assert "unknown user id" in _detail(client.post("/api/interactions", json=unknown_user), 400)
    unknown_movie = {"interactions": [{"user_id": 4, "movie_id": 99999}]}
    assert "unknown item id" in _detail(client.post("/api/interactions", json=unknown_movie), 400)


def test_openapi_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/recommend",
        "/api/recommend/batch",
        "/api/items",
        "/api/items/{item_id}",
        "/api/items/{item_id}/similar",
        "/api/interactions",
        "/api/model",
        "/health",
        "/ready",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "app.js" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_empty_store_is_not_ready_and_answers_503(
    load_rec: Callable[[], FusionRecommender],
) -> None:
    rec = load_rec()
    rec.store = FaissStore(dim=rec.bundle.dim)
    with TestClient(create_app(rec)) as client:
        assert client.get("/health").status_code == 200
        assert _detail(client.get("/ready"), 503)
        assert "empty" in _detail(client.post("/api/recommend", json=NEW_USER), 503)


def test_shutdown_closes_the_recommender(load_rec: Callable[[], FusionRecommender]) -> None:
    rec = load_rec()
    store = rec.store
    with TestClient(create_app(rec)) as client:
        assert client.get("/ready").status_code == 200
    assert store.closed
    kept = load_rec()
    with TestClient(create_app(kept, close_on_shutdown=False)):
        pass
    assert not kept.store.closed


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "user_id": _json | st.integers(),
        "age": _json | st.integers(-5, 130),
        "gender": _json | st.sampled_from(["M", "f", "male", "X"]),
        "occupation": _json | st.integers(-2, 25) | st.sampled_from(["writer", "Writer", "x"]),
        "k": _json | st.integers(-2, 120),
        "exclude_seen": _json,
        "filter": _json
        | st.fixed_dictionaries(
            {},
            optional={"genres_any": _json, "year_between": _json, "ids": _json, "expr": _json},
        ),
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_fields)
def test_no_request_body_causes_a_500(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/recommend", json=body)
    assert response.status_code in (200, 400, 404, 422), response.text
    if response.status_code != 200:
        _detail(response, response.status_code)


def test_a_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    chunks = iter([b"[" + b"1," * (2**19)] * 3)  # no Content-Length: chunked, ~3 MiB
    response = client.post(
        "/api/recommend", content=chunks, headers={"content-type": "application/json"}
    )
    assert "larger than" in _detail(response, 413)


def test_a_failing_store_is_a_503_that_names_no_file(
    load_rec: Callable[[], FusionRecommender], model_files: Any
) -> None:
    rec = load_rec()
    with TestClient(create_app(rec, close_on_shutdown=False)) as client:
        rec.store.close()  # the store stops answering under a running server
        assert "does not answer" in _detail(client.get("/ready"), 503)
        detail = _detail(client.post("/api/recommend", json=NEW_USER), 503)
        assert "StoreError" in detail and str(model_files.faiss_path.parent) not in detail
        assert client.get("/health").status_code == 200
