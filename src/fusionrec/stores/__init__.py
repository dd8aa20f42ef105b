"""Vector stores: one API (VectorStore) over Milvus (Lite or server) and Faiss, plus a registry.

Items carry declared metadata fields (MetadataField); filters are predicates over them (Eq,
OneOf, Range, ContainsAny, Ids, And, Or, Not, or parse_filter's string form).

Backends load lazily: ``fusionrec.stores.MilvusStore`` imports pymilvus on first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fusionrec.stores.base import Filter, Hit, StoredItem, VectorStore
from fusionrec.stores.fields import MOVIE_FIELDS, MetadataField
from fusionrec.stores.filter_parser import parse_filter
from fusionrec.stores.filters import And, ContainsAny, Eq, Ids, Not, OneOf, Or, Predicate, Range
from fusionrec.stores.registry import (
    ENTRY_POINT_GROUP,
    available_backends,
    create,
    open_store,
    register,
    unregister,
)

if TYPE_CHECKING:
    from fusionrec.stores.faiss import FaissStore
    from fusionrec.stores.milvus import MilvusStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "MOVIE_FIELDS",
    "And",
    "ContainsAny",
    "Eq",
    "FaissStore",
    "Filter",
    "Hit",
    "Ids",
    "MetadataField",
    "MilvusStore",
    "Not",
    "OneOf",
    "Or",
    "Predicate",
    "Range",
    "StoredItem",
    "VectorStore",
    "available_backends",
    "create",
    "open_store",
    "parse_filter",
    "register",
    "unregister",
]


def __getattr__(name: str) -> Any:
    if name == "MilvusStore":
        from fusionrec.stores.milvus import MilvusStore

        return MilvusStore
    if name == "FaissStore":
        from fusionrec.stores.faiss import FaissStore

        return FaissStore
    raise AttributeError(f"module 'fusionrec.stores' has no attribute {name!r}")
