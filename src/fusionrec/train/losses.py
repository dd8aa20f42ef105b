"""Loss maths of the top-N objective: in-batch sampled softmax with logQ correction.

Row ``i`` of a batch is a (user, positive movie) pair; every batch row's movie is a candidate
column, so ``logits[i, j]`` scores user ``i`` against movie ``j``. The loss of row ``i`` is the
cross-entropy of its own column ``i`` against all columns:

    z[i, j] = logits[i, j] - log q[j]          (logQ correction, when ``log_q`` is given)
    z[i, j] = -inf  where movie[j] == movie[i] and j != i   (accidental hits, when masked)
    loss    = mean_i ( logsumexp_j z[i, j] - z[i, i] )

With row weights ``w`` (e.g. play counts) the mean is the weighted one,
``sum_i w[i] * (logsumexp_j z[i, j] - z[i, i]) / sum_i w[i]``: a positive with weight 3 counts
as three copies of itself (the negatives it is scored against stay the batch's columns).

``q[j]`` is the probability that movie ``j`` is drawn as a batch row (its share of the training
positives): popular movies show up as negatives more often, and subtracting ``log q`` corrects
the sampled softmax towards the full softmax over the catalog (Yi et al., RecSys 2019). Without
masking, a movie that appears in two rows is a negative for its own positive in the other row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fusionrec.errors import ValidationError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

__all__ = ["accidental_hit_mask", "log_sampling_probability", "sampled_softmax"]


def accidental_hit_mask(movie: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``mask[i, j]`` is True where column ``j`` is row ``i``'s movie in another row."""
    m = np.asarray(movie).ravel()
    same: npt.NDArray[np.bool_] = m[:, None] == m[None, :]
    np.fill_diagonal(same, False)
    return same


def log_sampling_probability(movie_of_row: npt.ArrayLike, n_movies: int) -> F64:
    """Per movie index ``[0, n_movies)``: log of its share of ``movie_of_row`` (-inf if absent)."""
    rows = np.asarray(movie_of_row, dtype=np.int64).ravel()
    if rows.size == 0:
        raise ValidationError("cannot estimate sampling probabilities from zero positives")
    counts = np.bincount(rows, minlength=n_movies).astype(np.float64)
    with np.errstate(divide="ignore"):
        out: F64 = np.log(counts / rows.size)
    return out


def sampled_softmax(
    logits: npt.ArrayLike,
    movie: npt.ArrayLike,
    log_q: npt.ArrayLike | None = None,
    mask_accidental_hits: bool = True,
    weight: npt.ArrayLike | None = None,
) -> tuple[float, F64]:
    """Mean in-batch softmax loss and its gradient with respect to ``logits`` [B, B].

    ``movie`` [B] identifies each row's (= column's) movie, ``log_q`` [B] each column's log
    sampling probability (``None``: no correction), ``weight`` [B] each row's weight (``None``:
    the plain mean). See the module docstring for the formula.
    """
    z = np.array(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] != z.shape[1] or z.shape[0] == 0:
        raise ValidationError(f"logits must be a non-empty square [B, B] array, got {z.shape}")
    b = z.shape[0]
    if log_q is not None:
        lq = np.asarray(log_q, dtype=np.float64).ravel()
        if lq.shape != (b,) or not np.all(np.isfinite(lq)):
            raise ValidationError(f"log_q must be {b} finite values")
        z -= lq[None, :]
    if mask_accidental_hits:
        z[accidental_hit_mask(movie)] = -np.inf
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    total = e.sum(axis=1, keepdims=True)
    lse = np.log(total)[:, 0] + top[:, 0]
    grad: F64 = e / total
    grad[np.arange(b), np.arange(b)] -= 1.0
    if weight is None:
        loss = float(np.mean(lse - np.diag(z)))
        grad /= b
        return loss, grad
    w = np.asarray(weight, dtype=np.float64).ravel()
    if w.shape != (b,) or not (np.all(np.isfinite(w)) and np.all(w > 0)):
        raise ValidationError(f"weight must be {b} finite values > 0")
    share = w / w.sum()
    grad *= share[:, None]
    return float(share @ (lse - np.diag(z))), grad
