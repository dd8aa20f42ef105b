"""MilvusStore: Milvus Lite (a local ``.db`` file, embedded) or a Milvus server (by URI).

The logical collection (``collection="movies"``) names a physical collection
``movies__v<N>``. On a server the logical name is a Milvus alias; on Milvus Lite, which does
not implement aliases, it is an entry in a JSON side file (``.<db name>.collections.json``,
written atomically) guarded by Lite's own file lock. :meth:`MilvusStore.replace_all` builds
``__v<N+1>`` while searches keep answering from ``__v<N>``, switches the alias or pointer in
one step, waits for this process's in-flight searches on the old collection, then drops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fusionrec.atomic import write_bytes_atomic
from fusionrec.errors import (
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    ReadOnlyStoreError,
    StoreError,
    StoreInUseError,
    ValidationError,
)
from fusionrec.ids import INT64_MAX, INT64_MIN
from fusionrec.stores._sync import InFlight
from fusionrec.stores.base import (
    FloatMatrix,
    Hit,
    IdArray,
    StoredItem,
    VectorStore,
    finite_score,
)
from fusionrec.stores.fields import (
    Fields,
    MetadataField,
    fields_from_settings,
    fields_setting,
    fields_to_settings,
)
from fusionrec.stores.filters import (
    And,
    ContainsAny,
    Eq,
    Ids,
    Not,
    OneOf,
    Or,
    Predicate,
    Range,
    literal,
)

# Every list[str] field <name> has a VARCHAR <name>_text copy as JSON for reading back: Milvus
# Lite 2.5 returns ARRAY fields slowly (measured: 1.7 s for 300 queries x 10 hits with genres,
# 0.05 s without), so the ARRAY serves filters and the VARCHAR serves output.
_TEXT_SUFFIX = "_text"
_VARCHAR_MAX = 65535
_MAX_TOPK = 16384
_BATCH = 1000
_LITE_INDEXES = frozenset({"FLAT", "IVF_FLAT", "AUTOINDEX"})
_INDEX_DEFAULTS: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "AUTOINDEX": {},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
    "HNSW": {"M": 16, "efConstruction": 200},
}
_SEARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "IVF_FLAT": {"nprobe": 16},
    "IVF_SQ8": {"nprobe": 16},
    "HNSW": {"ef": 128},
}
_VERSION_RE = r"__v(\d+)$"
# A server routes a read to the shard leaders of a collection, which it briefly cannot name
# while a collection is loaded or released (replace_all's switch): Milvus answers "failed to
# get delegator ... can not find client of node -1" (milvus-io/milvus#25102, #36593). Such a
# read is tried again after a pause, this many times in all.
_UNROUTED = re.compile(r"failed to get delegator|can not find client of node")
_READ_TRIES = 4
_READ_PAUSE_S = 0.1
#: Excluded ids shared by every query are dropped from an over-fetch of k + that many hits up
#: to this many; more go into the search's filter expression (``id not in [...]``), whose cost
#: grows more slowly than shipping the extra hits with their metadata. The crossover measured
#: by benchmarks/bench_serving_path.py (docs/benchmarks.md) on Milvus Lite and a server.
EXCLUDE_OVERFETCH_MAX = 5


def _milvus() -> Any:
    """Import pymilvus lazily: importing fusionrec.stores must stay cheap."""
    import pymilvus

    return pymilvus


def is_local_uri(uri: str) -> bool:
    """Whether ``uri`` names a Milvus Lite file rather than a server."""
    return not re.match(r"^(https?|tcp|grpc|unix)://", uri)


def _server_manager() -> Any:
    """milvus_lite's process-wide server manager (the object pymilvus starts Lite through)."""
    from milvus_lite.server_manager import (  # type: ignore[import-untyped]
        server_manager_instance,
    )

    return server_manager_instance


class _LiteServers:
    """Process-wide reference counts of Milvus Lite servers, so close() can release them.

    ``MilvusClient.close()`` leaves Lite's server (and its file lock) running; releasing it
    through milvus_lite's server manager when the last store on a file closes lets another
    process open the file.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, int] = {}

    def acquire(self, path: Path) -> None:
        server_manager_instance = _server_manager()
        key = str(path)
        with self._lock:
            if self._refs.get(key, 0) == 0:
                if key not in server_manager_instance._servers:
                    _probe_lite_lock(path)
                if server_manager_instance.start_and_get_uri(key) is None:
                    _probe_lite_lock(path)
                    raise StoreError(f"Milvus Lite could not start on {path} (see its log)")
            self._refs[key] = self._refs.get(key, 0) + 1

    def release(self, path: Path) -> None:
        server_manager_instance = _server_manager()
        key = str(path)
        with self._lock:
            self._refs[key] -= 1
            if self._refs[key] == 0:
                del self._refs[key]
                server_manager_instance.release_server(key)


_LITE = _LiteServers()


def _probe_lite_lock(path: Path) -> None:
    """Raise StoreInUseError if another process holds Milvus Lite's lock on ``path``."""
    lock_path = path.parent / f".{path.name}.lock"
    if not lock_path.exists():
        return
    with open(lock_path, "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StoreInUseError(
                f"store in use by another process: {path} is locked ({lock_path}); "
                "close the other MilvusStore or use a Milvus server for shared access"
            ) from exc
        fcntl.lockf(handle, fcntl.LOCK_UN)


