"""Row blocks: passes over whole tables in slices of bounded size, so memory stays bounded.

A tower over 162k users, a score matrix over a 62k-item catalog or a gather of a million
rating pairs would otherwise hold every intermediate of every row at once (gigabytes at
ml-25m's scale). Each row's result depends only on that row, so running the rows in blocks
and writing each block's result into one output array gives the same numbers, to the bit
when the blocks line up with the row groups of the BLAS kernels (see :func:`row_blocks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.features.schema import Features

#: Rows per block of a pass over a table (tower forwards, pair gathers).
BLOCK_ROWS = 8192

#: Block sizes are multiples of this; BLAS kernels work on row groups that divide it.
ALIGN = 64

#: Cells (rows x items) per block of a score matrix over the catalog.
BLOCK_CELLS = 1 << 21


def row_blocks(n: int, size: int | None = None) -> Iterator[slice]:
    """Consecutive slices of ``size`` (default :data:`BLOCK_ROWS`) rows covering ``range(n)``.

    ``size`` is rounded up to a multiple of :data:`ALIGN` and the last block takes a
    remainder of fewer than :data:`ALIGN` rows, so every block starts where a one-pass
    matrix product's row groups start and none has a single row (BLAS computes a row alone,
    or in a ragged group, with other instructions that differ in the last bit).
    """
    size = block_rows(size)
    stop = 0
    while stop < n:
        start, stop = stop, stop + size
        if n - stop < ALIGN:
            stop = n
        yield slice(start, stop)


def feature_rows(features: Features, rows: slice) -> Features:
    """The rows ``rows`` of ``features``, as views (no copy); ``features`` itself when
    ``rows`` is all of them (a table that fits in one block)."""
    if rows == slice(0, len(features)):
        return features
    return Features({name: column[rows] for name, column in features.columns.items()})


def map_blocks(
    fn: Callable[[slice], npt.NDArray[Any]], n: int, size: int | None = None
) -> npt.NDArray[Any]:
    """``fn`` over the row blocks of ``range(n)``, stacked: ``fn(slice(0, n))`` in bounded memory.

    ``fn`` maps a slice of rows to an array with one leading row per row of the slice. With
    ``n <= size`` (default :data:`BLOCK_ROWS`) it is called once on the whole range (so an
    empty table still gets its result's shape from ``fn``).
    """
    size = block_rows(size)
    if n <= size:
        return fn(slice(0, n))
    out: npt.NDArray[Any] | None = None
    for rows in row_blocks(n, size):
        part = fn(rows)
        if out is None:
            out = np.empty((n, *part.shape[1:]), dtype=part.dtype)
        out[rows] = part
    assert out is not None
    return out


def block_rows(size: int | None = None) -> int:
    """``size`` (default :data:`BLOCK_ROWS` as it is now: tests shrink it to exercise
    blocking) rounded up to a multiple of :data:`ALIGN`."""
    size = BLOCK_ROWS if size is None else size
    return -(-max(size, 1) // ALIGN) * ALIGN


def score_rows(n_items: int, cells: int | None = None) -> int:
    """Rows per block of a [rows, n_items] score matrix of about ``cells`` (default
    :data:`BLOCK_CELLS`) cells."""
    return max(1, (BLOCK_CELLS if cells is None else cells) // max(n_items, 1))
