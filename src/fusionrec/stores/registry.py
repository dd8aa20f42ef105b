"""The backend registry: names -> store factories, built-ins plus entry-point plugins.

Third-party packages register a backend by declaring an entry point in the group
``fusionrec.vector_stores`` whose object is a VectorStore subclass (or any callable taking
``dim=`` and options and returning a VectorStore); :func:`register` does the same at runtime.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from fusionrec.errors import ConfigError, StoreError, UnknownBackendError
from fusionrec.stores.base import VectorStore

ENTRY_POINT_GROUP = "fusionrec.vector_stores"

StoreFactory = Callable[..., VectorStore]

_BUILTIN = {
    "milvus": "fusionrec.stores.milvus:MilvusStore",
    "faiss": "fusionrec.stores.faiss:FaissStore",
}
_lock = threading.Lock()
_registered: dict[str, StoreFactory] = {}


def register(name: str, factory: StoreFactory, *, replace: bool = False) -> None:
    """Register ``factory`` (called as ``factory(dim=..., **options)``) under ``name``."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"backend name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ConfigError(f"factory for backend {name!r} is not callable")
    with _lock:
        if name in _registered and not replace and _registered[name] is not factory:
            raise ConfigError(f"backend {name!r} is already registered (pass replace=True)")
        _registered[name] = factory


def unregister(name: str) -> None:
    """Remove a runtime registration (built-ins and entry points stay available)."""
    with _lock:
        _registered.pop(name, None)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Every backend name create() accepts, sorted."""
    with _lock:
        names = set(_registered)
    return sorted(names | set(_BUILTIN) | set(_entry_points()))


def _load(spec: str) -> StoreFactory:
    module, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def get_factory(name: str) -> StoreFactory:
    """The factory registered under ``name``; UnknownBackendError lists the known names."""
    with _lock:
        factory = _registered.get(name)
    if factory is not None:
        return factory
    if name in _BUILTIN:
        return _load(_BUILTIN[name])
    point = _entry_points().get(name)
    if point is None:
        raise UnknownBackendError(
            f"unknown vector store backend {name!r}; available: {', '.join(available_backends())}"
        )
    try:
        loaded: StoreFactory = point.load()
    except Exception as exc:
        raise StoreError(
            f"backend {name!r} entry point {point.value} failed to load: {exc}"
        ) from exc
    return loaded


def create(name: str, dim: int | None = None, **options: Any) -> VectorStore:
    """Create (or open) a store of backend ``name``: ``create("faiss", dim=64)``.

    Options the factory does not take raise ConfigError (settings read from a model
    directory are data, so a stray key must be an error, not a traceback).
    """
    factory = get_factory(name)
    if dim is not None:
        options = {"dim": dim, **options}
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"backend {name!r} does not take these options: {exc}") from exc
    except ValueError:  # no signature to check (a builtin); let the call decide
        pass
    store = factory(**options)
    if not isinstance(store, VectorStore):
        raise StoreError(f"backend {name!r} returned {type(store).__name__}, not a VectorStore")
    return store


def open_store(settings: Mapping[str, Any], **overrides: Any) -> VectorStore:
    """Reopen a store from its ``settings()`` dict; ``overrides`` (e.g. ``token=``) win.

    ``read_only=True`` among the overrides opens the store for reading only (the built-in
    backends take it; a backend that does not raises ConfigError).
    """
    if not isinstance(settings, Mapping) or not isinstance(settings.get("backend"), str):
        raise ConfigError("store settings must be a mapping with a string 'backend' key")
    options = {k: v for k, v in settings.items() if k != "backend"}
    options.update(overrides)
    return create(str(settings["backend"]), **options)
