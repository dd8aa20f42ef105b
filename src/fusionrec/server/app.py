"""The HTTP API and the web page over one loaded FusionRecommender (``create_app``).

Most endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool: searches
run concurrently (the stores lock themselves), while the two writers (add items, add
interactions) are serialized by one lock; readers never wait for it, because the facade swaps
its catalog and seen index in whole. The single-user reads (recommend, similar, item) run on
the event loop itself when the store is a small in-process Faiss index: its search takes a
fraction of a millisecond, less than the thread-pool hop costs (see ``Service.read``).
The app knows no file paths: the model and store were chosen by whoever built the
recommender (``fusionrec serve --model-dir``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from fusionrec import __version__
from fusionrec.data.dataset import Table, entity_ids
from fusionrec.data.tables import AGE_BUCKETS, Movies
from fusionrec.errors import FusionrecError, ValidationError
from fusionrec.ids import INT64_MAX, INT64_MIN, plain
from fusionrec.recommender import FusionRecommender, Recommendation
from fusionrec.server import errors
from fusionrec.server.body_limit import BodyLimit
from fusionrec.server.errors import NotFoundError
from fusionrec.server.schemas import (
    MAX_ADD_INTERACTIONS,
    MAX_ADD_ITEMS,
    MAX_BATCH_USERS,
    MAX_BODY_BYTES,
    MAX_FILTER_EXPR,
    MAX_FILTER_IDS,
    MAX_K,
    AddedOut,
    AddInteractionsIn,
    AddItemsIn,
    BatchHitsOut,
    BatchRecommendIn,
    FilterIn,
    HitsOut,
    ItemIn,
    ItemOut,
    ModelOut,
    RecommendIn,
    StatusOut,
    UserIn,
)
from fusionrec.stores import Filter, Predicate, parse_filter

log = logging.getLogger("fusionrec.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
_EXAMPLE_USERS = 20
#: Up to this many items, single-user reads on a Faiss store run on the event loop: there a
#: search takes about as long as the hop to the thread pool and back (0.1-0.4 ms measured on
#: the benchmark machine). Above it, or on any other backend (Milvus: a round trip to another
#: process), they run in the thread pool, where their waits overlap.
INLINE_MAX_ITEMS = 50_000
ItemIdPath = Annotated[
    str, PathParam(min_length=1, max_length=256, description="the item id (int or str)")
]

T = TypeVar("T")


class Service:
    """The recommender plus what the endpoints share: the writers' lock and cached lookups."""

    def __init__(self, rec: FusionRecommender) -> None:
        self.rec = rec
        self.write_lock = threading.Lock()
        self.started = False
        self.inline = False
        self._catalog: tuple[Table, dict[Any, int], list[str], list[int]] | None = None

    def start(self) -> None:
        """Open the store and run one search of each kind, so the first request is not slow."""
        count = self.rec.store.count()
        if count:
            try:
                users = self.rec.user_ids
                if len(users):
                    self.rec.recommend(_plain(users[0]), k=10)
                if self.rec.occupations:
                    age, occupation = AGE_BUCKETS[0], 0
                    self.rec.recommend(age=age, gender="F", occupation=occupation, k=10)
            except FusionrecError as exc:
                log.warning("warm-up request failed: %s", exc)
        self.update_inline()
        self.started = True

    def update_inline(self) -> None:
        """Decide where single-user reads run (after start and after items are added)."""
        store = self.rec.store
        self.inline = store.backend == "faiss" and store.count() <= INLINE_MAX_ITEMS

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the event loop if reads are inline, else in a thread."""
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    def catalog(self) -> tuple[Table, dict[Any, int], list[str], list[int]]:
        """The catalog, its id -> row index, its genres and its [min, max] known year
        (no genres or years for items without those columns)."""
        items = self.rec.items
        cached = self._catalog
        if cached is None or cached[0] is not items:
            rows = {m: i for i, m in enumerate(items.ids.tolist())}
            genres = sorted({g for gs in items.columns.get("genres", ()) for g in gs or ()})
            year = items.columns.get("year")
            span: list[int] = []
            if year is not None and year.dtype.kind in "iu" and np.any(year > 0):
                span = [int(year[year > 0].min()), int(year[year > 0].max())]
            cached = self._catalog = (items, rows, genres, span)
        return cached

    def item_id(self, raw: str) -> int | str:
        """A path's item id as the catalog's kind: an int for int ids (else a 400)."""
        if not self.rec.items.string_ids:
            try:
                value = int(raw)
            except ValueError:
                raise ValidationError(f"item id {raw!r} is not an integer") from None
            if not INT64_MIN <= value <= INT64_MAX:
                raise ValidationError(f"item id {raw} is outside the 64-bit range")
            return value
        return raw


def create_app(rec: FusionRecommender, *, close_on_shutdown: bool = True) -> FastAPI:
    """The FastAPI app serving ``rec``: JSON API under ``/api``, the page at ``/``, docs at /docs.

    On startup the store is opened and warmed up; on shutdown ``rec`` is closed unless
    ``close_on_shutdown`` is False (when the caller owns it).
    """
    service = Service(rec)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        try:
            yield
        finally:
            if close_on_shutdown:
                await run_in_threadpool(rec.close)

    app = FastAPI(
        title="fusionrec",
        version=__version__,
        summary="Recommendations from a two-tower fusion model and a vector store.",
        lifespan=lifespan,
    )
    app.state.service = service
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    _add_monitoring(app, service)
    _add_recommend(app, service)
    _add_items(app, service)
    _add_page(app)
    return app


def _add_monitoring(app: FastAPI, service: Service) -> None:
    rec = service.rec

    @app.get("/health", response_model=StatusOut, tags=["monitoring"])
    def health() -> dict[str, Any]:
        """Liveness: the process answers (touches neither model nor store)."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        response_model=StatusOut,
        tags=["monitoring"],
        responses={503: {"model": StatusOut, "description": "not ready"}},
    )
    def ready() -> Any:
        """Readiness: warmed up, and the store answers and holds items."""
        if not service.started:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            count = rec.store.count()
        except FusionrecError as exc:
            log.error("readiness check: %s: %s", type(exc).__name__, exc)
            detail = f"{type(exc).__name__}: the vector store does not answer"
            return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
        if count == 0:
            detail = "the vector store is empty: index the catalog first"
            return JSONResponse({"status": "empty", "detail": detail}, status_code=503)
        return {"status": "ready", "items": count}

    @app.get("/api/model", response_model=ModelOut, tags=["model"])
    def model_info() -> dict[str, Any]:
        """The model and store in use, the new-user fields and the filters the page offers."""
        items, _, genres, years = service.catalog()
        store = rec.store
        users = rec.user_ids
        string_users = users.dtype == object
        return {
            "fusionrec_version": __version__,
            "preset": rec.config.name,
            "dim": rec.bundle.dim,
            "store": {"backend": store.backend, "exact": store.exact, "count": store.count()},
            "users": {
                "count": len(users),
                "min_id": None if string_users or not len(users) else int(users[0]),
                "max_id": None if string_users or not len(users) else int(users[-1]),
                "examples": users[:_EXAMPLE_USERS].tolist(),
            },
            "items": {"catalog": len(items), "fields": [f.to_dict() for f in rec.fields]},
            "new_user_fields": _new_user_fields(rec),
            "filters": {"genres": genres, "years": years},
            "limits": {
                "max_k": MAX_K,
                "max_batch_users": MAX_BATCH_USERS,
                "max_add_items": MAX_ADD_ITEMS,
                "max_add_interactions": MAX_ADD_INTERACTIONS,
                "max_filter_ids": MAX_FILTER_IDS,
                "max_filter_expr": MAX_FILTER_EXPR,
                "max_body_bytes": MAX_BODY_BYTES,
            },
        }