def _check_lite_file_kind(path: Path) -> None:
    """Refuse, before Milvus Lite touches it, a file that is missing or not a Milvus Lite db.

    Milvus Lite adds its tables to any SQLite file it opens, so a read-only store checks,
    through a read-only SQLite connection, that the file already holds them.
    """
    if not path.is_file():
        raise CollectionNotFoundError(
            f"Milvus Lite file {path} does not exist; a read-only store opens an existing "
            "file (index one first)"
        )
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'collection_meta'"
            ).fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{path} is not a Milvus Lite file ({exc})") from exc
    if found is None:
        raise StoreError(f"{path} is not a Milvus Lite file (no Milvus tables in it)")


def _flatten_index(info: Mapping[str, Any]) -> dict[str, str]:
    """describe_index output with nested ``params`` (dict or JSON) merged, values as str."""
    out: dict[str, str] = {}
    for key, value in info.items():
        if key == "params":
            nested = json.loads(value) if isinstance(value, str) else value
            out.update({k: str(v) for k, v in dict(nested).items()})
        else:
            out[key] = str(value)
    return out


def _list(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_value(v) for v in values) + "]"


def _text_max(spec: MetadataField) -> int:
    """Longest JSON copy of a list field: quotes, separators, brackets (capped by Milvus)."""
    return min(_VARCHAR_MAX, spec.max_items * (spec.max_length + 4) + 2)


def id_in(ids: Iterable[int]) -> str:
    """``id in [...]`` for Milvus; its parser reads -2**63 as an overflow, so that id is
    matched as ``id < -2**63 + 1`` instead (an id list must never silently match less)."""
    values = list(ids)
    expr = f"id in [{', '.join(str(i) for i in values if i != INT64_MIN)}]"
    if INT64_MIN not in values:
        return expr
    lowest = f"id < {INT64_MIN + 1}"
    return lowest if len(values) == 1 else f"({expr} or {lowest})"


def filter_expression(flt: Predicate | None, fields: Fields | None = None) -> str:
    """Compile a filter predicate into a Milvus boolean expression ("" for no filter).

    Strings are JSON-quoted (quotes and backslashes escaped; control characters are refused
    when the predicate is built), so a value can never end the literal early. Negations are
    pushed down to the leaves (``!=``, ``not in``, complemented ranges), since Milvus Lite
    cannot evaluate ``not (...)``; a negated ``contains_any`` tests each element position
    up to the field's ``max_items`` (Milvus reads a position past the end as not in any
    list). ``fields`` (default: the movie fields) gives those bounds and the int fields,
    whose fractional range bounds are rounded inward (Milvus refuses INT64 against float).
    """
    if flt is None:
        return ""
    core = flt.core()
    specs = {f.name: f for f in fields or fields_from_settings(None)}
    return "" if core is None else _Compiler(specs).compile(core, negate=False)


class _Compiler:
    """Predicate -> Milvus expression, with negation pushed to the leaves.

    Each step returns the text and its top-level connective ("and", "or" or "" for one
    term), so that a combination parenthesizes exactly the parts that need it.
    """

    def __init__(self, fields: Mapping[str, MetadataField]) -> None:
        self.fields = fields

    def compile(self, p: Predicate, negate: bool) -> str:
        return self.expr(p, negate)[0]

    def expr(self, p: Predicate, negate: bool) -> tuple[str, str]:
        if isinstance(p, Not):
            return self.expr(p.child, not negate)
        if isinstance(p, (And, Or)):
            joiner = "and" if isinstance(p, And) != negate else "or"
            parts = [self.expr(child, negate) for child in p.children]
            return _join([f"({t})" if c and c != joiner else t for t, c in parts], joiner)
        if isinstance(p, Eq):
            return f"{p.field} {'!=' if negate else '=='} {_value(p.value)}", ""
        if isinstance(p, OneOf):
            return f"{p.field} {'not in' if negate else 'in'} {_list(p.values)}", ""
        if isinstance(p, Range):
            return self.range(p, negate)
        if isinstance(p, ContainsAny):
            if not negate:
                return f"ARRAY_CONTAINS_ANY({p.field}, {_list(p.values)})", ""
            spec = self.fields.get(p.field)
            positions = range(spec.max_items if spec is not None else 64)
            return _join([f"{p.field}[{i}] not in {_list(p.values)}" for i in positions], "and")
        if isinstance(p, Ids):
            return _ids_expr(p.ids, negate)
        raise TypeError(f"not a core predicate: {p!r}")

    def range(self, p: Range, negate: bool) -> tuple[str, str]:
        bounds = p.comparisons()
        spec = self.fields.get(p.field)
        if spec is not None and spec.type == "int":
            bounds = [_int_bound(op, value) for op, value in bounds]
        if negate:
            bounds = [(_COMPLEMENT[op], value) for op, value in bounds]
        parts = [f"{p.field} {op} {value!r}" for op, value in bounds]
        text, joiner = _join(parts, "or" if negate else "and")
        return (f"({text})", "") if joiner else (text, "")


