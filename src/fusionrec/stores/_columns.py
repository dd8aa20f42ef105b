"""Metadata as numpy columns, and filter predicates evaluated over them as boolean masks.

The Faiss store keeps one column per field, row i being the item at Faiss label i, built once
per content generation; a filter then costs a few vectorized comparisons instead of a Python
call per item. Semantics equal :meth:`fusionrec.stores.filters.Predicate.matches` (the tests
compare the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.stores.fields import Fields, MetadataField
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
)

Mask = npt.NDArray[np.bool_]
_DTYPES: dict[str, Any] = {"str": object, "int": np.int64, "float": np.float64, "bool": np.bool_}


class Columns:
    """Columns over labels ``0..n-1``; ``label_to_id[i] < 0`` marks a dead label."""

    def __init__(
        self,
        label_to_id: npt.NDArray[np.int64],
        meta: Mapping[int, Mapping[str, Any]],
        fields: Fields,
    ) -> None:
        self._ids = label_to_id
        self._live: Mask = label_to_id >= 0
        self._meta = meta
        self._fields = {spec.name: spec for spec in fields}
        self._scalars: dict[str, npt.NDArray[Any]] = {}
        self._lists: dict[str, tuple[npt.NDArray[Any], npt.NDArray[np.intp]]] = {}

    def _rows(self, spec: MetadataField) -> list[Any]:
        default = spec.default
        meta = self._meta
        return [meta[i][spec.name] if i >= 0 else default for i in self._ids.tolist()]

    def scalar(self, name: str) -> npt.NDArray[Any]:
        """One scalar field's values by label (built on first use)."""
        column = self._scalars.get(name)
        if column is None:
            spec = self._fields[name]
            column = np.empty(self._ids.size, dtype=_DTYPES[spec.type])
            column[:] = self._rows(spec)
            self._scalars[name] = column
        return column

    def listed(self, name: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
        """One list field flattened: every element, and the label it belongs to."""
        cached = self._lists.get(name)
        if cached is None:
            rows = self._rows(self._fields[name])
            lengths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
            flat = np.empty(int(lengths.sum()), dtype=object)
            flat[:] = [value for row in rows for value in row]
            cached = (flat, np.repeat(np.arange(len(rows), dtype=np.intp), lengths))
            self._lists[name] = cached
        return cached

    def mask(self, predicate: Predicate) -> Mask:
        """Which live labels satisfy a core predicate."""
        return self._eval(predicate) & self._live

    def _eval(self, p: Predicate) -> Mask:
        if isinstance(p, Eq):
            return np.asarray(self.scalar(p.field) == p.value, dtype=bool)
        if isinstance(p, OneOf):
            column = self.scalar(p.field)
            return np.isin(column, np.array(p.values, dtype=column.dtype))
        if isinstance(p, Range):
            column = self.scalar(p.field)
            out = np.ones(column.size, dtype=bool)
            for op, value in p.comparisons():
                out &= _COMPARE[op](column, value)
            return out
        if isinstance(p, ContainsAny):
            flat, owner = self.listed(p.field)
            out = np.zeros(self._ids.size, dtype=bool)
            wanted = np.empty(len(p.values), dtype=object)
            wanted[:] = list(p.values)
            out[owner[np.isin(flat, wanted)]] = True
            return out
        if isinstance(p, Ids):
            return np.isin(self._ids, np.array(p.ids, dtype=np.int64))
        if isinstance(p, And):
            out = self._eval(p.children[0])
            for child in p.children[1:]:
                out = out & self._eval(child)
            return out
        if isinstance(p, Or):
            out = self._eval(p.children[0])
            for child in p.children[1:]:
                out = out | self._eval(child)
            return out
        if isinstance(p, Not):
            return ~self._eval(p.child)
        raise TypeError(f"not a core predicate: {p!r}")  # check_filter hands over core form


_COMPARE: dict[str, Any] = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
}
