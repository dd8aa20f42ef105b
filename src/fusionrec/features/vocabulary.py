"""Vocabulary: the saved value -> index map of a categorical feature.

Index ``PAD = 0`` is padding (it embeds as zero in pooled features), ``UNK = 1`` stands for a
value not in the vocabulary (unseen, too rare, or an id dropped for cold start); known values
get ``2 + position`` in sorted order. Values are all ints or all strings, looked up through a
dict: ids are never derived from ``hash()``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError
from fusionrec.ids import INT64_MAX, INT64_MIN

PAD = 0
UNK = 1
RESERVED = 2  # PAD and UNK

IntArray = npt.NDArray[np.int64]
Value = int | str


def _normalize(value: object, feature: str) -> Value:
    """A column value as the int or str a vocabulary holds."""
    if isinstance(value, bool | np.bool_):
        raise ValidationError(f"feature {feature!r}: boolean value {value!r} is not a category")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, str | np.str_):
        return str(value)
    raise ValidationError(
        f"feature {feature!r}: value {value!r} of type {type(value).__name__} is not an int or str"
    )


class Vocabulary:
    """Sorted known values of one feature; :meth:`encode` maps values to int64 indices."""

    def __init__(self, values: Iterable[object], feature: str = "") -> None:
        normalized = {_normalize(v, feature) for v in values}
        kinds = {type(v) for v in normalized}
        if len(kinds) > 1:
            raise ValidationError(f"feature {feature!r}: vocabulary mixes ints and strings")
        self.feature = feature
        self.values: tuple[Value, ...] = tuple(sorted(normalized))
        self._index = {v: RESERVED + i for i, v in enumerate(self.values)}

    @classmethod
    def fit(
        cls,
        values: Iterable[object],
        feature: str,
        min_count: int = 1,
        extra: Iterable[object] = (),
    ) -> Vocabulary:
        """The values seen at least ``min_count`` times, plus ``extra`` declared ones."""
        counts = Counter(_normalize(v, feature) for v in values if v is not None)
        kept = [v for v, n in counts.items() if n >= min_count]
        return cls([*kept, *extra], feature)

    @property
    def rows(self) -> int:
        """Rows of an embedding over this vocabulary: the values plus PAD and UNK."""
        return len(self.values) + RESERVED

    def __contains__(self, value: object) -> bool:
        try:
            return _normalize(value, self.feature) in self._index
        except ValidationError:
            return False

    def encode(self, values: Iterable[object]) -> IntArray:
        """Indices of ``values`` (a 1-D column); absent values and None give UNK."""
        index, feature = self._index, self.feature
        return np.fromiter(
            (UNK if v is None else index.get(_normalize(v, feature), UNK) for v in values),
            dtype=np.int64,
        )

    def encode_one(self, value: object) -> int:
        """The index of one value: :meth:`encode` of a one-value column, as a plain int."""
        if value is None:
            return UNK
        if value.__class__ is int or value.__class__ is str:  # already normalized
            return self._index.get(value, UNK)
        return self._index.get(_normalize(value, self.feature), UNK)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Any, feature: str) -> Vocabulary:
        """Rebuild from :meth:`to_dict` output: the values must be what it writes (all 64-bit
        integers or all strings, sorted and distinct), else :class:`ValidationError`."""
        if not isinstance(data, dict) or not isinstance(data.get("values"), list):
            raise ValidationError(f"feature {feature!r}: malformed vocabulary state")
        values = data["values"]
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        if ints and not all(INT64_MIN <= v <= INT64_MAX for v in values):
            raise ValidationError(f"feature {feature!r}: vocabulary integers exceed 64 bits")
        if not ints and not all(isinstance(v, str) for v in values):
            raise ValidationError(
                f"feature {feature!r}: vocabulary must be all ints or all strings"
            )
        if any(a >= b for a, b in itertools.pairwise(values)):
            raise ValidationError(f"feature {feature!r}: vocabulary must be sorted and distinct")
        return cls(values, feature)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.values == other.values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Vocabulary({self.feature!r}, {len(self.values)} values)"


def pad_rows(rows: list[IntArray], width: int | None) -> IntArray:
    """Index rows of varying length as one ``[n, W]`` PAD-padded array.

    ``W`` is the longest row (at least 1), capped at ``width``; longer rows are cut.
    """
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    if width is not None:
        lengths = np.minimum(lengths, width)
    w = max(1, int(lengths.max()) if len(rows) else 1)
    out = np.zeros((len(rows), w), dtype=np.int64)
    for i, (r, k) in enumerate(zip(rows, lengths, strict=True)):
        out[i, :k] = r[:k]
    return out