def _add_recommend(app: FastAPI, service: Service) -> None:
    rec = service.rec

    @app.post("/api/recommend", response_model=HitsOut, tags=["recommend"])
    async def recommend(body: RecommendIn) -> JSONResponse:
        """Top-k for a known user (``user_id``) or a new one (``features``; MovieLens: age,
        gender, occupation)."""
        results = await service.read(
            rec.recommend,
            body.user_id,
            k=body.k,
            exclude_seen=body.exclude_seen,
            filter=_filter(body.filter),
            **body.feature_values(),
        )
        return _hits_response(results)

    @app.post("/api/recommend/batch", response_model=BatchHitsOut, tags=["recommend"])
    def recommend_batch(body: BatchRecommendIn) -> dict[str, Any]:
        """Top-k for many users; known and new users may be mixed, results keep their order."""
        flt = _filter(body.filter)
        for i, user in enumerate(body.users):
            if user.user_id is None and not user.feature_values():
                raise ValidationError(
                    f"users[{i}]: pass a user_id, or a new user's features "
                    "(MovieLens: age, gender and occupation)"
                )

        def run(users: Sequence[UserIn]) -> list[list[Recommendation]]:
            first = users[0]
            with_ids = first.user_id is not None
            ids = [u.user_id for u in users if u.user_id is not None] if with_ids else None
            names = list(first.feature_values())
            columns = {n: [u.feature_values()[n] for u in users] for n in names}
            return rec.recommend_batch(
                ids,
                users=columns or None,
                k=body.k,
                exclude_seen=body.exclude_seen,
                filter=flt,
            )

        results = _grouped(
            body.users,
            lambda u: (u.user_id is not None, tuple(sorted(u.feature_values()))),
            run,
        )
        return {"results": [_hits(r) for r in results]}


