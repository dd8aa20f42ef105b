"""A fused training step: the fusion model's loss and every gradient, computed with numpy.

Paddle's dygraph on CPU spends most of a small-batch step in per-op overhead and in its slow
matmul; this kernel does the same maths (same forward, exact analytic gradients) with numpy's
matrix products and the compiled loops of :mod:`fusionrec._kernels`, one tower at a time.
:class:`NumpyOptimizer` applies Paddle's SGD / Adam update rules to numpy copies of the
weights, which the trainer writes back to the Paddle parameters after each epoch. Tests
check the loss and gradients against Paddle's autograd on the same batch and the updates
against Paddle's optimizers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusionrec._kernels import (
    gather_tanh_backward,
    pair_cosines,
    pair_cosines_backward,
    pool_rows,
    pool_rows_backward,
    scatter_add,
    scatter_add_into,
    sgd_update,
    unit_rows,
    unit_rows_backward,
)
from fusionrec.config import ModelConfig
from fusionrec.errors import ValidationError
from fusionrec.features import PAD
from fusionrec.losses import sampled_softmax

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
_USER = ("user", "gender", "age", "occupation")
_DEMOGRAPHIC = _USER[1:]


@dataclass
class Batch:
    """One deduplicated batch: tower inputs per distinct user/movie, rows gathered by index."""

    user_ids: tuple[I64, I64, I64, I64]  # per distinct user: id (UNK if dropped), demographics
    movie: I64  # per distinct movie
    genres: I64  # [n_movies, G]
    windows: I64  # [n_words, window] packed title windows
    owner: I64  # [n_words] distinct-movie row of each word
    user_index: I64  # per rating row: distinct-user row
    movie_index: I64  # per rating row: distinct-movie row
    y: F32
    positive: npt.NDArray[np.bool_] | None = None  # per row: counts for the softmax (joint)
    log_q: F32 | None = None  # per row: log sampling probability of the row's movie


@dataclass
class _TowerPass:
    """What a tower's backward pass needs from its forward pass."""

    # user: the four embeddings, or the id's and the demographic value tables (by value);
    # movie: id embedding, title windows, their conv outputs, the genre table
    inputs: list[F32]
    h: F32  # the output layer's per-row input (after dropout); by value, without those features
    mask: F32 | None  # dropout mask of ``h``
    y: F32  # tanh outputs
    by_value: I64 | None = None  # features taken by value: each row's rows of the value tables


def _column_sums(x: F32) -> F32:
    """``x.sum(axis=0)`` as one BLAS matrix-vector product (a third of numpy's time here)."""
    sums: F32 = np.ones(len(x), dtype=np.float32) @ x
    return sums


def _lookup_fc_grads(
    g: dict[str, F32], w: dict[str, F32], prefix: str, idx: I64 | None, e: F32, da: F32
) -> None:
    """Gradients of ``fc(emb[idx])`` (layers ``{prefix}_emb``, ``{prefix}_fc``) from ``da``.

    ``idx=None``: ``e`` is the whole table, one row per value (a feature taken by value).
    """
    fc_w = w[f"{prefix}_fc.weight"]
    g[f"{prefix}_fc.weight"] = e.T @ da
    g[f"{prefix}_fc.bias"] = _column_sums(da)
    d_emb = da @ fc_w.T
    rows = len(w[f"{prefix}_emb.weight"])
    g[f"{prefix}_emb.weight"] = d_emb if idx is None else scatter_add(rows, idx, d_emb)


