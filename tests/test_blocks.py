"""Row blocks: slices cover a range once, in order; blocked maps equal the one-pass result."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec import blocks
from fusionrec.blocks import ALIGN, block_rows, feature_rows, map_blocks, row_blocks, score_rows
from fusionrec.features import Features


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 127, 128, 129, 191, 192, 300])
def test_row_blocks_cover_the_range_once_aligned_and_never_one_row_alone(n: int) -> None:
    parts = list(row_blocks(n, 64))
    covered = [i for s in parts for i in range(s.start, s.stop)]
    assert covered == list(range(n))
    assert all(s.start % 64 == 0 for s in parts)
    assert all(64 <= s.stop - s.start < 128 for s in parts[:-1] if n >= 64)
    if len(parts) > 1:
        assert parts[-1].stop - parts[-1].start >= ALIGN


def test_block_size_is_a_multiple_of_align() -> None:
    assert block_rows(1) == ALIGN
    assert block_rows(65) == 2 * ALIGN
    assert block_rows(8192) == 8192


@pytest.mark.parametrize("n", [0, 1, 64, 100, 130, 200])
def test_map_blocks_equals_one_pass(n: int) -> None:
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    calls: list[slice] = []

    def fn(rows: slice) -> np.ndarray:
        calls.append(rows)
        return np.tanh(x[rows] * 2.0)

    got = map_blocks(fn, n, size=64)
    np.testing.assert_array_equal(got, np.tanh(x * 2.0))
    assert got.shape == (n, 4) and got.dtype == np.float32
    assert len(calls) == len(list(row_blocks(n, 64))) or n <= 64


def test_matrix_products_in_blocks_are_bit_identical() -> None:
    """The reason for the alignment: a product over aligned blocks equals the one-pass one."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(257, 48)).astype(np.float32)
    w = rng.normal(size=(48, 24)).astype(np.float32)
    np.testing.assert_array_equal(map_blocks(lambda rows: x[rows] @ w, len(x), size=64), x @ w)


def test_default_block_size_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 64)
    calls: list[slice] = []

    def fn(rows: slice) -> np.ndarray:
        calls.append(rows)
        return np.zeros(rows.stop - rows.start)

    map_blocks(fn, 200)
    assert [(s.start, s.stop) for s in calls] == [(0, 64), (64, 128), (128, 200)]


def test_feature_rows_are_views() -> None:
    features = Features({"a": np.arange(10), "b": np.arange(20).reshape(10, 2)})
    part = feature_rows(features, slice(2, 5))
    assert len(part) == 3
    np.testing.assert_array_equal(part["b"], [[4, 5], [6, 7], [8, 9]])
    assert np.shares_memory(part["a"], features["a"])


def test_score_rows_bounds_the_cells() -> None:
    assert score_rows(62_423, cells=1 << 21) == 33
    assert score_rows(10, cells=100) == 10
    assert score_rows(1_000, cells=10) == 1  # at least one row