def _join(parts: list[str], joiner: str) -> tuple[str, str]:
    """Parts joined by one connective; long chains as a balanced tree of parentheses, as
    Milvus Lite fails on a flat chain of about 50 (measured: 48 pass, 56 fail)."""
    if len(parts) == 1:
        return parts[0], ""
    if len(parts) <= _FLAT_MAX:
        return f" {joiner} ".join(parts), joiner
    half = len(parts) // 2
    left, right = _join(parts[:half], joiner)[0], _join(parts[half:], joiner)[0]
    return f"({left}) {joiner} ({right})", joiner


_FLAT_MAX = 8


_COMPLEMENT = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


def _ids_expr(ids: tuple[int, ...], negate: bool) -> tuple[str, str]:
    if not ids:
        return ("(id < 0 or id >= 0)" if negate else "(id < 0 and id > 0)"), ""
    if not negate:
        return id_in(ids), ""  # one term, parenthesized by id_in when it has two
    rest = [i for i in ids if i != INT64_MIN]
    parts = [f"id not in [{', '.join(map(str, rest))}]"] if rest else []
    if len(rest) < len(ids):
        parts.append(f"id >= {INT64_MIN + 1}")
    return _join(parts, "and")


def _int_bound(op: str, value: float) -> tuple[str, int | float]:
    """A bound on an int field as an int: ``>= 2.5`` is ``>= 3``, ``< 2.5`` is ``<= 2``."""
    if float(value).is_integer():
        return op, int(value)
    if op in (">", ">="):
        return ">=", math.ceil(value)
    return "<=", math.floor(value)


