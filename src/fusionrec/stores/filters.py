"""Filter predicates over declared metadata fields: the one definition of what matches.

``Eq``, ``OneOf``, ``Range``, ``ContainsAny`` and ``Ids`` are the leaves; ``And``, ``Or`` and
``Not`` (or ``&``, ``|``, ``~``) combine them. :meth:`Predicate.matches` is the reference
semantics; Milvus compiles the same tree to a boolean expression and Faiss to a mask over its
metadata columns. :meth:`Predicate.check` refuses, before any search, a field the store does
not keep or a value or operator that does not fit the field's type. ``str(predicate)`` is
the string form that :func:`fusionrec.stores.filter_parser.parse_filter` reads back.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionrec.errors import FilterError
from fusionrec.ids import INT64_MAX, INT64_MIN
from fusionrec.stores.fields import MetadataField

Scalar = str | int | float | bool


class Predicate(ABC):
    """A condition on one item's id and metadata; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    @abstractmethod
    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        """Whether one item satisfies the condition (the reference semantics)."""

    @abstractmethod
    def check(self, fields: Mapping[str, MetadataField]) -> None:
        """FilterError if a field is unknown or a value or operator does not fit its type."""

    def core(self) -> Predicate | None:
        """This condition in leaf-and-combinator form; None when it matches every item."""
        return self

    def __and__(self, other: Predicate) -> Predicate:
        return And(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return Or(self, other)

    def __invert__(self) -> Predicate:
        return Not(self)


def _field(fields: Mapping[str, MetadataField], name: str) -> MetadataField:
    spec = fields.get(name)
    if spec is None:
        raise FilterError(f"filter names unknown field {name!r}; this store has {sorted(fields)}")
    return spec


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise FilterError(f"a filter's field must be a non-empty string, got {name!r}")
    return name


def _scalar(value: Any, what: str) -> Scalar:
    """A filter value as a plain str, int (within int64), finite float or bool."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise FilterError(f"{what} holds {int(value)}, outside int64")
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise FilterError(f"{what} holds {value!r}: values must be finite")
        return float(value)
    if isinstance(value, str):
        if any(ord(ch) < 32 for ch in value):
            raise FilterError(f"{what} holds {value!r}: control characters are not allowed")
        return value
    raise FilterError(f"{what} holds {value!r}: values are str, int, float or bool")


def _values(values: Any, what: str) -> tuple[Scalar, ...]:
    if isinstance(values, str) or not isinstance(values, (Sequence, np.ndarray, set, frozenset)):
        raise FilterError(f"{what} must be a list of values, got {values!r}")
    out = tuple(dict.fromkeys(_scalar(v, what) for v in values))
    if not out:
        raise FilterError(f"{what} is empty: it would match nothing")
    return out


def _fits(spec: MetadataField, value: Scalar) -> bool:
    """Whether a value can be compared with a scalar field of this type."""
    if spec.type == "str":
        return isinstance(value, str)
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _check_scalar_field(spec: MetadataField, values: tuple[Scalar, ...], op: str) -> None:
    if spec.type == "list[str]":
        raise FilterError(
            f"filter {op} on list field {spec.name!r}: use contains_any for list fields"
        )
    for value in values:
        if not _fits(spec, value):
            raise FilterError(
                f"filter {op} on {spec.type} field {spec.name!r} got {value!r} "
                f"of type {type(value).__name__}"
            )


def literal(value: Scalar) -> str:
    """A value as the string form writes it (strings JSON-quoted, bools lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _list_literal(values: Sequence[Scalar]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


@dataclass(frozen=True, init=False)
class Eq(Predicate):
    """``field == value`` on a str, int, float or bool field."""

    field: str
    value: Scalar

    def __init__(self, field: str, value: Scalar) -> None:
        object.__setattr__(self, "field", _check_name(field))
        object.__setattr__(self, "value", _scalar(value, f"Eq({field!r})"))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return bool(metadata[self.field] == self.value)

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        _check_scalar_field(_field(fields, self.field), (self.value,), "=")

    def __str__(self) -> str:
        return f"{self.field} = {literal(self.value)}"


@dataclass(frozen=True, init=False)
class OneOf(Predicate):
    """``field in values`` on a str, int, float or bool field (values non-empty)."""

    field: str
    values: tuple[Scalar, ...]

    def __init__(self, field: str, values: Sequence[Scalar]) -> None:
        object.__setattr__(self, "field", _check_name(field))
        object.__setattr__(self, "values", _values(values, f"OneOf({field!r})"))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return metadata[self.field] in self.values

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        _check_scalar_field(_field(fields, self.field), self.values, "in")

    def __str__(self) -> str:
        return f"{self.field} in {_list_literal(self.values)}"


@dataclass(frozen=True, init=False)
class Range(Predicate):
    """``lo <= field <= hi`` on an int or float field; a None bound is open.

    Bounds are inclusive unless ``include_lo`` / ``include_hi`` is False (``<`` and ``>``).
    """

    field: str
    lo: int | float | None
    hi: int | float | None
    include_lo: bool
    include_hi: bool

    def __init__(
        self,
        field: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        include_lo: bool = True,
        include_hi: bool = True,
    ) -> None:
        object.__setattr__(self, "field", _check_name(field))
        bounds = []
        for bound in (lo, hi):
            value = None if bound is None else _scalar(bound, f"Range({field!r})")
            if isinstance(value, (str, bool)):
                raise FilterError(f"Range({field!r}) bounds must be numbers, got {bound!r}")
            bounds.append(value)
        if bounds[0] is None and bounds[1] is None:
            raise FilterError(f"Range({field!r}) needs lo, hi or both")
        if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
            raise FilterError(f"Range({field!r}) has lo > hi: {lo!r} > {hi!r}")
        object.__setattr__(self, "lo", bounds[0])
        object.__setattr__(self, "hi", bounds[1])
        object.__setattr__(self, "include_lo", bool(include_lo))
        object.__setattr__(self, "include_hi", bool(include_hi))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        value = metadata[self.field]
        if self.lo is not None and (value < self.lo if self.include_lo else value <= self.lo):
            return False
        return self.hi is None or (value <= self.hi if self.include_hi else value < self.hi)

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        spec = _field(fields, self.field)
        if spec.type not in ("int", "float"):
            raise FilterError(
                f"range filter on {spec.type} field {spec.name!r}: needs int or float"
            )

    def comparisons(self) -> list[tuple[str, int | float]]:
        """The bounds as (operator, value) pairs, e.g. ``[(">=", 1990), ("<=", 1999)]``."""
        out: list[tuple[str, int | float]] = []
        if self.lo is not None:
            out.append((">=" if self.include_lo else ">", self.lo))
        if self.hi is not None:
            out.append(("<=" if self.include_hi else "<", self.hi))
        return out

    def __str__(self) -> str:
        return " and ".join(f"{self.field} {op} {value!r}" for op, value in self.comparisons())


@dataclass(frozen=True, init=False)
class ContainsAny(Predicate):
    """A list[str] field holds at least one of ``values`` (non-empty)."""

    field: str
    values: tuple[str, ...]

    def __init__(self, field: str, values: Sequence[str]) -> None:
        object.__setattr__(self, "field", _check_name(field))
        checked = _values(values, f"ContainsAny({field!r})")
        for value in checked:
            if not isinstance(value, str) or not value:
                raise FilterError(
                    f"ContainsAny({field!r}) holds {value!r}: values must be non-empty str"
                )
        object.__setattr__(self, "values", checked)

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return not frozenset(self.values).isdisjoint(metadata[self.field])

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        spec = _field(fields, self.field)
        if spec.type != "list[str]":
            raise FilterError(
                f"contains_any on {spec.type} field {spec.name!r}: needs a list[str] field"
            )

    def __str__(self) -> str:
        return f"{self.field} contains_any {_list_literal(self.values)}"


def check_filter_ids(ids: Sequence[int] | None) -> tuple[int, ...] | None:
    """Filter ids as unique plain ints within int64; FilterError otherwise."""
    if ids is None:
        return None
    if isinstance(ids, str) or not isinstance(ids, (Sequence, np.ndarray)):
        raise FilterError(f"ids must be a sequence of integers, got {type(ids).__name__}")
    out: list[int] = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise FilterError(f"ids holds {value!r}: every id must be an integer")
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise FilterError(f"ids holds {int(value)}, outside the int64 range of store ids")
        out.append(int(value))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, init=False)
class Ids(Predicate):
    """The item id is one of ``ids`` (an empty list matches nothing)."""

    ids: tuple[int, ...]

    def __init__(self, ids: Sequence[int]) -> None:
        object.__setattr__(self, "ids", check_filter_ids(ids))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return item_id in self.ids

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        return None

    def __str__(self) -> str:
        return f"id in [{', '.join(map(str, self.ids))}]"


def _children(children: tuple[Any, ...], what: str) -> tuple[Predicate, ...]:
    if len(children) == 1 and isinstance(children[0], (list, tuple)):
        children = tuple(children[0])
    for child in children:
        if not isinstance(child, Predicate):
            raise FilterError(f"{what} takes predicates, got {child!r}")
    if not children:
        raise FilterError(f"{what} needs at least one predicate")
    return children


def _wrapped(child: Predicate, inside: type[Predicate]) -> str:
    text = str(child)
    return f"({text})" if isinstance(child, (And, Or)) and not isinstance(child, inside) else text


@dataclass(frozen=True, init=False)
class And(Predicate):
    """Every child matches."""

    children: tuple[Predicate, ...]

    def __init__(self, *children: Predicate) -> None:
        object.__setattr__(self, "children", _children(children, "And"))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return all(child.matches(item_id, metadata) for child in self.children)

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        for child in self.children:
            child.check(fields)

    def core(self) -> Predicate | None:
        parts = [c for c in (child.core() for child in self.children) if c is not None]
        return None if not parts else parts[0] if len(parts) == 1 else And(*parts)

    def __str__(self) -> str:
        return " and ".join(_wrapped(child, And) for child in self.children)


@dataclass(frozen=True, init=False)
class Or(Predicate):
    """At least one child matches."""

    children: tuple[Predicate, ...]

    def __init__(self, *children: Predicate) -> None:
        object.__setattr__(self, "children", _children(children, "Or"))

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return any(child.matches(item_id, metadata) for child in self.children)

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        for child in self.children:
            child.check(fields)

    def core(self) -> Predicate | None:
        parts = [child.core() for child in self.children]
        if any(part is None for part in parts):
            return None
        kept = [p for p in parts if p is not None]
        return kept[0] if len(kept) == 1 else Or(*kept)

    def __str__(self) -> str:
        return " or ".join(_wrapped(child, Or) for child in self.children)


@dataclass(frozen=True, init=False)
class Not(Predicate):
    """The child does not match."""

    child: Predicate

    def __init__(self, child: Predicate) -> None:
        object.__setattr__(self, "child", _children((child,), "Not")[0])

    def matches(self, item_id: int, metadata: Mapping[str, Any]) -> bool:
        return not self.child.matches(item_id, metadata)

    def check(self, fields: Mapping[str, MetadataField]) -> None:
        self.child.check(fields)

    def core(self) -> Predicate | None:
        inner = self.child.core()
        return Ids(()) if inner is None else Not(inner)

    def __str__(self) -> str:
        return f"not ({self.child})"


def matches_nothing(predicate: Predicate | None) -> bool:
    """Whether a core predicate is the empty id list (answered without searching)."""
    return isinstance(predicate, Ids) and not predicate.ids
