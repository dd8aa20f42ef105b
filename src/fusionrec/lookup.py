"""IdIndex: the one id -> row lookup (a table's rows by id), sorted once, searched per call."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError

IntArray = npt.NDArray[np.int64]


class IdIndex:
    """Rows of an id column by id; for repeated ids, the first row."""

    def __init__(self, column: npt.ArrayLike) -> None:
        ids = np.asarray(column)
        self.order: IntArray = np.argsort(ids, kind="stable").astype(np.int64)
        self.sorted_ids = ids[self.order]

    def find(self, ids: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Each id's row (meaningless where not found) and whether it was found."""
        query = np.asarray(ids)
        if len(self.sorted_ids) == 0:
            return np.zeros(len(query), dtype=np.int64), np.zeros(len(query), dtype=bool)
        pos = np.minimum(np.searchsorted(self.sorted_ids, query), len(self.sorted_ids) - 1)
        return self.order[pos], self.sorted_ids[pos] == query

    def rows(self, ids: npt.ArrayLike, what: str = "id") -> IntArray:
        """Each id's row; an unknown id raises :class:`ValidationError` naming the first."""
        rows, found = self.find(ids)
        if not np.all(found):
            bad = np.asarray(ids)[np.argmin(found)]
            raise ValidationError(f"unknown {what} {bad!r} ({int(np.sum(~found))} unknown)")
        return rows


def id_rows(column: npt.ArrayLike, ids: npt.ArrayLike, what: str = "id") -> IntArray:
    """Rows of ``ids`` in the id ``column`` (see :class:`IdIndex`)."""
    return IdIndex(column).rows(ids, what)