def _value(value: Any) -> str:
    """A literal; non-ASCII stays UTF-8, as Milvus reads ``\\u00e9`` as six characters."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else literal(value)


class MilvusStore(VectorStore):
    """A store on Milvus: Lite when ``uri`` is a local ``.db`` path, else a server.

    ``index``: FLAT (exact, default on creation), IVF_FLAT, AUTOINDEX (Lite and server) or HNSW,
    IVF_SQ8 (server only); ``index_params`` / ``search_params`` override the defaults. Opening
    an existing collection reads its dimension and index; a different ``dim`` raises
    DimensionMismatchError and ``dim=None`` on a missing collection CollectionNotFoundError.
    ``read_only=True`` opens an existing collection (and, on Lite, an existing file) without
    creating, dropping or writing anything, and refuses upsert, delete, replace_all and flush.
    ``fields`` declares the metadata a new collection keeps as scalar fields (str: VARCHAR,
    int: INT64, float: DOUBLE, bool: BOOL, list[str]: ARRAY<VARCHAR>; default: the MovieLens
    title, genres, year); an existing collection's schema gives its fields, and fields given
    that differ from it raise ConfigError.
    """

    backend = "milvus"

    def __init__(
        self,
        uri: str = "./fusionrec.db",
        collection: str = "movies",
        dim: int | None = None,
        *,
        token: str | None = None,
        index: str | None = None,
        index_params: Mapping[str, Any] | None = None,
        search_params: Mapping[str, Any] | None = None,
        batch_size: int = _BATCH,
        timeout: float | None = None,
        read_only: bool = False,
        fields: Sequence[MetadataField | Mapping[str, Any]] | None = None,
    ) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", collection):
            raise ConfigError(f"collection name {collection!r} must match [A-Za-z_][A-Za-z0-9_]*")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        self._local = is_local_uri(uri)
        self._fields_arg = None if fields is None else fields_from_settings(fields)
        self._fields = self._fields_arg or fields_from_settings(None)
        self._list_out: dict[str, str] = {}  # list field -> the field its values are read from
        # A server search runs Strong once after this store opens or writes, so it sees every
        # write made before it (by this process or the one that indexed); later searches run
        # at Session consistency, which then has nothing left to wait for.
        self._strong_next_search = not self._local
        self._lite_path: Path | None = None
        self._lite_file: tuple[int, int] | None = None  # (device, inode) of the open .db
        self._read_only = bool(read_only)
        if self._local:
            self._lite_path = self._check_lite_path(uri)
            uri = str(self._lite_path)
            if self._read_only:
                _check_lite_file_kind(self._lite_path)
        self._uri = uri
        self._collection = collection
        self._index_params_arg = dict(index_params or {})
        self._search_params_arg = dict(search_params or {})
        self._batch = batch_size
        self._timeout = timeout
        self._closed = True
        self._lite_acquired = False
        self._switch_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._in_flight = InFlight()
        if self._lite_path is not None:
            _LITE.acquire(self._lite_path)
            self._lite_acquired = True
            with contextlib.suppress(OSError):
                info = self._lite_path.stat()
                self._lite_file = (info.st_dev, info.st_ino)
        try:
            pymilvus = _milvus()
            with self._translate("connect"):
                self._client = pymilvus.MilvusClient(
                    uri=uri, token=token or "", dedicated=True, timeout=timeout
                )
            self._closed = False
            self._open(dim, index)
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------

    @staticmethod
    def _check_lite_path(uri: str) -> Path:
        path = Path(uri).expanduser().absolute()
        if path.suffix != ".db":
            raise ConfigError(f"Milvus Lite file {uri!r} must end with .db (or pass http://host)")
        if not re.match(r"^[A-Za-z0-9.\-_]+$", path.name) or len(path.name) > 36:
            raise ConfigError(
                f"Milvus Lite file name {path.name!r} must match [A-Za-z0-9._-]+ "
                "and be at most 36 characters"
            )
        if not path.parent.is_dir():
            raise ConfigError(f"directory {path.parent} for Milvus Lite file does not exist")
        return path.resolve()

    def _open(self, dim: int | None, index: str | None) -> None:
        physical = self._resolve_physical()
        if physical is None:
            if dim is None or self._read_only:
                hint = "pass dim=... to create it"
                if self._read_only:
                    hint = "a read-only store never creates one"
                raise CollectionNotFoundError(
                    f"collection {self._collection!r} does not exist at {self._uri}; {hint}"
                )
            self._dim = dim
            self._index = self._check_index(index or "FLAT")
            self._index_params = {**_INDEX_DEFAULTS[self._index], **self._index_params_arg}
            physical = f"{self._collection}__v1"
            self._list_out = {
                f.name: f.name + _TEXT_SUFFIX for f in self._fields if f.type == "list[str]"
            }
            self._create_physical(physical)
            self._point_to(physical, previous=None)
        else:
            self._read_existing(physical, dim, index)
        self._physical = physical
        self._search_params = {**_SEARCH_DEFAULTS.get(self._index, {}), **self._search_params_arg}
        if self._local and not self._read_only:
            self._drop_orphans()
        elif not self._local:
            self._count()  # a strong read: this client's searches now see earlier writes

    def _check_index(self, index: str) -> str:
        index = index.upper()
        if index not in _INDEX_DEFAULTS:
            raise ConfigError(
                f"unknown Milvus index {index!r}; choose from {sorted(_INDEX_DEFAULTS)}"
            )
        if self._local and index not in _LITE_INDEXES:
            raise ConfigError(
                f"Milvus Lite supports only {sorted(_LITE_INDEXES)} indexes, not {index}; "
                "use a Milvus server (uri='http://host:19530') for HNSW"
            )
        return index

    def _pointer_file(self) -> Path:
        assert self._lite_path is not None
        return self._lite_path.parent / f".{self._lite_path.name}.collections.json"

    def _read_pointers(self) -> dict[str, str]:
        path = self._pointer_file()
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read collection pointers {path}: {exc}") from exc
        return {str(k): str(v) for k, v in data.get("collections", {}).items()}

    def _resolve_physical(self) -> str | None:
        with self._translate("open"):
            if self._local:
                target = self._read_pointers().get(self._collection)
                if target is not None and self._client.has_collection(target):
                    return target
            else:
                # describe_alias on a missing alias logs an RPC error; collection
                # descriptions list their aliases without one.
                pattern = re.compile(re.escape(self._collection) + _VERSION_RE)
                for name in self._client.list_collections():
                    if pattern.match(name):
                        aliases = self._client.describe_collection(name).get("aliases", [])
                        if self._collection in aliases:
                            return str(name)
            if self._client.has_collection(self._collection):
                return self._collection
        return None

    def _read_existing(self, physical: str, dim: int | None, index: str | None) -> None:
        with self._translate("describe"):
            info = self._client.describe_collection(physical)
            names = {f["name"] for f in info["fields"]}
            if not {"id", "vector"} <= names:
                raise StoreError(f"collection {physical!r} lacks the fusionrec fields id, vector")
            self._read_fields(physical, info["fields"])
            vector = next(f for f in info["fields"] if f["name"] == "vector")
            found_dim = int(vector["params"]["dim"])
            described = _flatten_index(self._client.describe_index(physical, "vector"))
        if dim is not None and dim != found_dim:
            raise DimensionMismatchError(
                f"collection {self._collection!r} at {self._uri} has dimension {found_dim}, "
                f"not {dim}"
            )
        self._dim = found_dim
        self._index = described.get("index_type", "FLAT").upper()
        if index is not None and index.upper() != self._index:
            raise ConfigError(
                f"collection {self._collection!r} has a {self._index} index, not {index.upper()}; "
                "rebuild it with replace_all on a new store or drop it"
            )
        skip = {"index_type", "metric_type", "field_name", "index_name", "dim", "total_rows"}
        skip |= {"indexed_rows", "pending_index_rows", "state"}
        self._index_params = {k: _parse(v) for k, v in described.items() if k not in skip}

    def _read_fields(self, physical: str, described: list[dict[str, Any]]) -> None:
        """The metadata fields of an existing collection, from its schema."""
        data_type = _milvus().DataType
        scalar = {
            data_type.VARCHAR: "str",
            data_type.INT64: "int",
            data_type.DOUBLE: "float",
            data_type.BOOL: "bool",
        }
        by_name = {f["name"]: f for f in described}
        found: list[MetadataField] = []
        for entry in described:
            name, params = entry["name"], dict(entry.get("params") or {})
            base = name.removesuffix(_TEXT_SUFFIX)
            if name in ("id", "vector") or (
                name != base and by_name.get(base, {}).get("type") == data_type.ARRAY
            ):
                continue
            kind = scalar.get(entry["type"])
            if entry["type"] == data_type.ARRAY and entry.get("element_type") == (
                data_type.VARCHAR
            ):
                kind = "list[str]"
            if kind is None:
                raise StoreError(
                    f"collection {physical!r} field {name!r} has a type fusionrec does not keep"
                )
            bounds = {"max_length": int(params.get("max_length", 256))}
            if "max_capacity" in params:
                bounds["max_items"] = int(params["max_capacity"])
            found.append(MetadataField(name, kind, **bounds))  # type: ignore[arg-type]
            if kind == "list[str]":
                text = name + _TEXT_SUFFIX
                self._list_out[name] = text if text in by_name else name
        fields = tuple(found)
        if self._fields_arg is not None and self._fields_arg != fields:
            raise ConfigError(
                f"collection {self._collection!r} at {self._uri} keeps metadata fields "
                f"{fields_to_settings(fields)}, not the fields given; open it without fields="
            )
        self._fields = fields

    def _create_physical(self, name: str) -> None:
        pymilvus = _milvus()
        data_type = pymilvus.DataType
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", data_type.INT64, is_primary=True)
        schema.add_field("vector", data_type.FLOAT_VECTOR, dim=self._dim)
        lists = []
        for spec in self._fields:
            if spec.type == "str":
                schema.add_field(spec.name, data_type.VARCHAR, max_length=spec.max_length)
            elif spec.type == "list[str]":
                schema.add_field(
                    spec.name,
                    data_type.ARRAY,
                    element_type=data_type.VARCHAR,
                    max_capacity=spec.max_items,
                    max_length=spec.max_length,
                )
                lists.append(spec)
            else:
                kind = {"int": data_type.INT64, "float": data_type.DOUBLE, "bool": data_type.BOOL}
                schema.add_field(spec.name, kind[spec.type])
        for spec in lists:
            text = spec.name + _TEXT_SUFFIX
            schema.add_field(text, data_type.VARCHAR, max_length=_text_max(spec))
        with self._translate("create collection"):
            if self._client.has_collection(name):
                self._client.drop_collection(name)
            self._client.create_collection(name, schema=schema, consistency_level="Session")
            params = self._client.prepare_index_params()
            params.add_index(
                field_name="vector",
                index_type=self._index,
                index_name="vector",
                metric_type="IP",
                params=dict(self._index_params),
            )
            self._client.create_index(name, params)
            self._verify_index(name)
            self._client.load_collection(name)

    def _verify_index(self, name: str) -> None:
        got = _flatten_index(self._client.describe_index(name, "vector"))
        want = {"index_type": self._index, "metric_type": "IP"}
        want.update({k: str(v) for k, v in self._index_params.items()})
        wrong = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != str(v)}
        if wrong:
            raise StoreError(
                f"Milvus built index on {name!r} differently from what was asked "
                f"(asked, got): {wrong}; full description: {got}"
            )

    def _point_to(self, physical: str, previous: str | None) -> None:
        """Make the logical name resolve to ``physical`` in one step."""
        if self._local:
            pointers = self._read_pointers()
            pointers[self._collection] = physical
            body = json.dumps({"collections": pointers}, indent=1).encode()
            write_bytes_atomic(self._pointer_file(), body)
            return
        with self._translate("switch alias"):
            if previous is None or previous == self._collection:
                if previous == self._collection:
                    self._client.drop_collection(previous)
                self._client.create_alias(physical, self._collection)
            else:
                self._client.alter_alias(physical, self._collection)

    def _drop_orphans(self) -> None:
        """Drop ``<collection>__v<N>`` left by an interrupted replace_all (Lite: one process)."""
        pattern = re.compile(re.escape(self._collection) + _VERSION_RE)
        with self._translate("cleanup"):
            for name in self._client.list_collections():
                if pattern.match(name) and name != self._physical:
                    self._client.drop_collection(name)

    # -- properties ----------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def exact(self) -> bool:
        return self._index == "FLAT"

    @property
    def fields(self) -> Fields:
        return self._fields

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def index_type(self) -> str:
        """The Milvus index type of the current collection."""
        return self._index

    def _target(self) -> str:
        """What operations address: the alias on a server, the physical name on Lite."""
        if not self._local and self._physical != self._collection:
            return self._collection
        return self._physical

    @property
    def read_only(self) -> bool:
        """Whether this store was opened to read only."""
        return self._read_only

    def _check_server_ids(self, ids: IdArray) -> None:
        """Refuse id 2**63 - 1 on a server: Milvus 2.3 stores it but no expression finds it
        again (get, delete and id filters would silently miss it); Milvus Lite handles it."""
        if not self._local and len(ids) and int(ids.max()) == INT64_MAX:
            raise ValidationError(
                f"id {INT64_MAX} (2**63 - 1) cannot be used on a Milvus server: its queries "
                "never match it; use ids up to 2**63 - 2"
            )

    def _check_writable(self, what: str) -> None:
        """Refuse a write on a read-only store or on a Lite file deleted while open."""
        if self._read_only:
            raise ReadOnlyStoreError(
                f"Milvus {what} refused: collection {self._collection!r} at {self._uri} is open "
                "read-only; open a store with read_only=False to write"
            )
        self._check_lite_file()

    def _check_lite_file(self) -> None:
        """StoreError if the Lite file this store opened was deleted or replaced since."""
        if self._lite_path is None or self._lite_file is None:
            return
        try:
            info = self._lite_path.stat()
            same = (info.st_dev, info.st_ino) == self._lite_file
        except OSError:
            same = False
        if not same:
            raise StoreError(
                f"Milvus Lite file {self._lite_path} was deleted or replaced while this store "
                "had it open: writes cannot reach it; close the store and open it again"
            )

    @property
    def physical_collection(self) -> str:
        """The physical collection the logical name currently resolves to."""
        return self._physical

    def set_search_params(self, **params: Any) -> None:
        """Change search-time parameters (HNSW ``ef``, IVF ``nprobe``) without a rebuild.

        Replaces the named keys of :meth:`settings`' ``search_params``; every later search
        passes them to Milvus, which checks them against the collection's index.
        """
        self._check_open()
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"search parameter {name} must be a positive integer")
        self._search_params = {**self._search_params, **params}

    def settings(self) -> dict[str, Any]:
        """Reopen arguments; the token is never included (pass it to open_store again)."""
        return {
            "backend": self.backend,
            "uri": self._uri,
            "collection": self._collection,
            "dim": self._dim,
            "index": self._index,
            "index_params": dict(self._index_params),
            "search_params": dict(self._search_params),
            **fields_setting(self._fields),
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._client.close()
        if self._lite_acquired and self._lite_path is not None:
            self._lite_acquired = False
            _LITE.release(self._lite_path)

    # -- errors --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except (StoreError, ValidationError, ConfigError):
            raise
        except Exception as exc:
            pymilvus = _milvus()
            if not isinstance(exc, (pymilvus.MilvusException, ConnectionError)) and type(
                exc
            ).__module__.split(".")[0] not in ("grpc", "pymilvus"):
                raise
            text = str(exc)
            if re.search(r"collection not (found|exist)|can't find collection", text, re.I):
                raise CollectionNotFoundError(
                    f"Milvus {what}: collection {self._collection!r} not found at {self._uri}"
                ) from exc
            if "Open local milvus failed" in text and self._lite_path is not None:
                _probe_lite_lock(self._lite_path)
            self._check_lite_file()
            raise StoreError(f"Milvus {what} failed at {self._uri}: {text}") from exc

    # -- hooks ---------------------------------------------------------------------------

    def _rows(
        self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Insert rows; bounds were checked by normalize_metadata, JSON copies are checked here."""
        lists = [spec for spec in self._fields if spec.type == "list[str]"]
        rows = []
        for row, (item_id, meta) in enumerate(zip(ids.tolist(), metadata, strict=True)):
            out = {"id": item_id, "vector": vectors[row].tolist(), **meta}
            for spec in lists:
                text = json.dumps(meta[spec.name], ensure_ascii=False)
                if len(text.encode()) > _text_max(spec):
                    raise ValidationError(f"metadata[{row}][{spec.name!r}] is too long to store")
                out[spec.name + _TEXT_SUFFIX] = text
            rows.append(out)
        return rows

    def _write(
        self,
        name: str,
        ids: IdArray,
        vectors: FloatMatrix,
        meta: list[dict[str, Any]],
        *,
        insert: bool,
    ) -> None:
        rows = self._rows(ids, vectors, meta)
        with self._translate("insert" if insert else "upsert"):
            for start in range(0, len(rows), self._batch):
                chunk = rows[start : start + self._batch]
                if insert:
                    self._client.insert(name, chunk, timeout=self._timeout)
                else:
                    self._client.upsert(name, chunk, timeout=self._timeout)

    def _upsert(self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]) -> None:
        self._check_writable("upsert")
        self._check_server_ids(ids)
        with self._write_lock:
            self._write(self._target(), ids, vectors, metadata, insert=False)
            self._strong_next_search = not self._local

    def _delete(self, ids: IdArray) -> None:
        self._check_writable("delete")
        with self._write_lock, self._translate("delete"):
            for start in range(0, ids.size, self._batch):
                chunk = ids[start : start + self._batch].tolist()
                self._client.delete(self._target(), filter=id_in(chunk), timeout=self._timeout)
            self._strong_next_search = not self._local

    @contextlib.contextmanager
    def _reading(self, what: str) -> Iterator[str]:
        """The name a read addresses, its physical collection marked in use for the block.

        Both are taken under the switch lock, so replace_all's wait for the old collection
        to go idle cannot miss a read that took its name just before the switch.
        """
        with contextlib.ExitStack() as stack:
            with self._switch_lock:
                name = self._target()
                stack.enter_context(self._in_flight.using(self._physical))
            stack.enter_context(self._translate(what))
            yield name

    def _count(self) -> int:
        with self._reading("count") as name:
            res = _routed(
                lambda: self._client.query(
                    name, filter="", output_fields=["count(*)"], consistency_level="Strong"
                )
            )
        return int(res[0]["count(*)"])

    def _get(self, ids: IdArray) -> list[StoredItem]:
        out: list[StoredItem] = []
        with self._reading("get") as name:
            for start in range(0, ids.size, self._batch):
                expr = id_in(ids[start : start + self._batch].tolist())
                rows = _routed(
                    functools.partial(
                        self._client.query,
                        name,
                        filter=expr,
                        output_fields=self._output(["id", "vector"]),
                        consistency_level="Strong",
                    )
                )
                for row in rows:
                    out.append(
                        StoredItem(
                            int(row["id"]),
                            np.asarray(row["vector"], dtype=np.float32),
                            self._meta(row),
                        )
                    )
        return out

    def _check_searchable(self) -> None:
        with self._translate("search"):
            if not self._client.has_collection(self._physical):
                raise CollectionNotFoundError(
                    f"collection {self._collection!r} ({self._physical}) not found at {self._uri}"
                )

    def _search(
        self,
        queries: FloatMatrix,
        k: int,
        filter: Predicate | None,
        excludes: list[frozenset[int]],
    ) -> list[list[Hit]]:
        base = filter_expression(filter, self._fields)
        shared = all(e == excludes[0] for e in excludes)
        limit = k + max(len(e) for e in excludes)
        if shared and (len(excludes[0]) > EXCLUDE_OVERFETCH_MAX or limit > _MAX_TOPK):
            expr = base
            if excludes[0]:
                not_in = f"id not in [{', '.join(str(i) for i in sorted(excludes[0]))}]"
                expr = f"({base}) and {not_in}" if base else not_in
            return self._run_search(queries, k, k, expr, [frozenset()] * len(excludes))
        if limit <= _MAX_TOPK:
            return self._run_search(queries, k, limit, base, excludes)
        results: list[list[Hit]] = []
        for row, exclude in enumerate(excludes):
            results.extend(self._search(queries[row : row + 1], k, filter, [exclude]))
        return results

    def _run_search(
        self, queries: FloatMatrix, k: int, limit: int, expr: str, excludes: list[frozenset[int]]
    ) -> list[list[Hit]]:
        if limit > _MAX_TOPK:
            raise ValidationError(f"Milvus returns at most {_MAX_TOPK} hits per query (k={k})")
        params: dict[str, Any] = dict(self._search_params)
        if "ef" in params:
            params["ef"] = max(int(params["ef"]), limit)
        strong = self._strong_next_search
        consistency = {"consistency_level": "Strong"} if strong else {}
        with self._reading("search") as name:
            raw = _routed(
                lambda: self._client.search(
                    name,
                    data=queries.tolist(),
                    limit=limit,
                    filter=expr,
                    output_fields=self._output([]),
                    search_params={"metric_type": "IP", "params": params},
                    timeout=self._timeout,
                    **consistency,
                )
            )
        if strong:
            self._strong_next_search = False
        results = []
        for hits, exclude in zip(raw, excludes, strict=True):
            row: list[Hit] = []
            for hit in hits:
                item_id = int(hit["id"])
                if item_id in exclude:
                    continue
                row.append(Hit(item_id, finite_score(hit["distance"]), self._meta(hit["entity"])))
                if len(row) == k:
                    break
            results.append(row)
        return results

    def flush(self, timeout: float = 600.0) -> None:
        """Seal written data and wait until the index covers every row.

        Until then a Milvus server answers recently written rows from growing segments with an
        interim index of lower recall; call this after a bulk load (replace_all does).
        """
        self._check_open()
        self._check_writable("flush")
        if self._local:
            with self._translate("flush"):
                self._client.flush(self._physical)
            return
        self._wait_indexed(self._physical, timeout)

    def _wait_indexed(self, name: str, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        with self._translate("flush"):
            self._client.flush(name)
            while True:
                info = self._client.describe_index(name, "vector")
                if int(info.get("pending_index_rows", 0)) == 0 and int(
                    info.get("indexed_rows", 0)
                ) >= int(info.get("total_rows", 0)):
                    return
                if time.monotonic() > deadline:
                    raise StoreError(f"index on {name!r} not built after {timeout} s: {info}")
                time.sleep(0.2)

    def _check_complete(self, name: str, expected: int) -> None:
        """Wait (strong read) until every row of a new collection is searchable, and count it.

        Session consistency is tracked per collection name, and searches address the alias,
        so the new collection must be fully visible before the alias moves to it.
        """
        with self._translate("verify new collection"):
            res = self._client.query(
                name, filter="", output_fields=["count(*)"], consistency_level="Strong"
            )
        got = int(res[0]["count(*)"])
        if got != expected:
            raise StoreError(f"reindex of {self._collection!r}: {got} rows stored, {expected} sent")

    def _output(self, extra: list[str]) -> list[str]:
        return [*extra, *(self._list_out.get(spec.name, spec.name) for spec in self._fields)]

    def _meta(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self._fields:
            value = row[self._list_out.get(spec.name, spec.name)]
            if spec.type == "list[str]":
                if isinstance(value, str):
                    value = json.loads(value)
                out[spec.name] = [str(v) for v in value]
            else:
                out[spec.name] = _PLAIN[spec.type](value)
        return out

    def _replace_all(
        self, ids: IdArray, vectors: FloatMatrix, metadata: list[dict[str, Any]]
    ) -> None:
        self._check_writable("replace_all")
        self._check_server_ids(ids)
        with self._write_lock:
            old = self._physical
            match = re.search(_VERSION_RE, old)
            new = f"{self._collection}__v{int(match.group(1)) + 1 if match else 1}"
            self._create_physical(new)
            try:
                if ids.size:
                    self._write(new, ids, vectors, metadata, insert=True)
                self._check_complete(new, ids.size)
                if not self._local:
                    self._wait_indexed(new)
                self._point_to(new, previous=old)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._client.drop_collection(new)
                raise
            with self._switch_lock:
                self._physical = new
            self._in_flight.wait_idle(old, timeout=60.0)
            with self._translate("drop old collection"):
                if self._client.has_collection(old):
                    self._client.drop_collection(old)


def _routed(read: Callable[[], Any]) -> Any:
    """``read()``, tried again after a growing pause while the server cannot route it to the
    collection's shards yet (see ``_UNROUTED``); any other error, or the last, is raised."""
    for attempt in range(1, _READ_TRIES):
        try:
            return read()
        except Exception as exc:
            if not _UNROUTED.search(str(exc)):
                raise
        time.sleep(_READ_PAUSE_S * attempt)
    return read()


_PLAIN: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}


def _parse(text: str) -> Any:
    """An index parameter read back as text, as the JSON value it spells (else the text)."""
    try:
        return json.loads(text)
    except ValueError:
        return text