class FusedStep:
    """Loss and gradients of a FusionModel for one :class:`Batch`, in numpy."""

    def __init__(self, config: ModelConfig, names: list[str]) -> None:
        self.c = config
        self.names = names  # trainable parameters, in the order gradients are returned
        self.constants: dict[str, F32] = {}  # non-trained weights (global mean, fixed scale)
        self.rng = np.random.default_rng(config.seed + 1)
        # rows of the movie output layer: the genre features, and the id and title ones
        k1 = config.movie_id_fc
        k2 = k1 + config.genre_dim
        self._genre_rows = slice(k1, k2)
        self._id_title_rows = np.r_[0:k1, k2 : k2 + config.title_filters]

    def _dropout(self, shape: tuple[int, ...]) -> F32 | None:
        p = self.c.dropout
        if p <= 0:
            return None
        keep = self.rng.random(shape, dtype=np.float32) >= p
        mask: F32 = keep.astype(np.float32) / np.float32(1.0 - p)
        return mask

    def run(self, b: Batch, w: dict[str, F32]) -> tuple[float, dict[str, F32]]:
        """The objective's loss on the batch and the gradient of every trainable parameter.

        ``rating``: mean squared error; ``retrieval``: in-batch sampled softmax over the rows;
        ``joint``: MSE + ``joint_weight`` * softmax over the rows flagged ``positive``.
        """
        c = self.c
        user_width = c.user_id_fc + c.gender_fc + c.age_fc + c.occupation_fc
        movie_width = c.movie_id_fc + c.genre_dim + c.title_filters
        mu_mask = self._dropout((len(b.user_ids[0]), user_width))
        mm_mask = self._dropout((len(b.movie), movie_width))
        user = self._user_forward(b, w, mu_mask)
        movie = self._movie_forward(b, w, mm_mask)
        g: dict[str, F32] = {}
        loss, dzu, dzm = self._heads(b, w, g, user.y, movie.y)
        g.update(self._user_backward(b, w, user, dzu))
        g.update(self._movie_backward(b, w, movie, dzm))
        return loss, {k: np.ascontiguousarray(g[k], dtype=np.float32) for k in self.names}

    def _user_forward(self, b: Batch, w: dict[str, F32], mask: F32 | None) -> _TowerPass:
        """The user tower; per user with dropout, else :meth:`_user_forward_folded`."""
        if mask is None:
            return self._user_forward_folded(b, w)
        embs, parts = [], []
        for name, idx in zip(_USER, b.user_ids, strict=True):
            e = w[f"user_tower.{name}_emb.weight"][idx]
            embs.append(e)
            parts.append(e @ w[f"user_tower.{name}_fc.weight"] + w[f"user_tower.{name}_fc.bias"])
        h = np.concatenate(parts, axis=1) * mask
        y = np.tanh(h @ w["user_tower.out.weight"] + w["user_tower.out.bias"])
        return _TowerPass(inputs=embs, h=h, mask=mask, y=y)

    def _user_forward_folded(self, b: Batch, w: dict[str, F32]) -> _TowerPass:
        """The user tower without dropout, with the demographic features taken by value.

        Gender, age and occupation have a few dozen values in all, so each value's share of
        the output layer's input, ``(E W + b) W_out``, is computed once and summed per user:
        the per-user product covers only the id's features. Same maths, about half the
        tower's FLOPs.
        """
        out_w = w["user_tower.out.weight"]
        e = w["user_tower.user_emb.weight"][b.user_ids[0]]
        h = e @ w["user_tower.user_fc.weight"] + w["user_tower.user_fc.bias"]
        values, shares, index = [], [], []
        start, offset = h.shape[1], 0
        for name, idx in zip(_DEMOGRAPHIC, b.user_ids[1:], strict=True):
            table = w[f"user_tower.{name}_emb.weight"]
            fc_w = w[f"user_tower.{name}_fc.weight"]
            value = table @ fc_w + w[f"user_tower.{name}_fc.bias"]
            values.append(value)
            shares.append(value @ out_w[start : start + fc_w.shape[1]])
            index.append(idx + offset)
            start += fc_w.shape[1]
            offset += len(table)
        by_value = np.stack(index, axis=1)
        z = h @ out_w[: h.shape[1]] + pool_rows(np.concatenate(shares), by_value)
        y = np.tanh(z + w["user_tower.out.bias"])
        return _TowerPass(inputs=[e, *values], h=h, mask=None, y=y, by_value=by_value)

    def _movie_forward(self, b: Batch, w: dict[str, F32], mask: F32 | None) -> _TowerPass:
        """The movie tower; without dropout the genres are taken by value, as the user's
        demographics are in :meth:`_user_forward_folded` (about a third fewer FLOPs)."""
        e_movie = w["movie_tower.movie_emb.weight"][b.movie]
        m_id = e_movie @ w["movie_tower.movie_fc.weight"] + w["movie_tower.movie_fc.bias"]
        genre_table = w["movie_tower.genre_emb.weight"].copy()
        genre_table[PAD] = 0.0
        word_table = w["movie_tower.word_emb.weight"].copy()
        word_table[PAD] = 0.0
        x = word_table[b.windows].reshape(len(b.windows), -1)
        t = np.tanh(x @ w["movie_tower.title_conv.weight"] + w["movie_tower.title_conv.bias"])
        m_title = scatter_add(len(b.movie), b.owner, t)
        out_w = w["movie_tower.out.weight"]
        if mask is None:
            h = np.concatenate([m_id, m_title], axis=1)
            genre_share = genre_table @ out_w[self._genre_rows]
            z = h @ out_w[self._id_title_rows] + pool_rows(genre_share, b.genres)
        else:
            h = np.concatenate([m_id, pool_rows(genre_table, b.genres), m_title], axis=1) * mask
            z = h @ out_w
        y = np.tanh(z + w["movie_tower.out.bias"])
        by_value = b.genres if mask is None else None
        return _TowerPass([e_movie, x, t, genre_table], h, mask, y, by_value)

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
        cos = pair_cosines(un, mn, b.user_index, b.movie_index)
        scale = np.float32(w["scale"][0])
        pred = scale * cos
        uid_rows = b.user_ids[0][b.user_index]
        mid_rows = b.movie[b.movie_index]
        if c.use_biases:
            pred = (
                pred
                + w["global_mean"][0]
                + w["user_bias.weight"][uid_rows, 0]
                + w["movie_bias.weight"][mid_rows, 0]
            )
        d_un = np.zeros_like(un)
        d_mn = np.zeros_like(mn)
        loss = 0.0
        if c.learn_scale:
            g["scale"] = np.zeros(1, dtype=np.float32)
        if c.use_biases:
            ub = w["user_bias.weight"]
            mb = w["movie_bias.weight"]
            g["user_bias.weight"] = np.zeros_like(ub)
            g["movie_bias.weight"] = np.zeros_like(mb)
        if c.objective in ("rating", "joint"):
            diff = pred - b.y
            d64 = diff.astype(np.float64)
            loss += float(d64 @ d64) / len(d64)
            dpred = ((2.0 / len(diff)) * diff).astype(np.float32)
            if c.learn_scale:
                g["scale"] += np.asarray([np.dot(dpred, cos)], dtype=np.float32)
            if c.use_biases:
                g["user_bias.weight"] += scatter_add(len(ub), uid_rows, dpred[:, None])
                g["movie_bias.weight"] += scatter_add(len(mb), mid_rows, dpred[:, None])
            dcos = dpred * scale
            pair_cosines_backward(un, mn, b.user_index, b.movie_index, dcos, d_un, d_mn)
        if c.objective in ("retrieval", "joint") and not c.split_heads:
            loss += self._softmax(b, w, g, un, mn, mid_rows, scale, d_un, d_mn)
        dzu = np.empty_like(yu)
        dzm = np.empty_like(ym)
        unit_rows_backward(d_un, un, un_norm, yu, dzu, 0)
        unit_rows_backward(d_mn, mn, mn_norm, ym, dzm, 0)
        if c.split_heads:  # the softmax on the retrieval units, after the rating units
            loss += self._split_softmax(b, w, g, yu, ym, split, dzu, dzm)
        return loss, dzu, dzm

    def _user_backward(
        self, b: Batch, w: dict[str, F32], user: _TowerPass, dz: F32
    ) -> dict[str, F32]:
        if user.by_value is not None:
            return self._user_backward_folded(b, w, user, dz)
        g = {"user_tower.out.weight": user.h.T @ dz, "user_tower.out.bias": _column_sums(dz)}
        dh = dz @ w["user_tower.out.weight"].T
        if user.mask is not None:
            dh *= user.mask
        start = 0
        for name, idx, e in zip(_USER, b.user_ids, user.inputs, strict=True):
            width = w[f"user_tower.{name}_fc.weight"].shape[1]
            _lookup_fc_grads(g, w, f"user_tower.{name}", idx, e, dh[:, start : start + width])
            start += width
        return g

    def _user_backward_folded(
        self, b: Batch, w: dict[str, F32], user: _TowerPass, dz: F32
    ) -> dict[str, F32]:
        """Gradients of :meth:`_user_forward_folded`: demographic ones summed per value first."""
        assert user.by_value is not None
        out_w = w["user_tower.out.weight"]
        e, *values = user.inputs
        width = user.h.shape[1]
        g: dict[str, F32] = {"user_tower.out.bias": _column_sums(dz)}
        out_grads = [user.h.T @ dz]
        _lookup_fc_grads(g, w, "user_tower.user", b.user_ids[0], e, dz @ out_w[:width].T)
        per_value = pool_rows_backward(sum(len(v) for v in values), user.by_value, dz)
        start, offset = width, 0
        for name, value in zip(_DEMOGRAPHIC, values, strict=True):
            d_share = per_value[offset : offset + len(value)]
            out_grads.append(value.T @ d_share)
            d_value = d_share @ out_w[start : start + value.shape[1]].T
            table = w[f"user_tower.{name}_emb.weight"]
            _lookup_fc_grads(g, w, f"user_tower.{name}", None, table, d_value)
            start += value.shape[1]
            offset += len(value)
        g["user_tower.out.weight"] = np.concatenate(out_grads, axis=0)
        return g

    def _movie_backward(
        self, b: Batch, w: dict[str, F32], movie: _TowerPass, dz: F32
    ) -> dict[str, F32]:
        e_movie, x, t, genre_table = movie.inputs
        out_w = w["movie_tower.out.weight"]
        g = {"movie_tower.out.bias": _column_sums(dz)}
        if movie.by_value is not None:  # genres by value
            per_value = pool_rows_backward(len(genre_table), movie.by_value, dz)
            out_grad = np.empty_like(out_w)
            out_grad[self._id_title_rows] = movie.h.T @ dz
            out_grad[self._genre_rows] = genre_table.T @ per_value
            dh = dz @ out_w[self._id_title_rows].T
            d_id, d_title = dh[:, : self.c.movie_id_fc], dh[:, self.c.movie_id_fc :]
            dg = per_value @ out_w[self._genre_rows].T
        else:
            out_grad = movie.h.T @ dz
            dh = dz @ out_w.T
            if movie.mask is not None:
                dh *= movie.mask
            d_id, d_genre, d_title = np.split(
                dh, [self._genre_rows.start, self._genre_rows.stop], 1
            )
            dg = pool_rows_backward(len(genre_table), b.genres, d_genre)
        g["movie_tower.out.weight"] = out_grad
        _lookup_fc_grads(g, w, "movie_tower.movie", b.movie, e_movie, d_id)
        dg[PAD] = 0.0
        g["movie_tower.genre_emb.weight"] = dg
        dt = gather_tanh_backward(d_title, b.owner, t)
        conv_w = w["movie_tower.title_conv.weight"]
        g["movie_tower.title_conv.weight"] = x.T @ dt
        g["movie_tower.title_conv.bias"] = _column_sums(dt)
        dx = (dt @ conv_w.T).reshape(b.windows.size, -1)
        dw = scatter_add(len(w["movie_tower.word_emb.weight"]), b.windows.reshape(-1), dx)
        dw[PAD] = 0.0
        g["movie_tower.word_emb.weight"] = dw
        return g

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
        mid_rows = b.movie[b.movie_index]
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
        mid_rows: I64,
        scale: np.float32,
        d_un: F32,
        d_mn: F32,
    ) -> float:
        """Weighted sampled-softmax loss over the unit vectors ``un``/``mn`` of the batch's
        users and movies; adds its gradients to ``d_un``/``d_mn`` and ``g``."""
        c = self.c
        weight = c.joint_weight if c.objective == "joint" else 1.0
        rows = (np.arange(len(b.y)) if b.positive is None else np.flatnonzero(b.positive)).astype(
            np.int64
        )
        if rows.size == 0 or weight == 0:
            return 0.0
        inv_t = np.float32(1.0 / c.temperature)
        ui, mi = b.user_index[rows], b.movie_index[rows]
        up, mp = un[ui], mn[mi]
        logits = (up @ mp.T) * inv_t
        biased = c.use_biases and not c.split_heads  # the bias belongs to the rating head
        if biased:
            col_bias = w["movie_bias.weight"][mid_rows[rows], 0]
            logits = logits + col_bias[None, :] * (inv_t / scale)
        log_q = None
        if c.logq_correction:
            if b.log_q is None:
                raise ValidationError("logq_correction needs Batch.log_q")
            log_q = b.log_q[rows]
        value, dz64 = sampled_softmax(logits, mi, log_q, c.mask_accidental_hits)
        dz = (dz64 * weight).astype(np.float32)
        scatter_add_into(d_un, ui, (dz @ mp) * inv_t)
        scatter_add_into(d_mn, mi, (dz.T @ up) * inv_t)
        if biased:
            dcol = dz.sum(axis=0)
            mb = w["movie_bias.weight"]
            g["movie_bias.weight"] += scatter_add(
                len(mb), mid_rows[rows], (dcol * (inv_t / scale))[:, None]
            )
            if c.learn_scale:
                g["scale"] -= np.float32(np.dot(dcol, col_bias) * inv_t / (scale * scale))
        return weight * value


