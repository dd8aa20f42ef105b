"""Declared item metadata: the fields a store keeps beside each vector, and their checks.

A store holds exactly the fields it was created with (default: the MovieLens ``title``,
``genres`` and ``year``). Every backend validates metadata here, once, so all of them accept
and refuse the same items; Milvus maps the fields onto its collection schema and Faiss keeps
them as columns that filters evaluate over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from fusionrec.errors import ConfigError, ValidationError
from fusionrec.ids import INT64_MAX, INT64_MIN

FieldType = Literal["str", "int", "float", "bool", "list[str]"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
#: Names a store uses itself (``<list field>_text`` is Milvus's JSON copy of a list field).
RESERVED_NAMES = frozenset({"id", "vector"})
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class MetadataField:
    """One metadata field: a name and a type, with the bounds Milvus needs for its schema.

    ``type`` is "str", "int" (int64), "float" (float64), "bool" or "list[str]".
    ``max_length``: most UTF-8 bytes of a str value or of one list element; ``max_items``:
    most elements of a list. A missing value takes the type's default: "", 0, 0.0, False, [].
    """

    name: str
    type: FieldType
    max_length: int = 256
    max_items: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(
                f"metadata field name {self.name!r} must match [A-Za-z_][A-Za-z0-9_]*, "
                "at most 64 characters"
            )
        if self.name in RESERVED_NAMES:
            raise ConfigError(f"metadata field name {self.name!r} is reserved for the store")
        if self.type not in FIELD_TYPES:
            raise ConfigError(
                f"metadata field {self.name!r} has type {self.type!r}; "
                f"choose one of {list(FIELD_TYPES)}"
            )
        for bound in ("max_length", "max_items"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                raise ConfigError(f"metadata field {self.name!r}: {bound} must be in 1..65535")

    @property
    def default(self) -> Any:
        """The value a missing key takes."""
        return _DEFAULTS[self.type]() if self.type == "list[str]" else _DEFAULTS[self.type]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as :meth:`VectorStore.settings` records it."""
        return {
            "name": self.name,
            "type": self.type,
            "max_length": self.max_length,
            "max_items": self.max_items,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetadataField:
        """Inverse of :meth:`to_dict`; ConfigError on a malformed entry."""
        if not isinstance(data, Mapping) or set(data) - {"name", "type", "max_length", "max_items"}:
            raise ConfigError(f"invalid metadata field declaration {data!r}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"invalid metadata field declaration {data!r}: {exc}") from exc

    def check(self, value: Any, where: str) -> Any:
        """``value`` as this field's plain Python type; ValidationError naming ``where``."""
        kind = self.type
        if kind == "str":
            if not isinstance(value, str):
                raise ValidationError(f"{where} must be a str, got {value!r}")
            self._check_length(value, where)
            return value
        if kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ValidationError(f"{where} must be an int, got {value!r}")
            if not INT64_MIN <= int(value) <= INT64_MAX:
                raise ValidationError(f"{where} = {value} is outside int64")
            return int(value)
        if kind == "float":
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise ValidationError(f"{where} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ValidationError(f"{where} must be finite, got {value!r}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise ValidationError(f"{where} must be a bool, got {value!r}")
            return bool(value)
        if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
            raise ValidationError(f"{where} must be a list of str, got {value!r}")
        items = list(value)
        if len(items) > self.max_items:
            raise ValidationError(f"{where} has {len(items)} items; at most {self.max_items}")
        for item in items:
            if not isinstance(item, str) or not item:
                raise ValidationError(f"{where} holds {item!r}: items must be non-empty str")
            self._check_length(item, where)
        return items

    def _check_length(self, value: str, where: str) -> None:
        if len(value.encode()) > self.max_length:
            raise ValidationError(f"{where} exceeds {self.max_length} UTF-8 bytes")


_DEFAULTS: dict[str, Any] = {"str": "", "int": 0, "float": 0.0, "bool": False, "list[str]": list}

#: The MovieLens fields every store keeps unless told otherwise.
MOVIE_FIELDS: tuple[MetadataField, ...] = (
    MetadataField("title", "str", max_length=1024),
    MetadataField("genres", "list[str]", max_length=64, max_items=64),
    MetadataField("year", "int"),
)

Fields = tuple[MetadataField, ...]


def check_fields(fields: Sequence[MetadataField] | None) -> Fields:
    """Validate a field declaration (None: :data:`MOVIE_FIELDS`); names must be unique."""
    if fields is None:
        return MOVIE_FIELDS
    if isinstance(fields, (str, Mapping)) or not isinstance(fields, Sequence):
        raise ConfigError("fields must be a sequence of MetadataField")
    out = tuple(fields)
    for spec in out:
        if not isinstance(spec, MetadataField):
            raise ConfigError(f"fields must hold MetadataField, got {spec!r}")
    names = [spec.name for spec in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"metadata field names repeat: {names}")
    taken = set(names) & {f"{spec.name}_text" for spec in out if spec.type == "list[str]"}
    if taken:
        raise ConfigError(f"metadata field name(s) {sorted(taken)} clash with list fields' copies")
    return out


def fields_from_settings(value: Any) -> Fields:
    """Fields as ``settings()`` records them (a list of dicts), or MetadataFields; None: movies."""
    if value is None:
        return MOVIE_FIELDS
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(f"fields must be a list of field declarations, got {value!r}")
    return check_fields(
        [v if isinstance(v, MetadataField) else MetadataField.from_dict(v) for v in value]
    )


def fields_to_settings(fields: Fields) -> list[dict[str, Any]]:
    """The JSON form of a declaration (inverse of :func:`fields_from_settings`)."""
    return [spec.to_dict() for spec in fields]


def fields_setting(fields: Fields) -> dict[str, Any]:
    """``{"fields": [...]}`` for a store's settings, or ``{}`` for the default movie fields.

    Leaving the default out keeps the settings of every MovieLens store as they always were.
    """
    return {} if fields == MOVIE_FIELDS else {"fields": fields_to_settings(fields)}


def normalize_metadata(
    item: Mapping[str, Any] | None, position: int, fields: Fields = MOVIE_FIELDS
) -> dict[str, Any]:
    """Check one item's metadata against ``fields`` and return it with every field present.

    Missing keys take their type's default; unknown keys are refused, so that nothing is
    silently dropped by a backend with a fixed schema.
    """
    if item is None:
        item = {}
    if not isinstance(item, Mapping):
        raise ValidationError(f"metadata[{position}] must be a mapping, got {type(item).__name__}")
    known = {spec.name for spec in fields}
    unknown = set(item) - known
    if unknown:
        raise ValidationError(
            f"metadata[{position}] has unknown key(s) {sorted(map(str, unknown))}; "
            f"this store keeps exactly {sorted(known)}"
        )
    return {
        spec.name: spec.check(item[spec.name], f"metadata[{position}][{spec.name!r}]")
        if spec.name in item
        else spec.default
        for spec in fields
    }


def copy_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """A copy a caller may modify: lists are copied, scalars are immutable.

    Runs on every hit of a search, so it copies the dict once and then only its lists
    (cheaper, in a timeit run, than rebuilding the dict field by field).
    """
    out = meta.copy()
    for key, value in meta.items():
        if value.__class__ is list:
            out[key] = value.copy()
    return out
