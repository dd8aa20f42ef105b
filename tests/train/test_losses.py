"""The in-batch sampled softmax on tiny hand-made batches: value, logQ, masking, gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusionrec.errors import ValidationError
from fusionrec.train.losses import accidental_hit_mask, log_sampling_probability, sampled_softmax


def test_plain_softmax_matches_hand_computation() -> None:
    # row 0: log(e^2 + e^0) - 2 = log(1 + e^-2); row 1: log(e^1 + e^3) - 3 = log(1 + e^-2)
    loss, _ = sampled_softmax([[2.0, 0.0], [1.0, 3.0]], movie=[10, 11], log_q=None)
    assert loss == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-12)


def test_logq_correction_favours_rare_negatives() -> None:
    # movie 10 is drawn twice as often as movie 11 (q = 0.5 vs 0.25)
    logits = [[2.0, 0.0], [1.0, 3.0]]
    log_q = np.log([0.5, 0.25])
    loss, _ = sampled_softmax(logits, movie=[10, 11], log_q=log_q)
    # row 0's negative (rare movie 11) gains log 2 against its positive; row 1's negative
    # (popular movie 10) loses log 2: loss = mean(log(1 + 2e^-2), log(1 + e^-2 / 2))
    expected = 0.5 * (math.log1p(2 * math.exp(-2.0)) + math.log1p(0.5 * math.exp(-2.0)))
    assert loss == pytest.approx(expected, rel=1e-12)
    plain, _ = sampled_softmax(logits, movie=[10, 11], log_q=None)
    assert loss != pytest.approx(plain)
    # a constant shift of log q (e.g. B * q instead of q) changes nothing
    shifted, _ = sampled_softmax(logits, movie=[10, 11], log_q=log_q + 3.0)
    assert shifted == pytest.approx(loss, rel=1e-12)


def test_accidental_hits_are_masked() -> None:
    # rows 0 and 1 share movie 7: neither may be the other's negative
    logits = np.array([[1.0, 2.0, 0.0], [0.5, 1.5, -1.0], [0.0, 1.0, 2.0]])
    movie = [7, 7, 9]
    masked, grad = sampled_softmax(logits, movie, log_q=None, mask_accidental_hits=True)
    rows = [
        np.logaddexp(1.0, 0.0) - 1.0,  # row 0 sees columns 0 and 2
        np.logaddexp(1.5, -1.0) - 1.5,  # row 1 sees columns 1 and 2
        np.log(np.exp([0.0, 1.0, 2.0]).sum()) - 2.0,  # row 2 sees all
    ]
    assert masked == pytest.approx(float(np.mean(rows)), rel=1e-12)
    unmasked, _ = sampled_softmax(logits, movie, log_q=None, mask_accidental_hits=False)
    assert unmasked > masked  # the duplicate counted as a negative only adds loss
    assert grad[0, 1] == 0.0 and grad[1, 0] == 0.0
    np.testing.assert_array_equal(
        accidental_hit_mask(movie), [[False, True, False], [True, False, False], [False] * 3]
    )


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 5))
    movie = [1, 2, 1, 3, 4]
    log_q = np.log(rng.uniform(0.1, 0.9, 5))
    _, grad = sampled_softmax(logits, movie, log_q)
    eps = 1e-6
    numeric = np.zeros_like(logits)
    for i in range(5):
        for j in range(5):
            up, down = logits.copy(), logits.copy()
            up[i, j] += eps
            down[i, j] -= eps
            numeric[i, j] = (
                sampled_softmax(up, movie, log_q)[0] - sampled_softmax(down, movie, log_q)[0]
            ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-8)


def test_log_sampling_probability_and_bad_input() -> None:
    lq = log_sampling_probability([0, 0, 0, 2], n_movies=4)
    np.testing.assert_allclose(lq[[0, 2]], np.log([0.75, 0.25]))
    assert np.isneginf(lq[1]) and np.isneginf(lq[3])
    with pytest.raises(ValidationError, match="zero positives"):
        log_sampling_probability([], n_movies=3)
    with pytest.raises(ValidationError, match="square"):
        sampled_softmax(np.zeros((2, 3)), [1, 2])
    with pytest.raises(ValidationError, match="log_q"):
        sampled_softmax(np.zeros((2, 2)), [1, 2], log_q=[0.0, -np.inf])
