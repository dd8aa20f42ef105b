from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionrec.data import Ratings
from fusionrec.interactions import SeenItems


def _ratings(pairs: list[tuple[int, int]]) -> Ratings:
    users, movies = zip(*pairs, strict=True)
    n = len(pairs)
    return Ratings(
        user_id=np.asarray(users, dtype=np.int64),
        movie_id=np.asarray(movies, dtype=np.int64),
        rating=np.full(n, 4.0, dtype=np.float32),
        timestamp=np.arange(n, dtype=np.int64),
    )


def test_seen_items_per_user_and_unknown_user() -> None:
    seen = SeenItems.from_ratings(_ratings([(3, 10), (1, 5), (3, 2), (3, 10), (1, 7)]))
    assert seen.of(3).tolist() == [2, 10]
    assert seen.of(1).tolist() == [5, 7]
    assert seen.of(2).tolist() == []
    assert seen.of(99).tolist() == []
    assert seen.has_user(1) and not seen.has_user(2)
    assert len(seen) == 4


def test_add_merges_without_duplicates() -> None:
    seen = SeenItems.from_ratings(_ratings([(1, 5)])).add(_ratings([(1, 5), (1, 6), (2, 1)]))
    assert seen.of(1).tolist() == [5, 6]
    assert seen.of(2).tolist() == [1]


def test_save_load_round_trip(tmp_path: Path) -> None:
    seen = SeenItems.from_ratings(_ratings([(4, 1), (4, 3), (9, 2)]))
    seen.save(tmp_path / "seen.npz")
    back = SeenItems.load(tmp_path / "seen.npz")
    assert back.of(4).tolist() == [1, 3] and back.of(9).tolist() == [2]


def test_string_user_ids_round_trip(tmp_path: Path) -> None:
    seen = SeenItems.from_pairs(["bob", "alice", "bob"], [3, 1, 4]).add_pairs(["carol"], [0])
    assert seen.of("bob").tolist() == [3, 4] and seen.of("alice").tolist() == [1]
    assert seen.has_user("carol") and not seen.has_user("dave") and not seen.has_user(1)
    seen.save(tmp_path / "seen.npz")
    back = SeenItems.load(tmp_path / "seen.npz")
    assert back.of("bob").tolist() == [3, 4] and len(back) == 4
