"""IdIndex: rows by id, through its vectorized search and its dict for a few ids."""

from __future__ import annotations

import numpy as np

from fusionrec.lookup import IdIndex


def test_few_rows_agrees_with_find_and_gives_the_first_of_repeated_ids() -> None:
    index = IdIndex(np.array([7, 3, 9, 3, 1], dtype=np.int64))
    rows, found = index.find(np.array([3, 9, 1, 7]))
    assert found.all()
    assert index.few_rows([3, 9, 1, 7]) == rows.tolist() == [1, 2, 4, 0]


def test_few_rows_is_none_when_an_id_is_unknown() -> None:
    index = IdIndex(np.array(["a", "b"], dtype=object))
    assert index.few_rows(["b", "a"]) == [1, 0]
    assert index.few_rows(["b", "zzz"]) is None
    assert index.few_rows([]) == []
