"""Exact 64-bit ids: the int64 bounds and the one check that turns ids into an int64 array.

A float, a bool or a value outside int64 is refused with a ValidationError, never rounded or
wrapped (``recommend(1.7)`` was once served as user 1, and ``2**63`` stored as ``-2**63``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

IdArray = npt.NDArray[np.int64]
_INT64 = np.dtype(np.int64)


def exact_ids(ids: Any, what: str = "ids") -> IdArray:
    """One id or a 1-D collection of ids (list, tuple, range, array, Series) as int64.

    An array is checked by its dtype; anything else id by id, so a ``True`` or a ``1.0`` among
    Python ints (which numpy would quietly turn into an integer array) is refused too.
    """
    if ids.__class__ is np.ndarray and ids.dtype is _INT64 and ids.ndim == 1:
        return ids  # already exact (a known user's seen items, on every recommend())
    if not isinstance(ids, np.ndarray):
        if isinstance(ids, Iterable) and not isinstance(ids, (str, bytes, Mapping)):
            values = list(ids)
            if values and any(isinstance(v, (list, tuple, np.ndarray)) for v in values):
                raise ValidationError(f"{what} must be one id or a 1-D sequence")
        else:
            values = [ids]
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return _python_ids(out, what)
    arr = ids.reshape(1) if ids.ndim == 0 else ids
    if arr.ndim != 1:
        raise ValidationError(f"{what} must be one id or a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == np.object_:
        return _python_ids(arr, what)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValidationError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and int(arr.max()) > INT64_MAX:
        raise ValidationError(_outside(what, int(arr.max())))
    return arr.astype(np.int64, copy=False)


def _python_ids(values: npt.NDArray[np.object_], what: str) -> IdArray:
    """Ids given as Python objects: each must be an int (not a bool) within int64."""
    out = np.empty(values.size, dtype=np.int64)
    for pos, value in enumerate(values.tolist()):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            kind = type(value).__name__
            raise ValidationError(
                f"{what} must be integers, got {value!r:.60} ({kind}) at position {pos}"
            )
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise ValidationError(_outside(what, int(value)) + f" (position {pos})")
        out[pos] = int(value)
    return out


def plain(value: Any) -> Any:
    """A numpy scalar as its Python value, so a message shows ``'c'``, not ``np.str_('c')``."""
    return value.item() if isinstance(value, np.generic) else value


def _outside(what: str, value: int) -> str:
    return f"{what} hold {value}, outside the 64-bit range of int64 ids"
