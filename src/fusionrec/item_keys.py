"""Item ids <-> the int64 keys a store holds them under.

An int id is its own key; a string id's key is the item's row in the append-only catalog, so
keys never move when items are added.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.data.dataset import EntityIds, Table
from fusionrec.errors import ValidationError
from fusionrec.ids import plain
from fusionrec.lookup import IdIndex


def item_keys(
    items: Table, index: IdIndex, item_ids: npt.ArrayLike, *, check: bool = False
) -> npt.NDArray[np.int64]:
    """Store keys of item ids: an int id itself, a string id its catalog row.

    Unknown string ids have no key and are left out (unknown ints keep theirs); with
    ``check`` any unknown id is a ValidationError.
    """
    ids = np.asarray(item_ids)
    if check or items.string_ids or ids.dtype.kind in "OUS":
        rows, found = index.find(ids)
        if check and not np.all(found):
            bad = ids[np.argmin(found)]
            raise ValidationError(
                f"unknown item id {plain(bad)!r}: it is not in the catalog "
                "(add it with add_items())"
            )
        return rows[found] if items.string_ids else np.asarray(ids[found], dtype=np.int64)
    return np.asarray(ids, dtype=np.int64)


def key_decoder(items: Table) -> Any:
    """A function from a store key to the item id (identity for int ids)."""
    if not items.string_ids:
        return int
    ids = items.ids

    def decode(key: int) -> int | str:
        return str(ids[key]) if 0 <= key < len(ids) else int(key)

    return decode


def key_rows(items: Table, index: IdIndex) -> Any:
    """A function from store keys to catalog rows (keys not in the catalog dropped)."""
    if items.string_ids:
        return lambda keys: keys[(keys >= 0) & (keys < len(items))]

    def rows(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        found_rows, found = index.find(keys)
        return found_rows[found]

    return rows


def item_rows(index: IdIndex, item_ids: EntityIds) -> npt.NDArray[np.int64]:
    """Catalog rows of item ids; an unknown id is a ValidationError naming it."""
    rows, found = index.find(item_ids)
    if not np.all(found):
        bad = plain(item_ids[np.argmin(found)])
        raise ValidationError(
            f"unknown item id {bad!r}: it is not in the catalog (add it with add_items())"
        )
    return rows
