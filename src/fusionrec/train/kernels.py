"""Compiled loops for the training step, where numpy has no single fast call.

Scatter-adds (``out[index[i]] += values[i]``, the gradient of every lookup and per-row
gather), row normalization and its gradient, and the per-rating cosines are each several
numpy calls with full-size temporaries, or ``np.add.at`` at a few nanoseconds per element.
Each loop here does the same sums in one pass over the data, without temporaries, and
releases the GIL. The matrix products stay with numpy's BLAS.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
EPS = np.float32(1e-12)  # paddle.nn.functional.normalize's epsilon

# reassociation lets LLVM vectorize the row sums; NaN and infinity keep their IEEE meaning
_jit = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "arcp", "nsz"})


# Inner loops run over row views (``out[i]``, ``x[i, a:b]``): LLVM vectorizes those, while
# two-index element access in the inner loop stays scalar and is several times slower.


@_jit
def scatter_add_into(out: F32, index: I64, values: F32) -> None:  # pragma: no cover - compiled
    """``out[index[i]] += values[i]`` for every row ``i`` of the 2-D ``values``, in order."""
    for i in range(values.shape[0]):
        dst, src = out[index[i]], values[i]
        for j in range(src.shape[0]):
            dst[j] += src[j]


def scatter_add(rows: int, index: I64, values: F32) -> F32:
    """``out[index[i]] += values[i]`` into a zero ``[rows, width]`` table."""
    v = np.ascontiguousarray(values, dtype=np.float32)
    v = v.reshape(len(index), -1) if len(index) else v.reshape(0, v.shape[-1] if v.ndim > 1 else 1)
    out = np.zeros((rows, v.shape[1]), dtype=np.float32)
    scatter_add_into(out, np.ascontiguousarray(index, dtype=np.int64), v)
    return out


@_jit
def _scatter_pooled(out: F32, index: I64, values: F32, per: int) -> None:  # pragma: no cover
    """``out[index[i * per + k]] += values[i]`` for every ``k < per``, in index order.

    A loop of its own: inlined into :func:`scatter_rows` LLVM vectorizes it several times
    worse."""
    for i in range(values.shape[0]):
        src = values[i]
        for k in range(per):
            dst = out[index[i * per + k]]
            for j in range(src.shape[0]):
                dst[j] += src[j]


@_jit
def scatter_rows(
    index: I64, values: F32, per: int, skip: int
) -> tuple[I64, F32]:  # pragma: no cover
    """:func:`scatter_add` without the table: the distinct rows an index touches, and their sums.

    Entry ``e`` of the flat ``index`` adds ``values[e // per]`` to its row (``per > 1``: a row
    of ``values`` per ``per`` entries, as a sum-pool's gradient); entries equal to ``skip``
    (PAD, or -1 for none) add nothing. Rows come in order of first appearance; each row's sum
    adds its entries in index order from zero, the same float sums as the table
    :func:`scatter_add` fills, at a cost proportional to the entries rather than the table.
    """
    n = index.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    slot = np.full(size, -1, dtype=np.int64)  # open addressing: row -> its position
    rows = np.empty(n, dtype=np.int64)
    position = np.empty(n, dtype=np.int64)
    count = 0
    for e in range(n):
        r = index[e]
        if r == skip:
            continue
        h = (r * 0x9E3779B1) & mask
        while slot[h] >= 0 and rows[slot[h]] != r:
            h = (h + 1) & mask
        if slot[h] < 0:
            slot[h] = count
            rows[count] = r
            count += 1
        position[e] = slot[h]
    for e in range(n):
        if index[e] == skip:
            position[e] = count  # a spare row that is dropped
    sums = np.zeros((count + 1, values.shape[1]), dtype=np.float32)
    _scatter_pooled(sums, position, values, per)
    return rows[:count], sums[:count]


@_jit
def pool_rows(table: F32, index: I64, skip: int = -1) -> F32:  # pragma: no cover - compiled
    """``out[i] = sum_k table[index[i, k]]``: sum-pooling of looked-up rows. Entries equal to
    ``skip`` (PAD) are left out: as if that row of ``table`` were zero, without copying the
    table to zero it."""
    out = np.zeros((index.shape[0], table.shape[1]), dtype=np.float32)
    for i in range(index.shape[0]):
        dst = out[i]
        for k in range(index.shape[1]):
            if index[i, k] == skip:
                continue
            src = table[index[i, k]]
            for j in range(dst.shape[0]):
                dst[j] += src[j]
    return out


@_jit
def gather_rows_except(table: F32, index: I64, skip: int) -> F32:  # pragma: no cover - compiled
    """``table[index]`` flattened per row, ``[n, k * width]``, with zeros where ``index`` is
    ``skip`` (PAD embeds as zero) without copying the table to zero that row."""
    width = table.shape[1]
    out = np.empty((index.shape[0], index.shape[1] * width), dtype=np.float32)
    for i in range(index.shape[0]):
        for k in range(index.shape[1]):
            dst = out[i, k * width : (k + 1) * width]
            if index[i, k] == skip:
                for j in range(width):
                    dst[j] = 0.0
                continue
            src = table[index[i, k]]
            for j in range(width):
                dst[j] = src[j]
    return out


@_jit
def pool_rows_backward(rows: int, index: I64, grad: F32) -> F32:  # pragma: no cover - compiled
    """Gradient of :func:`pool_rows` with respect to the table: each ``grad[i]`` to its rows."""
    out = np.zeros((rows, grad.shape[1]), dtype=np.float32)
    for i in range(index.shape[0]):
        src = grad[i]
        for k in range(index.shape[1]):
            dst = out[index[i, k]]
            for j in range(src.shape[0]):
                dst[j] += src[j]
    return out


@_jit
def dropout_mask(
    bits: npt.NDArray[np.uint16], threshold: int, keep: np.float32, out: F32
) -> None:  # pragma: no cover - compiled
    """``out[i] = keep if bits[i] >= threshold else 0`` over flat arrays: an inverted-dropout
    mask from 16 random bits per unit (``threshold = round(p * 2**16)``)."""
    limit = np.uint16(threshold)
    zero = np.float32(0.0)
    for i in range(out.shape[0]):
        out[i] = keep if bits[i] >= limit else zero


@_jit
def unit_rows(x: F32, start: int, stop: int) -> tuple[F32, F32]:  # pragma: no cover - compiled
    """Columns ``start:stop`` of ``x`` scaled to unit length, and each row's clipped norm."""
    out = np.empty((x.shape[0], stop - start), dtype=np.float32)
    norms = np.empty(x.shape[0], dtype=np.float32)
    for i in range(x.shape[0]):
        src, dst = x[i, start:stop], out[i]
        total = np.float32(0.0)
        for j in range(src.shape[0]):
            total += src[j] * src[j]
        norm = max(np.float32(math.sqrt(total)), EPS)
        norms[i] = norm
        inv = np.float32(1.0) / norm
        for j in range(src.shape[0]):
            dst[j] = src[j] * inv
    return out, norms


@_jit
def pair_cosines(u: F32, m: F32, ui: I64, mi: I64) -> F32:  # pragma: no cover - compiled
    """``out[r] = u[ui[r]] . m[mi[r]]`` for unit rows: each rating's cosine."""
    out = np.empty(len(ui), dtype=np.float32)
    for r in range(len(ui)):
        a, b = u[ui[r]], m[mi[r]]
        total = np.float32(0.0)
        for j in range(a.shape[0]):
            total += a[j] * b[j]
        out[r] = total
    return out


@_jit
def pair_cosines_backward(
    u: F32, m: F32, ui: I64, mi: I64, dcos: F32, du: F32, dm: F32
) -> None:  # pragma: no cover - compiled
    """Add the gradient of :func:`pair_cosines` (upstream ``dcos``) into ``du`` and ``dm``."""
    for r in range(len(ui)):
        a, b, g = u[ui[r]], m[mi[r]], dcos[r]
        da, db = du[ui[r]], dm[mi[r]]
        for j in range(a.shape[0]):
            da[j] += g * b[j]
            db[j] += g * a[j]


@_jit
def unit_rows_backward(
    grad: F32, unit: F32, norms: F32, y: F32, out: F32, start: int
) -> None:  # pragma: no cover - compiled
    """Gradient through :func:`unit_rows` and the tanh that made ``y``, into ``out[:, start:]``.

    ``d(x / max(|x|, eps))``: the projection term vanishes where the clip is active; then
    ``* (1 - y^2)`` for ``y = tanh(z)``.
    """
    stop = start + grad.shape[1]
    for i in range(grad.shape[0]):
        g, v, t, dst = grad[i], unit[i], y[i, start:stop], out[i, start:stop]
        proj = np.float32(0.0)
        if norms[i] > EPS:
            for j in range(g.shape[0]):
                proj += g[j] * v[j]
        inv = np.float32(1.0) / norms[i]
        for j in range(g.shape[0]):
            dst[j] = (g[j] - v[j] * proj) * inv * (1 - t[j] * t[j])


@_jit
def gather_tanh_backward(grad: F32, owner: I64, t: F32) -> F32:  # pragma: no cover - compiled
    """``grad[owner] * (1 - t^2)``: a sum-pool's gradient to each word, through its tanh."""
    out = np.empty_like(t)
    for i in range(t.shape[0]):
        g, v, dst = grad[owner[i]], t[i], out[i]
        for j in range(v.shape[0]):
            dst[j] = g[j] * (1 - v[j] * v[j])
    return out


@_jit
def unique_inverse(keys: I64, space: int) -> tuple[I64, I64]:  # pragma: no cover - compiled
    """``np.unique(keys, return_inverse=True)`` for keys in ``[0, space)``.

    A batch holds a few hundred keys out of a few thousand possible ones: marking them in a
    table beats sorting, and the result is the same (ascending unique keys). Out of far more
    (ml-25m's 162k users) the table would cost more than the batch: then by sorting.
    """
    if space > 64 * len(keys) + 1024:
        order = np.argsort(keys, kind="mergesort")
        inverse = np.empty(len(keys), dtype=np.int64)
        unique = np.empty(len(keys), dtype=np.int64)
        n = 0
        for i in order:
            if n == 0 or unique[n - 1] != keys[i]:
                unique[n] = keys[i]
                n += 1
            inverse[i] = n - 1
        return unique[:n], inverse
    position = np.full(space, -1, dtype=np.int64)
    for k in keys:
        position[k] = 0
    unique = np.empty(len(keys), dtype=np.int64)
    n = 0
    for k in range(space):
        if position[k] == 0:
            position[k] = n
            unique[n] = k
            n += 1
    inverse = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        inverse[i] = position[keys[i]]
    return unique[:n], inverse


@_jit
def gather_segments(
    table: I64, start: I64, count: I64, rows: I64
) -> tuple[I64, I64]:  # pragma: no cover - compiled
    """The rows ``table[start[r] : start[r] + count[r]]`` of each ``r`` in ``rows``, stacked,
    and for each stacked row its position in ``rows``."""
    total = 0
    for r in rows:
        total += count[r]
    out = np.empty((total, table.shape[1]), dtype=np.int64)
    owner = np.empty(total, dtype=np.int64)
    n = 0
    for i in range(len(rows)):
        r = rows[i]
        for k in range(start[r], start[r] + count[r]):
            out[n] = table[k]
            owner[n] = i
            n += 1
    return out, owner


@_jit
def sgd_update(weights: F32, grad: F32, lr: float, decay: float) -> None:  # pragma: no cover
    """``weights -= lr * (grad + decay * weights)`` in one pass over flat (1-D) arrays."""
    rate, wd = np.float32(lr), np.float32(decay)
    for i in range(weights.shape[0]):
        weights[i] -= rate * (grad[i] + wd * weights[i])


@_jit
def sgd_rows(
    weights: F32, rows: I64, values: F32, lr: float, decay: float
) -> None:  # pragma: no cover - compiled
    """:func:`sgd_update` of the 2-D ``weights`` at ``rows`` only, ``values[k]`` the gradient
    of row ``rows[k]``: the whole update when ``decay`` is 0 (a zero gradient moves nothing)."""
    rate, wd = np.float32(lr), np.float32(decay)
    for k in range(rows.shape[0]):
        dst, grad = weights[rows[k]], values[k]
        for i in range(dst.shape[0]):
            dst[i] -= rate * (grad[i] + wd * dst[i])


# The update loops below do elementwise float32 maths in numpy's order, compiled without
# fast-math: they give numpy's results to the bit, in one pass instead of six temporaries.
_exact = numba.njit(cache=True, nogil=True)
# ... and the optimizer's with numpy's error model: a division by zero gives IEEE's infinity
# instead of raising (their divisors are >= eps), which lets LLVM vectorize the division and
# the square root: Adam runs about 4x faster with the same bits.
_update = numba.njit(cache=True, nogil=True, error_model="numpy")
# inlined into its callers: as a call per row it costs more than the row's arithmetic
_update_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_update
def adam_update(
    weights: F32,
    grad: F32,
    m: F32,
    v: F32,
    step: np.float32,
    beta1: float,
    beta2: float,
    eps: np.float32,
    decay: np.float32,
) -> None:  # pragma: no cover - compiled
    """One Adam step on flat (1-D) arrays, in place (see ``NumpyOptimizer`` in ``engine``).

    ``g = grad + decay * w``; ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``w -= step * m / (sqrt(v) + eps)``, with ``step`` and ``eps`` bias-corrected by the caller;
    the betas come as float64 so ``1 - beta`` rounds as numpy's ``np.float32(1.0 - beta)`` does.
    """
    _adam_row(weights, grad, m, v, step, _betas(beta1, beta2), eps, decay)


@_exact
def add_pooled_bias(z: F32, table: F32, index: I64, bias: F32) -> None:  # pragma: no cover
    """``z = (z + pool_rows(table, index)) + bias`` in place: the by-value features' shares
    and the output bias added to the per-row product, in numpy's order, in one pass."""
    pooled = np.empty(z.shape[1], dtype=np.float32)
    for i in range(z.shape[0]):
        for j in range(pooled.shape[0]):
            pooled[j] = 0.0
        for k in range(index.shape[1]):
            src = table[index[i, k]]
            for j in range(pooled.shape[0]):
                pooled[j] += src[j]
        dst = z[i]
        for j in range(dst.shape[0]):
            dst[j] = (dst[j] + pooled[j]) + bias[j]


@_update_inline
def _average_row(average: F32, weights: F32, decay: np.float32) -> None:  # pragma: no cover
    """``average = decay * average + (1 - decay) * weights`` on 1-D arrays, in place."""
    rest = np.float32(1.0) - decay
    for i in range(average.shape[0]):
        a = average[i] * decay
        a += rest * weights[i]
        average[i] = a


@_update
def moving_average(average: F32, weights: F32, decay: np.float32) -> None:  # pragma: no cover
    """``average = decay * average + (1 - decay) * weights`` on flat (1-D) arrays, in place."""
    _average_row(average, weights, decay)


@_update
def moving_average_rows(
    average: F32, weights: F32, rows: I64, decay: np.float32
) -> None:  # pragma: no cover - compiled
    """:func:`moving_average` of the given rows of 2-D arrays (the same arithmetic)."""
    for k in range(rows.shape[0]):
        _average_row(average[rows[k]], weights[rows[k]], decay)


@_update
def catch_up_rows(
    average: F32, weights: F32, rows: I64, synced: F64, now: float
) -> None:  # pragma: no cover - compiled
    """Bring rows of a moving average whose weights did not change up to date, in closed form.

    Row ``r`` was last averaged when the running sum of ``log(decay)`` was ``synced[r]``; its
    weights ``w`` have not changed since, and ``k`` steps of ``a = d a + (1 - d) w`` make
    ``a = w + (d_1 ... d_k) (a - w)``, with the product ``exp(now - synced[r])``. Computed in
    float64, rounded once: the stepwise float32 average rounds at every step, so the two
    differ in the last bits.
    """
    for k in range(rows.shape[0]):
        r = rows[k]
        if synced[r] == now:
            continue
        factor = math.exp(now - synced[r])
        a_row, w_row = average[r], weights[r]
        for i in range(a_row.shape[0]):
            w = np.float64(w_row[i])
            a_row[i] = np.float32(w + factor * (np.float64(a_row[i]) - w))
        synced[r] = now


_LANES = 16  # independent running maxima per row: LLVM vectorizes those, not one running max
_HIDDEN = np.float32(-1e30)  # a masked logit: exp underflows to 0, no infinities in the loop


@_jit
def _shifted_logits(
    logits: F32, movie: I64, log_q: F32, use_log_q: bool, mask_hits: bool, z: F32, own: F32
) -> None:  # pragma: no cover - compiled
    """``z[i] = masked(logits[i] - log_q) - max``: each row shifted to a maximum of 0.

    ``own[i]`` gets row ``i``'s own shifted logit ``z[i, i]`` (never masked).
    """
    b = logits.shape[0]
    lanes = b - b % _LANES
    top = np.empty(_LANES, dtype=np.float32)
    for i in range(b):
        row, out, mine = logits[i], z[i], movie[i]
        for j in range(b):
            v = row[j] - log_q[j] if use_log_q else row[j]
            out[j] = _HIDDEN if mask_hits and movie[j] == mine else v
        out[i] = row[i] - log_q[i] if use_log_q else row[i]
        top[:] = out[0]
        for start in range(0, lanes, _LANES):
            for k in range(_LANES):
                v = out[start + k]
                top[k] = v if v > top[k] else top[k]
        best = top[0]
        for k in range(1, _LANES):
            best = top[k] if top[k] > best else best
        for j in range(lanes, b):
            best = out[j] if out[j] > best else best
        for j in range(b):
            out[j] -= best
        own[i] = out[i]


@_jit
def _softmax_gradient(
    e: F32, own: F32, weight: float, row_weight: F32, grad: F32
) -> float:  # pragma: no cover - compiled
    """Mean loss and ``weight`` times its gradient from ``e = exp(z)``; ``grad`` may be ``e``."""
    b = e.shape[0]
    weighted = row_weight.shape[0] > 0
    row_total = 0.0
    if weighted:
        for i in range(b):
            row_total += np.float64(row_weight[i])
    loss = 0.0
    for i in range(b):
        src, dst = e[i], grad[i]
        total = np.float32(0.0)
        for j in range(b):
            total += src[j]
        share = np.float64(row_weight[i]) / row_total if weighted else 1.0 / b
        loss += share * (math.log(np.float64(total)) - np.float64(own[i]))
        scale = np.float32(share * weight / np.float64(total))
        for j in range(b):
            dst[j] = src[j] * scale
        dst[i] -= np.float32(share * weight)
    return loss


def sampled_softmax_rows(
    logits: F32,
    movie: I64,
    log_q: F32,
    use_log_q: bool,
    mask_hits: bool,
    weight: float,
    row_weight: F32,
) -> tuple[float, F32]:
    """:func:`fusionrec.train.losses.sampled_softmax` in float32, in three passes.

    Each row's logits -> logQ correction -> accidental-hit mask -> shift by the row's maximum
    (one compiled pass), numpy's vectorized float32 ``exp`` over the ``[B, B]`` block, then
    the row sums, loss and gradient (one compiled pass, the loss summed in float64); returns
    the mean loss and ``weight`` times the gradient. A non-empty ``row_weight`` [B] makes the
    mean a weighted one (``sum(w * loss) / sum(w)``). float32 ``exp`` and row sums put the
    gradient within about 1e-6 (relative) of the float64 reference and the loss within about
    1e-7 (tests compare them), at a quarter of a float64 scalar loop's time.
    """
    b = logits.shape[0]
    z = np.empty((b, b), dtype=np.float32)
    own = np.empty(b, dtype=np.float32)
    _shifted_logits(logits, movie, log_q, use_log_q, mask_hits, z, own)
    np.exp(z, out=z)
    loss = _softmax_gradient(z, own, weight, row_weight, z)
    return loss, z


@_update_inline
def _adam_row(
    wr: F32,
    gr: F32,
    mr: F32,
    vr: F32,
    step: np.float32,
    betas: tuple[np.float32, np.float32, np.float32, np.float32],
    eps: np.float32,
    decay: np.float32,
) -> None:  # pragma: no cover - compiled
    """:func:`adam_update`'s arithmetic on one row (1-D views), in place; ``betas``:
    ``(b1, 1 - b1, b2, 1 - b2)`` as float32."""
    b1, one_b1, b2, one_b2 = betas
    for i in range(wr.shape[0]):
        g = gr[i] + decay * wr[i] if decay != 0 else gr[i]
        mi = mr[i] * b1
        mi += one_b1 * g
        vi = vr[i] * b2
        vi += one_b2 * (g * g)
        mr[i] = mi
        vr[i] = vi
        wr[i] -= step * mi / (np.float32(math.sqrt(vi)) + eps)


@_update_inline
def _betas(
    beta1: float, beta2: float
) -> tuple[np.float32, np.float32, np.float32, np.float32]:  # pragma: no cover - compiled
    """``(b1, 1 - b1, b2, 1 - b2)`` rounded as numpy's ``np.float32(1.0 - beta)``."""
    return np.float32(beta1), np.float32(1.0 - beta1), np.float32(beta2), np.float32(1.0 - beta2)


@_update_inline
def _all_zero(row: F32) -> bool:  # pragma: no cover - compiled
    """Whether every entry of ``row`` is zero (a loop: numba compiles no generators)."""
    for i in range(row.shape[0]):  # noqa: SIM110
        if row[i] != 0:
            return False
    return True


@_update
def lazy_adam_rows(
    weights: F32,
    grad: F32,
    m: F32,
    v: F32,
    step: np.float32,
    beta1: float,
    beta2: float,
    eps: np.float32,
    decay: np.float32,
) -> None:  # pragma: no cover - compiled
    """:func:`adam_update` on the rows of 2-D arrays whose gradient is not all zero.

    The lazy Adam of embedding tables (Paddle's ``lazy_mode``): a row no lookup of the batch
    touched keeps its weights and moments; touched rows get exactly :func:`adam_update`'s
    arithmetic.
    """
    betas = _betas(beta1, beta2)
    for r in range(weights.shape[0]):
        if not _all_zero(grad[r]):
            _adam_row(weights[r], grad[r], m[r], v[r], step, betas, eps, decay)


@_update
def adam_rows(
    weights: F32,
    rows: I64,
    values: F32,
    m: F32,
    v: F32,
    step: np.float32,
    beta1: float,
    beta2: float,
    eps: np.float32,
    decay: np.float32,
    lazy: bool,
) -> None:  # pragma: no cover - compiled
    """Adam on 2-D arrays from a gradient in row form: ``values[k]`` is row ``rows[k]``'s.

    ``lazy``: :func:`lazy_adam_rows`, touching only the given rows (an all-zero one skipped).
    Otherwise :func:`adam_update` of every row, the others with a zero gradient, without
    the zero table: the same float results either way.
    """
    betas = _betas(beta1, beta2)
    if lazy:
        for k in range(rows.shape[0]):
            if not _all_zero(values[k]):
                r = rows[k]
                _adam_row(weights[r], values[k], m[r], v[r], step, betas, eps, decay)
        return
    position = np.full(weights.shape[0], -1, dtype=np.int64)
    for k in range(rows.shape[0]):
        position[rows[k]] = k
    zero = np.zeros(weights.shape[1], dtype=np.float32)
    for r in range(weights.shape[0]):
        k = position[r]
        gr = values[k] if k >= 0 else zero
        _adam_row(weights[r], gr, m[r], v[r], step, betas, eps, decay)
