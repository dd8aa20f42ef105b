"""A fused training step: the fusion model's loss and every gradient, computed with numpy.

Paddle's dygraph on CPU spends most of a small-batch step in per-op overhead and in its slow
matmul; this kernel does the same maths (same forward, exact analytic gradients) with numpy's
matrix products and the compiled loops of :mod:`fusionrec.train.kernels`, one tower at a time.
:class:`NumpyOptimizer` applies Paddle's SGD / Adam update rules to numpy copies of the
weights, which the trainer writes back to the Paddle parameters after each epoch. Tests
check the loss and gradients against Paddle's autograd on the same batch and the updates
against Paddle's optimizers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.config import ModelConfig
from fusionrec.errors import ValidationError
from fusionrec.features.encoder import FeatureEncoder
from fusionrec.features.kind import Grad, RowGrad, dense_grad
from fusionrec.train.kernels import (
    adam_rows,
    adam_update,
    dropout_mask,
    lazy_adam_rows,
    pair_cosines,
    pair_cosines_backward,
    sampled_softmax_rows,
    scatter_add,
    scatter_add_into,
    sgd_rows,
    sgd_update,
    unit_rows,
    unit_rows_backward,
)
from fusionrec.train.tower import TowerEngine

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
_NO_LOG_Q: F32 = np.zeros(0, dtype=np.float32)
_NO_WEIGHT: F32 = np.zeros(0, dtype=np.float32)


@dataclass
class Batch:
    """One deduplicated batch: tower inputs per distinct user/item, rows gathered by index.

    ``user_inputs``/``item_inputs`` hold one training input per schema feature (see
    :meth:`fusionrec.features.kind.Feature.gather`); ``user_id``/``item_id`` the distinct
    entities' id indices (UNK where the user id was dropped), for the biases. ``y`` holds the
    rows' ratings (None for implicit feedback), ``weight`` their weights (None: all 1).
    """

    user_inputs: list[Any]
    item_inputs: list[Any]
    n_users: int
    n_items: int
    user_id: I64 | None
    item_id: I64 | None
    user_index: I64  # per rating row: distinct-user row
    item_index: I64  # per rating row: distinct-item row
    y: F32 | None
    positive: npt.NDArray[np.bool_] | None = None  # per row: counts for the softmax (joint)
    log_q: F32 | None = None  # per row: log sampling probability of the row's item
    weight: F32 | None = None  # per row: how much it counts in the (weighted mean) loss


class FusedStep:
    """Loss and gradients of a FusionModel for one :class:`Batch`, in numpy."""

    def __init__(self, config: ModelConfig, names: list[str], encoder: FeatureEncoder) -> None:
        self.c = config
        self.names = names  # trainable parameters, in the order gradients are returned
        self.constants: dict[str, F32] = {}  # non-trained weights (global mean, fixed scale)
        self.rng = np.random.default_rng(config.seed + 1)
        schema = encoder.schema
        self.user = TowerEngine(schema.user, encoder.states["user"], "user_tower.")
        self.item = TowerEngine(schema.item, encoder.states["item"], "item_tower.")

    def _dropout(self, shape: tuple[int, ...]) -> F32 | None:
        """An inverted-dropout mask (0 or ``1 / (1 - p)``) of ``shape``, or None without dropout.

        Each unit is dropped when 16 raw random bits fall below ``p * 2**16`` (``p`` within
        1e-5): one 64-bit draw makes four units' decisions, a quarter of the draws and none of
        the float conversions of comparing uniform floats with ``p``.
        """
        p = self.c.dropout
        if p <= 0:
            return None
        n = int(np.prod(shape))
        bits = self.rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
        mask: F32 = np.empty(shape, dtype=np.float32)
        dropout_mask(bits, round(p * 65536), np.float32(1.0 / (1.0 - p)), mask.reshape(-1))
        return mask

    def run(self, b: Batch, w: dict[str, F32]) -> tuple[float, dict[str, Grad]]:
        """The objective's loss on the batch and the gradient of every trainable parameter:
        float32 arrays, the per-row embeddings' in row form (:class:`RowGrad`).

        ``rating``: mean squared error; ``retrieval``: in-batch sampled softmax over the rows;
        ``joint``: MSE + ``joint_weight`` * softmax over the rows flagged ``positive``. With
        ``Batch.weight`` each mean is the weighted mean of the rows' squared errors (and
        cross-entropies): ``sum(w * e) / sum(w)``.
        """
        mu_mask = self._dropout((b.n_users, self.user.width))
        mm_mask = self._dropout((b.n_items, self.item.width))
        user = self.user.forward(w, b.user_inputs, mu_mask)
        item = self.item.forward(w, b.item_inputs, mm_mask)
        g: dict[str, F32] = {}
        loss, dzu, dzm = self._heads(b, w, g, user.y, item.y)
        grads: dict[str, Grad] = dict(g)
        self.user.backward(w, b.user_inputs, user, dzu, grads)
        self.item.backward(w, b.item_inputs, item, dzm, grads)
        return loss, {k: grads[k] for k in self.names}

    def _heads(
        self, b: Batch, w: dict[str, F32], g: dict[str, F32], yu: F32, ym: F32
    ) -> tuple[float, F32, F32]:
        """Loss of the rating head (and softmax) on the tower outputs ``yu``/``ym``.

        Returns the loss and its gradients with respect to the towers' pre-activations; the
        scale and bias gradients go into ``g``.
        """
        c = self.c
        split = c.user_hidden if c.split_heads else yu.shape[1]
        un, un_norm = unit_rows(yu, 0, split)
        mn, mn_norm = unit_rows(ym, 0, split)
        cos = pair_cosines(un, mn, b.user_index, b.item_index)
        scale = np.float32(w["scale"][0])
        pred = scale * cos
        uid_rows = b.user_id[b.user_index] if b.user_id is not None else None
        mid_rows = b.item_id[b.item_index] if b.item_id is not None else None
        if c.use_biases:
            assert uid_rows is not None and mid_rows is not None  # the model checks the ids
            pred = (
                pred
                + w["global_mean"][0]
                + w["user_bias.weight"][uid_rows, 0]
                + w["item_bias.weight"][mid_rows, 0]
            )
        d_un = np.zeros_like(un)
        d_mn = np.zeros_like(mn)
        loss = 0.0
        if c.learn_scale:
            g["scale"] = np.zeros(1, dtype=np.float32)
        if c.use_biases:
            ub = w["user_bias.weight"]
            mb = w["item_bias.weight"]
            g["user_bias.weight"] = np.zeros_like(ub)
            g["item_bias.weight"] = np.zeros_like(mb)
        if c.objective in ("rating", "joint"):
            if b.y is None:
                raise ValidationError(f"objective {c.objective!r} needs ratings")
            diff = pred - b.y
            d64 = diff.astype(np.float64)
            if b.weight is None:
                loss += float(d64 @ d64) / len(d64)
                dpred = ((2.0 / len(diff)) * diff).astype(np.float32)
            else:
                w64 = b.weight.astype(np.float64)
                total = float(w64.sum())
                loss += float(w64 @ (d64 * d64)) / total
                dpred = ((2.0 / total) * w64 * d64).astype(np.float32)
            if c.learn_scale:
                g["scale"] += np.asarray([np.dot(dpred, cos)], dtype=np.float32)
            if c.use_biases:
                assert uid_rows is not None and mid_rows is not None
                g["user_bias.weight"] += scatter_add(len(ub), uid_rows, dpred[:, None])
                g["item_bias.weight"] += scatter_add(len(mb), mid_rows, dpred[:, None])
            dcos = dpred * scale
            pair_cosines_backward(un, mn, b.user_index, b.item_index, dcos, d_un, d_mn)
        if c.objective in ("retrieval", "joint") and not c.split_heads:
            loss += self._softmax(b, w, g, un, mn, mid_rows, scale, d_un, d_mn)
        dzu = np.empty_like(yu)
        dzm = np.empty_like(ym)
        unit_rows_backward(d_un, un, un_norm, yu, dzu, 0)
        unit_rows_backward(d_mn, mn, mn_norm, ym, dzm, 0)
        if c.split_heads:  # the softmax on the retrieval units, after the rating units
            loss += self._split_softmax(b, w, g, yu, ym, split, dzu, dzm)
        return loss, dzu, dzm

    def _split_softmax(
        self,
        b: Batch,
        w: dict[str, F32],
        g: dict[str, F32],
        yu: F32,
        ym: F32,
        split: int,
        dzu: F32,
        dzm: F32,
    ) -> float:
        """The softmax on a separate retrieval head (tower units ``split:``).

        Returns its loss and writes the gradient of the units' pre-activations into
        ``dzu[:, split:]`` and ``dzm[:, split:]``.
        """
        su, su_norm = unit_rows(yu, split, yu.shape[1])
        sm, sm_norm = unit_rows(ym, split, ym.shape[1])
        d_su, d_sm = np.zeros_like(su), np.zeros_like(sm)
        mid_rows = b.item_id[b.item_index] if b.item_id is not None else None
        loss = self._softmax(b, w, g, su, sm, mid_rows, np.float32(1.0), d_su, d_sm)
        unit_rows_backward(d_su, su, su_norm, yu, dzu, split)
        unit_rows_backward(d_sm, sm, sm_norm, ym, dzm, split)
        return loss

    def _softmax(
        self,
        b: Batch,
        w: dict[str, F32],
        g: dict[str, F32],
        un: F32,
        mn: F32,
        mid_rows: I64 | None,
        scale: np.float32,
        d_un: F32,
        d_mn: F32,
    ) -> float:
        """Weighted sampled-softmax loss over the unit vectors ``un``/``mn`` of the batch's
        users and movies; adds its gradients to ``d_un``/``d_mn`` and ``g``.

        With ``config.softmax_block`` the positive rows are cut into consecutive blocks of
        that many rows, each row scored against its own block's movies only: the loss is the
        (weighted) mean over every row, as without blocks, at ``O(B * block)`` instead of
        ``O(B^2)``, so a larger batch keeps the negatives per row of a smaller one.
        """
        c = self.c
        weight = c.joint_weight if c.objective == "joint" else 1.0
        n = len(b.user_index)
        rows = (np.arange(n) if b.positive is None else np.flatnonzero(b.positive)).astype(np.int64)
        if rows.size == 0 or weight == 0:
            return 0.0
        size = c.softmax_block or rows.size
        if size >= rows.size:
            return self._softmax_block(b, w, g, un, mn, mid_rows, scale, d_un, d_mn, rows, weight)
        total = rows.size if b.weight is None else float(b.weight[rows].sum(dtype=np.float64))
        loss = 0.0
        for start in range(0, rows.size, size):
            block = rows[start : start + size]
            part = block.size if b.weight is None else float(b.weight[block].sum(dtype=np.float64))
            loss += self._softmax_block(
                b, w, g, un, mn, mid_rows, scale, d_un, d_mn, block, weight * part / total
            )
        return loss

    def _softmax_block(
        self,
        b: Batch,
        w: dict[str, F32],
        g: dict[str, F32],
        un: F32,
        mn: F32,
        mid_rows: I64 | None,
        scale: np.float32,
        d_un: F32,
        d_mn: F32,
        rows: I64,
        weight: float,
    ) -> float:
        """``weight`` times the in-batch softmax over ``rows`` (each row's movie a column)."""
        c = self.c
        inv_t = np.float32(1.0 / c.temperature)
        ui, mi = b.user_index[rows], b.item_index[rows]
        up, mp = un[ui], mn[mi]
        logits = (up @ mp.T) * inv_t
        biased = c.use_biases and not c.split_heads  # the bias belongs to the rating head
        if biased:
            assert mid_rows is not None
            col_bias = w["item_bias.weight"][mid_rows[rows], 0]
            logits = logits + col_bias[None, :] * (inv_t / scale)
        log_q = _NO_LOG_Q
        if c.logq_correction:
            if b.log_q is None:
                raise ValidationError("logq_correction needs Batch.log_q")
            log_q = np.ascontiguousarray(b.log_q[rows], dtype=np.float32)
        row_weight = (
            _NO_WEIGHT
            if b.weight is None
            else np.ascontiguousarray(b.weight[rows], dtype=np.float32)
        )
        value, dz = sampled_softmax_rows(
            np.ascontiguousarray(logits, dtype=np.float32),
            np.ascontiguousarray(mi, dtype=np.int64),
            log_q,
            c.logq_correction,
            c.mask_accidental_hits,
            weight,
            row_weight,
        )
        scatter_add_into(d_un, ui, (dz @ mp) * inv_t)
        scatter_add_into(d_mn, mi, (dz.T @ up) * inv_t)
        if biased:
            assert mid_rows is not None
            dcol = dz.sum(axis=0)
            mb = w["item_bias.weight"]
            g["item_bias.weight"] += scatter_add(
                len(mb), mid_rows[rows], (dcol * (inv_t / scale))[:, None]
            )
            if c.learn_scale:
                g["scale"] -= np.float32(np.dot(dcol, col_bias) * inv_t / (scale * scale))
        return weight * value


class NumpyOptimizer:
    """Paddle's SGD / Adam update rules (with L2 ``weight_decay``) on numpy arrays, in place.

    Adam follows ``paddle.optimizer.Adam``: bias corrections folded into the step size and
    epsilon scaled by ``sqrt(1 - beta2^t)``. With ``config.lazy_adam`` the 2-D tables named in
    ``tables`` (the embeddings) get the lazy update of ``lazy_mode=True``: only rows with a
    gradient change.

    A gradient in row form (:class:`RowGrad`) gives the same results as its dense table at a
    cost that follows its rows where the rule allows: SGD without weight decay and lazy Adam
    update those rows only; dense Adam still moves every row (momentum, decay), but without
    the zero table.
    """

    def __init__(
        self,
        config: ModelConfig,
        weights: dict[str, F32],
        names: list[str],
        tables: frozenset[str] = frozenset(),
    ) -> None:
        self.c = config
        self.names = names
        self.lazy = (
            frozenset(n for n in tables if weights[n].ndim == 2)
            if config.lazy_adam
            else frozenset()
        )
        self.t = 0
        adam = config.optimizer == "adam"
        self.m = {n: np.zeros_like(weights[n]) for n in names} if adam else {}
        self.v = {n: np.zeros_like(weights[n]) for n in names} if adam else {}

    def rows_only(self, name: str) -> bool:
        """Whether a row-form gradient of ``name`` leaves every other row of it unchanged."""
        if self.c.optimizer == "sgd":
            return self.c.weight_decay == 0
        return name in self.lazy

    def step(self, weights: dict[str, F32], grads: Mapping[str, Grad]) -> None:
        """Update ``weights[name]`` in place from ``grads[name]`` for every trained name."""
        c = self.c
        lr = np.float32(c.learning_rate)
        wd = np.float32(c.weight_decay)
        if c.optimizer == "sgd":
            for n in self.names:
                g = grads[n]
                if isinstance(g, RowGrad) and wd == 0:
                    sgd_rows(weights[n], g.rows, g.values, lr, wd)
                else:
                    sgd_update(weights[n].reshape(-1), dense_grad(g).reshape(-1), lr, wd)
            return
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        corr2 = np.sqrt(1.0 - b2**self.t)
        step = np.float32(c.learning_rate * corr2 / (1.0 - b1**self.t))
        eps_hat = np.float32(eps * corr2)
        for n in self.names:
            g = grads[n]
            w, m, v = weights[n], self.m[n], self.v[n]
            if isinstance(g, RowGrad):
                lazy = n in self.lazy
                adam_rows(w, g.rows, g.values, m, v, step, b1, b2, eps_hat, wd, lazy)
            elif n in self.lazy:
                lazy_adam_rows(w, g, m, v, step, b1, b2, eps_hat, wd)
            else:
                flat = w.reshape(-1)
                adam_update(
                    flat, g.reshape(-1), m.reshape(-1), v.reshape(-1), step, b1, b2, eps_hat, wd
                )