def _add_items(app: FastAPI, service: Service) -> None:
    rec = service.rec

    @app.get(
        "/api/items/{item_id}",
        response_model=ItemOut,
        response_model_exclude_unset=True,
        tags=["items"],
    )
    async def item(item_id: ItemIdPath) -> dict[str, Any]:
        """One item's metadata, and whether it is in the vector store."""
        return await service.read(_item, service, service.item_id(item_id))

    @app.get("/api/items/{item_id}/similar", response_model=HitsOut, tags=["items"])
    async def similar(
        item_id: ItemIdPath,
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"how many, 1-{MAX_K}")] = 10,
        genre: Annotated[
            list[str] | None,
            Query(max_length=64, description="only items with one of these genres (repeatable)"),
        ] = None,
        year_min: Annotated[int | None, Query(ge=0, le=9999)] = None,
        year_max: Annotated[int | None, Query(ge=0, le=9999)] = None,
    ) -> JSONResponse:
        """Items whose vectors lie closest to this item's; score is 5 x cosine."""
        years = None
        if year_min is not None or year_max is not None:
            years = (year_min or 0, 9999 if year_max is None else year_max)
        flt = Filter(genres_any=genre, year_between=years) if genre or years else None
        found = service.item_id(item_id)
        return _hits_response(await service.read(_similar, rec, found, k, flt))

    @app.post("/api/items", response_model=AddedOut, tags=["items"])
    def add_items(body: AddItemsIn) -> dict[str, Any]:
        """Encode new items with the item tower and upsert them (same id: replaced)."""
        ids = [item.movie_id if item.movie_id is not None else item.item_id for item in body.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValidationError(f"items hold the id {dup!r} more than once")
        if all(item.movie_id is not None for item in body.items):
            table: Table | Movies = _movies(body.items)
        else:
            table = _items(rec.items.id_name, ids, [item.columns() for item in body.items])
        with service.write_lock:
            added = rec.add_items(table)
            service.update_inline()
        return {"received": len(ids), "added": added}

    @app.post("/api/interactions", response_model=AddedOut, tags=["items"])
    def add_interactions(body: AddInteractionsIn) -> dict[str, Any]:
        """Record what known users have seen, so ``exclude_seen`` leaves it out."""
        users = [pair.user_id for pair in body.interactions]
        items = [pair.item for pair in body.interactions]
        with service.write_lock:
            added = rec.add_interactions(users, items)
        return {"received": len(users), "added": added}


def _movies(items: Sequence[ItemIn]) -> Movies:
    """Movies in the MovieLens form (``movie_id``, ``title``, ``genres``, ``year``)."""
    titles = np.empty(len(items), dtype=object)
    titles[:] = [item.title for item in items]
    genres = np.empty(len(items), dtype=object)
    genres[:] = [tuple(item.genres or ()) for item in items]
    return Movies(
        movie_id=np.asarray([item.movie_id for item in items], dtype=np.int64),
        title=titles,
        year=np.asarray([item.year or 0 for item in items], dtype=np.int64),
        genres=genres,
    )


def _items(id_name: str, ids: list[Any], rows: list[dict[str, Any]]) -> Table:
    """Items of any catalog: each row's columns by name (a column a row lacks is missing)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns: dict[str, Any] = {}
    for name in names:
        values = np.empty(len(rows), dtype=object)
        values[:] = [tuple(v) if isinstance(v := row.get(name), list) else v for row in rows]
        columns[name] = values
    return Table(entity_ids(ids, "item ids"), columns, id_name)


def _add_page(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _filter(body: FilterIn | None) -> Predicate | None:
    """The request's filter: its fields (ANDed) and its ``expr`` string form, if any."""
    if body is None:
        return None
    flt = Filter(genres_any=body.genres_any, year_between=body.year_between, ids=body.ids)
    if body.expr is None:
        return flt
    parsed = parse_filter(body.expr)
    return parsed if flt.core() is None else flt & parsed


def _hits(results: list[Recommendation]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in results]


def _hits_response(results: list[Recommendation]) -> JSONResponse:
    """``{"items": [...]}`` without re-validating what ``Recommendation.to_dict`` built."""
    return JSONResponse({"items": [{"rating": None, **r.to_dict()} for r in results]})


def _item(service: Service, item_id: int | str) -> dict[str, Any]:
    items, rows, _, _ = service.catalog()
    key = service.rec.item_key(item_id)
    stored = service.rec.store.get([key]) if key is not None else []
    ids: dict[str, Any] = {"item_id": item_id}
    if isinstance(item_id, int):
        ids["movie_id"] = item_id
    row = rows.get(item_id)
    if row is not None:
        found = {
            **ids,
            **{
                f.name: _plain(items.columns[f.name][row])
                for f in service.rec.fields
                if f.name in items.columns
            },
        }
    elif stored:  # indexed by another process sharing the store
        found = {**ids, **stored[0].metadata}
    else:
        raise NotFoundError(f"item id {item_id!r} is neither in the catalog nor in the store")
    return {**found, "indexed": bool(stored)}


def _plain(value: Any) -> Any:
    """A catalog value as JSON: tuples as lists, numpy scalars as Python ones."""
    return list(value) if isinstance(value, tuple) else plain(value)


def _similar(
    rec: FusionRecommender, item_id: int | str, k: int, flt: Predicate | None
) -> list[Recommendation]:
    key = rec.item_key(item_id)
    if key is None or not rec.store.get([key]):
        raise NotFoundError(f"item id {item_id!r} is not in the vector store")
    return rec.similar_items(item_id, k=k, filter=flt)


def _grouped(
    items: Sequence[UserIn],
    key: Callable[[UserIn], object],
    run: Callable[[Sequence[UserIn]], list[T]],
) -> list[T]:
    """``run`` once per group of equal ``key``, results put back in the items' order."""
    groups: dict[object, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    out: list[T | None] = [None] * len(items)
    for positions in groups.values():
        for pos, result in zip(positions, run([items[p] for p in positions]), strict=True):
            out[pos] = result
    return [r for r in out if r is not None]


def _new_user_fields(rec: FusionRecommender) -> list[dict[str, Any]]:
    """The new-user form: MovieLens demographics with their options, else the feature names."""
    occupations = rec.occupations
    if not occupations:
        encoder = rec.bundle.encoder
        return [{"name": f.name, "label": f.name} for f in encoder.schema.user if not f.is_id]
    ages = []
    for i, bucket in enumerate(AGE_BUCKETS):
        nxt = AGE_BUCKETS[i + 1] if i + 1 < len(AGE_BUCKETS) else None
        if i == 0 and nxt is not None:
            label = f"under {nxt}"
        elif nxt is None:
            label = f"{bucket}+"
        else:
            label = f"{bucket}-{nxt - 1}"
        ages.append({"value": bucket, "label": label})
    return [
        {"name": "age", "label": "Age", "options": ages},
        {
            "name": "gender",
            "label": "Gender",
            "options": [{"value": "F", "label": "female"}, {"value": "M", "label": "male"}],
        },
        {
            "name": "occupation",
            "label": "Occupation",
            "options": [{"value": i, "label": name} for i, name in enumerate(occupations)],
        },
    ]
