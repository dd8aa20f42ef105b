"""The compiled training loops against plain numpy on random data with repeated indices."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec.train import kernels as k

RNG = np.random.default_rng(7)


def _floats(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def test_scatter_add_sums_repeated_rows() -> None:
    index = np.array([3, 0, 3, 3, 5], dtype=np.int64)
    values = _floats(5, 4)
    expected = np.zeros((6, 4), dtype=np.float32)
    np.add.at(expected, index, values)
    np.testing.assert_allclose(k.scatter_add(6, index, values), expected, rtol=1e-6)
    out = np.ones((6, 4), dtype=np.float32)
    k.scatter_add_into(out, index, values)
    np.testing.assert_allclose(out, expected + 1, rtol=1e-6)


def test_pool_rows_and_its_gradient() -> None:
    table = _floats(7, 3)
    index = RNG.integers(0, 7, size=(5, 4)).astype(np.int64)
    np.testing.assert_allclose(k.pool_rows(table, index), table[index].sum(axis=1), rtol=1e-5)
    grad = _floats(5, 3)
    expected = np.zeros_like(table)
    np.add.at(expected, index.reshape(-1), np.repeat(grad, 4, axis=0))
    np.testing.assert_allclose(k.pool_rows_backward(7, index, grad), expected, rtol=1e-5)


def test_unit_rows_of_a_column_range() -> None:
    x = _floats(6, 10)
    x[2, 3:8] = 0.0  # an all-zero row: the norm is clipped, the output stays zero
    unit, norms = k.unit_rows(x, 3, 8)
    raw = np.linalg.norm(x[:, 3:8], axis=1)
    np.testing.assert_allclose(norms, np.maximum(raw, 1e-12), rtol=1e-5)
    np.testing.assert_allclose(unit, x[:, 3:8] / norms[:, None], rtol=1e-5, atol=1e-7)
    assert not unit[2].any()


def test_pair_cosines_and_their_gradient() -> None:
    u, _ = k.unit_rows(_floats(4, 6), 0, 6)
    m, _ = k.unit_rows(_floats(3, 6), 0, 6)
    ui = np.array([0, 1, 1, 3, 0], dtype=np.int64)
    mi = np.array([2, 2, 0, 1, 2], dtype=np.int64)
    cos = k.pair_cosines(u, m, ui, mi)
    np.testing.assert_allclose(cos, np.einsum("ij,ij->i", u[ui], m[mi]), rtol=1e-5)
    dcos = _floats(5)
    du, dm = np.zeros_like(u), np.zeros_like(m)
    k.pair_cosines_backward(u, m, ui, mi, dcos, du, dm)
    want_u, want_m = np.zeros_like(u), np.zeros_like(m)
    np.add.at(want_u, ui, dcos[:, None] * m[mi])
    np.add.at(want_m, mi, dcos[:, None] * u[ui])
    np.testing.assert_allclose(du, want_u, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dm, want_m, rtol=1e-5, atol=1e-7)


def test_unit_rows_backward_is_the_gradient_through_normalize_and_tanh() -> None:
    z = _floats(5, 8).astype(np.float64)
    y = np.tanh(z)
    weights = _floats(5, 3).astype(np.float64)

    def loss(zz: np.ndarray) -> float:  # sum(w * unit(tanh(z)[:, 2:5]))
        part = np.tanh(zz)[:, 2:5]
        return float((weights * part / np.linalg.norm(part, axis=1, keepdims=True)).sum())

    unit, norms = k.unit_rows(y.astype(np.float32), 2, 5)
    out = np.zeros((5, 8), dtype=np.float32)
    k.unit_rows_backward(weights.astype(np.float32), unit, norms, y.astype(np.float32), out, 2)
    numeric = np.zeros_like(z)
    for i in range(5):
        for j in range(8):
            step = np.zeros_like(z)
            step[i, j] = 1e-6
            numeric[i, j] = (loss(z + step) - loss(z - step)) / 2e-6
    np.testing.assert_allclose(out, numeric, atol=1e-4)


def test_gather_tanh_backward() -> None:
    grad, t = _floats(3, 4), np.tanh(_floats(6, 4))
    owner = np.array([0, 0, 1, 2, 2, 2], dtype=np.int64)
    np.testing.assert_allclose(
        k.gather_tanh_backward(grad, owner, t), grad[owner] * (1 - t * t), rtol=1e-6
    )


@pytest.mark.parametrize("space", [1, 9, 40, 100_000])
def test_unique_inverse_matches_numpy(space: int) -> None:
    keys = RNG.integers(0, space, size=25).astype(np.int64)
    unique, inverse = k.unique_inverse(keys, space)
    want_unique, want_inverse = np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(unique, want_unique)
    np.testing.assert_array_equal(inverse, want_inverse)


def test_gather_segments() -> None:
    table = np.arange(20, dtype=np.int64).reshape(10, 2)
    start = np.array([0, 2, 2, 7], dtype=np.int64)
    count = np.array([2, 0, 5, 3], dtype=np.int64)
    rows = np.array([3, 1, 0, 3], dtype=np.int64)
    out, owner = k.gather_segments(table, start, count, rows)
    np.testing.assert_array_equal(out, table[[7, 8, 9, 0, 1, 7, 8, 9]])
    np.testing.assert_array_equal(owner, [0, 0, 0, 2, 2, 3, 3, 3])


def test_sgd_update_in_place() -> None:
    weights, grad = _floats(12), _floats(12)
    expected = weights - np.float32(0.2) * (grad + np.float32(0.01) * weights)
    k.sgd_update(weights, grad, 0.2, 0.01)
    np.testing.assert_allclose(weights, expected, rtol=1e-6)


@pytest.mark.parametrize("decay", [0.0, 3e-4])
def test_adam_update_gives_numpys_float32_results_to_the_bit(decay: float) -> None:
    w, g, m = _floats(999), _floats(999), _floats(999) * 0.1
    v = np.abs(_floats(999)) * 0.01
    step, eps, wd = np.float32(7e-4), np.float32(3e-9), np.float32(decay)
    grad = g + wd * w if decay else g
    want_m = m * np.float32(0.9) + np.float32(1.0 - 0.9) * grad
    want_v = v * np.float32(0.999) + np.float32(1.0 - 0.999) * (grad * grad)
    want_w = w - step * want_m / (np.sqrt(want_v) + eps)
    k.adam_update(w, g, m, v, step, 0.9, 0.999, eps, wd)
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(v, want_v)
    np.testing.assert_array_equal(w, want_w)


def test_moving_average_gives_numpys_float32_results_to_the_bit() -> None:
    average, weights, decay = _floats(999), _floats(999), np.float32(0.37)
    want = average * decay + (np.float32(1.0) - decay) * weights
    k.moving_average(average, weights, decay)
    np.testing.assert_array_equal(average, want)


@pytest.mark.parametrize("log_q", [True, False])
@pytest.mark.parametrize("mask", [True, False])
def test_sampled_softmax_rows_matches_sampled_softmax(log_q: bool, mask: bool) -> None:
    from fusionrec.train.losses import sampled_softmax

    b = 64
    logits = _floats(b, b) * np.float32(5.0)
    movie = RNG.integers(0, 20, b).astype(np.int64)  # repeats: accidental hits to mask
    lq = (RNG.random(b) * -6.0).astype(np.float32)
    want_loss, want_grad = sampled_softmax(logits, movie, lq if log_q else None, mask)
    loss, grad = k.sampled_softmax_rows(
        logits, movie, lq if log_q else np.zeros(0, np.float32), log_q, mask, 0.5, NO_WEIGHT
    )
    assert grad.dtype == np.float32
    # float32 exp and row sums against the float64 reference
    assert loss == pytest.approx(want_loss, rel=1e-6)
    np.testing.assert_allclose(grad, want_grad * 0.5, rtol=2e-5, atol=1e-8)


@pytest.mark.parametrize("b", [1, 15, 16, 17, 256])
def test_sampled_softmax_rows_is_stable_for_large_logits_and_any_width(b: int) -> None:
    from fusionrec.train.losses import sampled_softmax

    logits = _floats(b, b) * np.float32(200.0)  # exp would overflow without the shift
    movie = RNG.integers(0, 3, b).astype(np.int64)  # most columns masked for every row
    lq = (RNG.random(b) * -6.0).astype(np.float32)
    want_loss, want_grad = sampled_softmax(logits, movie, lq, True)
    loss, grad = k.sampled_softmax_rows(logits, movie, lq, True, True, 1.0, NO_WEIGHT)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=2e-5, atol=1e-7)


NO_WEIGHT = np.zeros(0, np.float32)


@pytest.mark.parametrize("mask", [True, False])
def test_weighted_sampled_softmax_rows_matches_sampled_softmax(mask: bool) -> None:
    from fusionrec.train.losses import sampled_softmax

    b = 48
    logits = _floats(b, b) * np.float32(5.0)
    movie = RNG.integers(0, 15, b).astype(np.int64)
    lq = (RNG.random(b) * -6.0).astype(np.float32)
    w = (RNG.random(b) * 9.0 + 0.5).astype(np.float32)
    want_loss, want_grad = sampled_softmax(logits, movie, lq, mask, weight=w)
    loss, grad = k.sampled_softmax_rows(logits, movie, lq, True, mask, 0.5, w)
    assert loss == pytest.approx(want_loss, rel=1e-6)
    np.testing.assert_allclose(grad, want_grad * 0.5, rtol=2e-5, atol=1e-8)
    # equal weights are the plain mean
    same = k.sampled_softmax_rows(logits, movie, lq, True, mask, 0.5, np.full(b, 3.0, np.float32))
    plain = k.sampled_softmax_rows(logits, movie, lq, True, mask, 0.5, NO_WEIGHT)
    assert same[0] == pytest.approx(plain[0], rel=1e-12)
    np.testing.assert_allclose(same[1], plain[1], rtol=1e-6, atol=1e-9)


def test_lazy_adam_rows_updates_touched_rows_as_adam_and_leaves_the_rest() -> None:
    w, g, m = _floats(6, 5), _floats(6, 5), _floats(6, 5) * 0.1
    v = np.abs(_floats(6, 5)) * 0.01
    g[[1, 4]] = 0.0  # rows no lookup touched
    g[2, :4] = 0.0  # touched, with one nonzero entry
    want = [a.copy() for a in (w, g, m, v)]
    step, eps, wd = np.float32(7e-4), np.float32(3e-9), np.float32(3e-4)
    for r in (0, 2, 3, 5):
        k.adam_update(want[0][r], want[1][r], want[2][r], want[3][r], step, 0.9, 0.999, eps, wd)
    before = [a.copy() for a in (w, m, v)]
    k.lazy_adam_rows(w, g, m, v, step, 0.9, 0.999, eps, wd)
    for got, expected, old in zip((w, m, v), (want[0], want[2], want[3]), before, strict=True):
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got[[1, 4]], old[[1, 4]])


def test_unique_inverse_of_few_keys_in_a_large_space_repeats_and_sorts() -> None:
    keys = RNG.choice([5, 99_000, 7, 123_456, 7], size=40).astype(np.int64)
    unique, inverse = k.unique_inverse(keys, 200_000)  # by sorting, not a 200k table
    want_unique, want_inverse = np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(unique, want_unique)
    np.testing.assert_array_equal(inverse, want_inverse)


@pytest.mark.parametrize(("per", "skip"), [(1, -1), (1, 0), (3, 0)])
def test_scatter_rows_gives_the_dense_scatters_sums_to_the_bit(per: int, skip: int) -> None:
    index = RNG.integers(0, 9, size=60).astype(np.int64)  # many repeats, some of them skip
    values = _floats(60 // per, 5)
    rows, sums = k.scatter_rows(index, values, per, skip)
    if per == 1:
        dense = k.scatter_add(9, index, values)
    else:
        dense = k.pool_rows_backward(9, index.reshape(-1, per), values)
    if skip >= 0:
        dense[skip] = 0.0
    assert len(set(rows.tolist())) == len(rows)  # distinct, in order of first appearance
    assert rows.tolist() == list(dict.fromkeys(i for i in index.tolist() if i != skip))
    np.testing.assert_array_equal(sums, dense[rows])
    untouched = np.setdiff1d(np.arange(9), rows)
    assert not dense[untouched].any()


def test_scatter_rows_of_nothing() -> None:
    rows, sums = k.scatter_rows(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), 1, -1)
    assert rows.shape == (0,) and sums.shape == (0, 4)


def test_pad_skipping_pools_and_gathers_equal_a_zeroed_pad_row_to_the_bit() -> None:
    table = _floats(8, 4)
    index = RNG.integers(0, 8, size=(7, 5)).astype(np.int64)
    index[:, -2:] = 0  # padding
    zeroed = table.copy()
    zeroed[0] = 0.0
    np.testing.assert_array_equal(k.pool_rows(table, index, 0), k.pool_rows(zeroed, index))
    np.testing.assert_array_equal(
        k.gather_rows_except(table, index, 0), zeroed[index].reshape(7, 20)
    )


def test_add_pooled_bias_is_numpys_sum_to_the_bit() -> None:
    z, table, bias = _floats(6, 5), _floats(9, 5), _floats(5)
    index = RNG.integers(0, 9, size=(6, 3)).astype(np.int64)
    want = (z + k.pool_rows(table, index)) + bias
    k.add_pooled_bias(z, table, index, bias)
    np.testing.assert_array_equal(z, want)


def test_sgd_rows_is_the_dense_update_without_decay_to_the_bit() -> None:
    w, rows, values = _floats(10, 4), np.array([7, 2, 5], dtype=np.int64), _floats(3, 4)
    dense, grad = w.copy(), np.zeros_like(w)
    grad[rows] = values
    k.sgd_update(dense.reshape(-1), grad.reshape(-1), 0.2, 0.0)
    k.sgd_rows(w, rows, values, 0.2, 0.0)
    np.testing.assert_array_equal(w, dense)


@pytest.mark.parametrize("decay", [0.0, 3e-4])
@pytest.mark.parametrize("lazy", [False, True])
def test_adam_rows_equals_adam_on_the_dense_gradient_to_the_bit(decay: float, lazy: bool) -> None:
    w, m = _floats(12, 5), _floats(12, 5) * 0.1
    v = np.abs(_floats(12, 5)) * 0.01
    rows, values = np.array([9, 0, 4, 6], dtype=np.int64), _floats(4, 5)
    values[3] = 0.0  # a touched row whose gradient sums to zero: lazy Adam skips it
    grad = np.zeros_like(w)
    grad[rows] = values
    want = [a.copy() for a in (w, m, v)]
    step, eps, wd = np.float32(7e-4), np.float32(3e-9), np.float32(decay)
    if lazy:
        k.lazy_adam_rows(*want[:1], grad, *want[1:], step, 0.9, 0.999, eps, wd)
    else:
        flat = [a.reshape(-1) for a in want]
        k.adam_update(flat[0], grad.reshape(-1), flat[1], flat[2], step, 0.9, 0.999, eps, wd)
    k.adam_rows(w, rows, values, m, v, step, 0.9, 0.999, eps, wd, lazy)
    for got, expected in zip((w, m, v), want, strict=True):
        np.testing.assert_array_equal(got, expected)
