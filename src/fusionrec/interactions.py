"""Which items each user has already interacted with, kept compactly so ``exclude_seen`` is cheap.

Users are keyed by their id (int64 or str); items by their int64 store key (the item id, or
for string item ids the item's row in the recommender's catalog).
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.catalog import int_array, pack_strings, unpack_strings
from fusionrec.data.dataset import entity_ids
from fusionrec.data.tables import Ratings
from fusionrec.serve.model_dir import read_npz, reading


class SeenItems:
    """A read-only user -> item-keys index in CSR form (sorted users, offsets, item keys)."""

    def __init__(
        self,
        users: npt.NDArray[Any],
        offsets: npt.NDArray[np.int64],
        movies: npt.NDArray[np.int64],
    ) -> None:
        self._users = users
        self._offsets = offsets
        self._movies = movies
        self._string_users = users.dtype == np.object_

    @classmethod
    def from_pairs(cls, user_ids: npt.ArrayLike, item_keys: npt.ArrayLike) -> SeenItems:
        """Index (user id, item key) pairs; duplicates collapse."""
        users = entity_ids(user_ids, "user ids")
        items = np.asarray(item_keys, dtype=np.int64)
        if len(users) == 0:
            return cls(users, np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int64))
        names, codes = np.unique(users, return_inverse=True)
        pairs = np.unique(np.stack([codes.astype(np.int64).ravel(), items], axis=1), axis=0)
        first, starts = np.unique(pairs[:, 0], return_index=True)
        offsets = np.append(starts, len(pairs)).astype(np.int64)
        return cls(names[first], offsets, pairs[:, 1].astype(np.int64))

    @classmethod
    def from_ratings(cls, ratings: Ratings) -> SeenItems:
        """Index the (user, movie) pairs of a MovieLens rating table."""
        return cls.from_pairs(ratings.user_id, ratings.movie_id)

    def add_pairs(self, user_ids: npt.ArrayLike, item_keys: npt.ArrayLike) -> SeenItems:
        """A new index holding these pairs and the given ones."""
        users = entity_ids(user_ids, "user ids")
        if len(self._users) and len(users) and (users.dtype == np.object_) != self._string_users:
            kind = "strings" if self._string_users else "integers"
            raise ValueError(f"the seen index's user ids are {kind}; the new ones are not")
        old = np.repeat(self._users, np.diff(self._offsets))
        merged = np.concatenate([old, users]) if len(old) else users
        return SeenItems.from_pairs(
            merged, np.concatenate([self._movies, np.asarray(item_keys, dtype=np.int64)])
        )

    def add(self, ratings: Ratings) -> SeenItems:
        """A new index holding these pairs and the given ratings' pairs."""
        return self.add_pairs(ratings.user_id, ratings.movie_id)

    def __len__(self) -> int:
        return len(self._movies)

    def _position(self, user_id: Any) -> int | None:
        if isinstance(user_id, str) != self._string_users or len(self._users) == 0:
            return None
        pos = int(np.searchsorted(self._users, user_id))
        if pos < len(self._users) and self._users[pos] == user_id:
            return pos
        return None

    def has_user(self, user_id: int | str) -> bool:
        """Whether the user interacted with anything."""
        return self._position(user_id) is not None

    def of(self, user_id: int | str) -> npt.NDArray[np.int64]:
        """The item keys the user interacted with (empty for an unknown user)."""
        pos = self._position(user_id)
        if pos is None:
            return np.empty(0, dtype=np.int64)
        return self._movies[self._offsets[pos] : self._offsets[pos + 1]]

    def save(self, path: Path) -> None:
        """Write as an uncompressed ``.npz`` (no pickles; string user ids as UTF-8 bytes)."""
        arrays: dict[str, Any] = {"offsets": self._offsets, "movies": self._movies}
        if self._string_users:
            arrays["user_bytes"], arrays["user_offsets"] = pack_strings(self._users.tolist())
        else:
            arrays["users"] = self._users
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> SeenItems:
        """Read what :meth:`save` wrote, checking that the offsets describe the arrays.

        Users must be strictly increasing and offsets run from 0 to the number of items
        without decreasing; anything else is a ModelDirError naming the file.
        """
        arrays = read_npz(path)
        with reading(path):
            offsets, movies = arrays.pop("offsets"), arrays.pop("movies")
            users: npt.NDArray[Any]
            if "users" in arrays:
                users = int_array(arrays.pop("users"), "users")
                increasing = not np.any(np.diff(users) <= 0)
            else:
                names = unpack_strings(arrays.pop("user_bytes"), arrays.pop("user_offsets"))
                users = np.empty(len(names), dtype=object)
                users[:] = names
                increasing = all(a < b for a, b in itertools.pairwise(names)) and all(names)
            if arrays:
                raise ValueError(f"unexpected arrays {sorted(arrays)}")
            int_array(offsets, "offsets", len(users) + 1)
            int_array(movies, "movies")
            if not increasing:
                raise ValueError("users are not strictly increasing")
            if offsets[0] != 0 or offsets[-1] != len(movies) or np.any(np.diff(offsets) < 0):
                raise ValueError(f"offsets must rise from 0 to {len(movies)} (the movie count)")
            return cls(users, offsets, movies)