class NumpyOptimizer:
    """Paddle's SGD / Adam update rules (with L2 ``weight_decay``) on numpy arrays, in place.

    Adam follows ``paddle.optimizer.Adam``: bias corrections folded into the step size and
    epsilon scaled by ``sqrt(1 - beta2^t)``.
    """

    def __init__(self, config: ModelConfig, weights: dict[str, F32], names: list[str]) -> None:
        self.c = config
        self.names = names
        self.t = 0
        adam = config.optimizer == "adam"
        self.m = {n: np.zeros_like(weights[n]) for n in names} if adam else {}
        self.v = {n: np.zeros_like(weights[n]) for n in names} if adam else {}

    def step(self, weights: dict[str, F32], grads: dict[str, F32]) -> None:
        """Update ``weights[name]`` in place from ``grads[name]`` for every trained name."""
        c = self.c
        lr = np.float32(c.learning_rate)
        wd = np.float32(c.weight_decay)
        if c.optimizer == "sgd":
            for n in self.names:
                sgd_update(weights[n].reshape(-1), grads[n].reshape(-1), lr, wd)
            return
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        corr2 = np.sqrt(1.0 - b2**self.t)
        step = np.float32(c.learning_rate * corr2 / (1.0 - b1**self.t))
        eps_hat = np.float32(eps * corr2)
        for n in self.names:
            g = grads[n] + wd * weights[n] if wd else grads[n]
            m, v = self.m[n], self.v[n]
            m *= np.float32(b1)
            m += np.float32(1.0 - b1) * g
            v *= np.float32(b2)
            v += np.float32(1.0 - b2) * (g * g)
            weights[n] -= step * m / (np.sqrt(v) + eps_hat)
