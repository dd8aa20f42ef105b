"""Which movies each user has already rated, kept compactly so ``exclude_seen`` is cheap."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fusionrec.catalog import int_array
from fusionrec.data.tables import Ratings
from fusionrec.serve.model_dir import read_npz, reading


class SeenItems:
    """A read-only user -> rated-movie-ids index in CSR form (sorted users, offsets, movies)."""

    def __init__(
        self,
        users: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        movies: npt.NDArray[np.int64],
    ) -> None:
        self._users = users
        self._offsets = offsets
        self._movies = movies

    @classmethod
    def from_ratings(cls, ratings: Ratings) -> SeenItems:
        """Index the (user, movie) pairs of a rating table; duplicates collapse."""
        pairs = np.unique(np.stack([ratings.user_id, ratings.movie_id], axis=1), axis=0)
        users, starts = np.unique(pairs[:, 0], return_index=True)
        offsets = np.append(starts, len(pairs)).astype(np.int64)
        return cls(users.astype(np.int64), offsets, pairs[:, 1].astype(np.int64))

    def add(self, ratings: Ratings) -> SeenItems:
        """A new index holding these pairs and the given ratings' pairs."""
        old = Ratings(
            user_id=np.repeat(self._users, np.diff(self._offsets)),
            movie_id=self._movies,
            rating=np.zeros(len(self._movies), dtype=np.float32),
            timestamp=np.zeros(len(self._movies), dtype=np.int64),
        )
        merged = Ratings(
            user_id=np.concatenate([old.user_id, ratings.user_id]),
            movie_id=np.concatenate([old.movie_id, ratings.movie_id]),
            rating=np.concatenate([old.rating, ratings.rating]),
            timestamp=np.concatenate([old.timestamp, ratings.timestamp]),
        )
        return SeenItems.from_ratings(merged)

    def __len__(self) -> int:
        return len(self._movies)

    def has_user(self, user_id: int) -> bool:
        """Whether the user rated anything."""
        pos = int(np.searchsorted(self._users, user_id))
        return pos < len(self._users) and int(self._users[pos]) == user_id

    def of(self, user_id: int) -> npt.NDArray[np.int64]:
        """The movie ids the user rated (empty for an unknown user)."""
        pos = int(np.searchsorted(self._users, user_id))
        if pos >= len(self._users) or int(self._users[pos]) != user_id:
            return np.empty(0, dtype=np.int64)
        return self._movies[self._offsets[pos] : self._offsets[pos + 1]]

    def save(self, path: Path) -> None:
        """Write as an uncompressed ``.npz`` (no pickles)."""
        buffer = io.BytesIO()
        np.savez(buffer, users=self._users, offsets=self._offsets, movies=self._movies)
        path.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> SeenItems:
        """Read what :meth:`save` wrote, checking that the offsets describe the arrays.

        Users must be strictly increasing and offsets run from 0 to the number of movies
        without decreasing; anything else is a ModelDirError naming the file.
        """
        arrays = read_npz(path)
        with reading(path):
            users, offsets, movies = (arrays[k] for k in ("users", "offsets", "movies"))
            int_array(users, "users")
            int_array(offsets, "offsets", len(users) + 1)
            int_array(movies, "movies")
            if np.any(np.diff(users) <= 0):
                raise ValueError("users are not strictly increasing")
            if offsets[0] != 0 or offsets[-1] != len(movies) or np.any(np.diff(offsets) < 0):
                raise ValueError(f"offsets must rise from 0 to {len(movies)} (the movie count)")
            return cls(users, offsets, movies)
