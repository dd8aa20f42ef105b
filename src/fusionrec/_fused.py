"""A fused training step: the fusion model's loss and every gradient, computed with numpy.

Paddle's dygraph on CPU spends most of a small-batch step in per-op overhead and in its slow
matmul; this kernel does the same maths (same forward, exact analytic gradients) in a few
numpy calls, and :class:`NumpyOptimizer` applies Paddle's SGD / Adam update rules to numpy
copies of the weights, which the trainer writes back to the Paddle parameters after each
epoch. Tests check the loss and gradients against Paddle's autograd on the same batch and the
updates against Paddle's optimizers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusionrec.config import ModelConfig
from fusionrec.errors import ValidationError
from fusionrec.features import PAD
from fusionrec.losses import sampled_softmax

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
_EPS = np.float32(1e-12)
_USER = ("user", "gender", "age", "occupation")


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


def _scatter(table_shape: tuple[int, ...], index: I64, values: F32) -> F32:
    """``out[index[i]] += values[i]`` into zeros.

    Small tables (demographic vocabularies) use a one-hot matmul; others the flat 1-D
    ``np.add.at``, its fast path (the 2-D form is several times slower).
    """
    rows = table_shape[0]
    if rows <= 64:
        onehot = (index[None, :] == np.arange(rows)[:, None]).astype(np.float32)
        out: F32 = (onehot @ values.reshape(len(index), -1)).reshape(table_shape)
        return out
    out = np.zeros(table_shape, dtype=np.float32)
    width = math.prod(table_shape[1:])
    flat = (index[:, None] * width + np.arange(width)).reshape(-1)
    np.add.at(out.reshape(-1), flat, values.reshape(-1))
    return out


def _normalize(x: F32) -> tuple[F32, F32]:
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    clipped = np.maximum(norm, _EPS)
    return x / clipped, clipped


def _normalize_grad(d_out: F32, out: F32, clipped: F32) -> F32:
    # d(x / max(|x|, eps)): the projection term vanishes where the clip is active
    active = (clipped > _EPS).astype(np.float32)
    proj = np.einsum("ij,ij->i", d_out, out)[:, None] * active
    grad: F32 = (d_out - out * proj) / clipped
    return grad


class FusedStep:
    """Loss and gradients of a FusionModel for one :class:`Batch`, in numpy."""

    def __init__(self, config: ModelConfig, names: list[str]) -> None:
        self.c = config
        self.names = names  # trainable parameters, in the order gradients are returned
        self.constants: dict[str, F32] = {}  # non-trained weights (global mean, fixed scale)
        self.rng = np.random.default_rng(config.seed + 1)

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
        g: dict[str, F32] = {}
        # ---- user tower -------------------------------------------------------------------
        parts, embs = [], []
        for name, idx in zip(_USER, b.user_ids, strict=True):
            e = w[f"user_tower.{name}_emb.weight"][idx]
            embs.append(e)
            parts.append(e @ w[f"user_tower.{name}_fc.weight"] + w[f"user_tower.{name}_fc.bias"])
        hu = np.concatenate(parts, axis=1)
        mu_mask = self._dropout(hu.shape)
        hud = hu * mu_mask if mu_mask is not None else hu
        yu = np.tanh(hud @ w["user_tower.out.weight"] + w["user_tower.out.bias"])
        # ---- movie tower ------------------------------------------------------------------
        e_movie = w["movie_tower.movie_emb.weight"][b.movie]
        m_id = e_movie @ w["movie_tower.movie_fc.weight"] + w["movie_tower.movie_fc.bias"]
        genre_table = w["movie_tower.genre_emb.weight"].copy()
        genre_table[PAD] = 0.0
        m_genre = genre_table[b.genres].sum(axis=1)
        word_table = w["movie_tower.word_emb.weight"].copy()
        word_table[PAD] = 0.0
        n_words, window = b.windows.shape
        x = word_table[b.windows].reshape(n_words, -1)
        conv_w = w["movie_tower.title_conv.weight"]
        t = np.tanh(x @ conv_w + w["movie_tower.title_conv.bias"])
        n_movies = len(b.movie)
        m_title = _scatter((n_movies, t.shape[1]), b.owner, t)
        hm = np.concatenate([m_id, m_genre, m_title], axis=1)
        mm_mask = self._dropout(hm.shape)
        hmd = hm * mm_mask if mm_mask is not None else hm
        ym = np.tanh(hmd @ w["movie_tower.out.weight"] + w["movie_tower.out.bias"])
        # ---- rating head ------------------------------------------------------------------
        split = c.user_hidden if c.split_heads else yu.shape[1]
        un, un_norm = _normalize(yu[:, :split])
        mn, mn_norm = _normalize(ym[:, :split])
        urow, mrow = un[b.user_index], mn[b.movie_index]
        cos = np.einsum("ij,ij->i", urow, mrow)
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
        rating_loss = c.objective in ("rating", "joint")
        d_urow = np.zeros_like(urow)
        d_mrow = np.zeros_like(mrow)
        loss = 0.0
        if c.learn_scale:
            g["scale"] = np.zeros(1, dtype=np.float32)
        if c.use_biases:
            ub = w["user_bias.weight"]
            mb = w["movie_bias.weight"]
            g["user_bias.weight"] = np.zeros_like(ub)
            g["movie_bias.weight"] = np.zeros_like(mb)
        if rating_loss:
            diff = pred - b.y
            loss += float(np.mean(diff.astype(np.float64) ** 2))
            dpred = (2.0 / len(diff)) * diff
            if c.learn_scale:
                g["scale"] += np.asarray([np.dot(dpred, cos)], dtype=np.float32)
            if c.use_biases:
                g["user_bias.weight"] += _scatter(ub.shape, uid_rows, dpred[:, None])
                g["movie_bias.weight"] += _scatter(mb.shape, mid_rows, dpred[:, None])
            dcos = (dpred * scale)[:, None]
            d_urow += dcos * mrow
            d_mrow += dcos * urow
        if c.objective in ("retrieval", "joint") and not c.split_heads:
            loss += self._softmax(b, w, g, urow, mrow, mid_rows, scale, d_urow, d_mrow)
        d_un = _scatter(un.shape, b.user_index, d_urow)
        d_mn = _scatter(mn.shape, b.movie_index, d_mrow)
        d_yu = _normalize_grad(d_un, un, un_norm)
        d_ym = _normalize_grad(d_mn, mn, mn_norm)
        if c.split_heads:  # the softmax on the retrieval units, after the rating units
            loss_s, d_ru, d_rm = self._split_softmax(b, w, g, yu[:, split:], ym[:, split:])
            loss += loss_s
            d_yu = np.concatenate([d_yu, d_ru], axis=1)
            d_ym = np.concatenate([d_ym, d_rm], axis=1)
        # user tower
        dzu = d_yu * (1.0 - yu * yu)
        g["user_tower.out.weight"] = hud.T @ dzu
        g["user_tower.out.bias"] = dzu.sum(axis=0)
        dhu = dzu @ w["user_tower.out.weight"].T
        if mu_mask is not None:
            dhu *= mu_mask
        start = 0
        for name, idx, e in zip(_USER, b.user_ids, embs, strict=True):
            fc_w = w[f"user_tower.{name}_fc.weight"]
            da = dhu[:, start : start + fc_w.shape[1]]
            start += fc_w.shape[1]
            g[f"user_tower.{name}_fc.weight"] = e.T @ da
            g[f"user_tower.{name}_fc.bias"] = da.sum(axis=0)
            table = w[f"user_tower.{name}_emb.weight"]
            g[f"user_tower.{name}_emb.weight"] = _scatter(table.shape, idx, da @ fc_w.T)
        # movie tower
        dzm = d_ym * (1.0 - ym * ym)
        g["movie_tower.out.weight"] = hmd.T @ dzm
        g["movie_tower.out.bias"] = dzm.sum(axis=0)
        dhm = dzm @ w["movie_tower.out.weight"].T
        if mm_mask is not None:
            dhm *= mm_mask
        k1, k2 = m_id.shape[1], m_id.shape[1] + m_genre.shape[1]
        d_id, d_genre, d_title = dhm[:, :k1], dhm[:, k1:k2], dhm[:, k2:]
        fc_w = w["movie_tower.movie_fc.weight"]
        g["movie_tower.movie_fc.weight"] = e_movie.T @ d_id
        g["movie_tower.movie_fc.bias"] = d_id.sum(axis=0)
        g["movie_tower.movie_emb.weight"] = _scatter(
            w["movie_tower.movie_emb.weight"].shape, b.movie, d_id @ fc_w.T
        )
        n_g = b.genres.shape[1]
        dg = _scatter(
            genre_table.shape,
            b.genres.reshape(-1),
            np.repeat(d_genre, n_g, axis=0),
        )
        dg[PAD] = 0.0
        g["movie_tower.genre_emb.weight"] = dg
        dt = d_title[b.owner] * (1.0 - t * t)
        g["movie_tower.title_conv.weight"] = x.T @ dt
        g["movie_tower.title_conv.bias"] = dt.sum(axis=0)
        dx = (dt @ conv_w.T).reshape(n_words * window, -1)
        dw = _scatter(word_table.shape, b.windows.reshape(-1), dx)
        dw[PAD] = 0.0
        g["movie_tower.word_emb.weight"] = dw
        return loss, {k: np.ascontiguousarray(g[k], dtype=np.float32) for k in self.names}

    def _split_softmax(
        self, b: Batch, w: dict[str, F32], g: dict[str, F32], ru: F32, rm: F32
    ) -> tuple[float, F32, F32]:
        """The softmax on a separate retrieval head: loss and gradients of its raw outputs."""
        su, su_norm = _normalize(ru)
        sm, sm_norm = _normalize(rm)
        urow, mrow = su[b.user_index], sm[b.movie_index]
        d_urow, d_mrow = np.zeros_like(urow), np.zeros_like(mrow)
        mid_rows = b.movie[b.movie_index]
        loss = self._softmax(b, w, g, urow, mrow, mid_rows, np.float32(1.0), d_urow, d_mrow)
        d_su = _scatter(su.shape, b.user_index, d_urow)
        d_sm = _scatter(sm.shape, b.movie_index, d_mrow)
        return (
            loss,
            _normalize_grad(d_su, su, su_norm),
            _normalize_grad(d_sm, sm, sm_norm),
        )

    def _softmax(
        self,
        b: Batch,
        w: dict[str, F32],
        g: dict[str, F32],
        urow: F32,
        mrow: F32,
        mid_rows: I64,
        scale: np.float32,
        d_urow: F32,
        d_mrow: F32,
    ) -> float:
        """Weighted sampled-softmax loss; adds its gradients to ``d_urow``/``d_mrow``/``g``."""
        c = self.c
        weight = c.joint_weight if c.objective == "joint" else 1.0
        rows = (np.arange(len(urow)) if b.positive is None else np.flatnonzero(b.positive)).astype(
            np.int64
        )
        if rows.size == 0 or weight == 0:
            return 0.0
        inv_t = np.float32(1.0 / c.temperature)
        up, mp = urow[rows], mrow[rows]
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
        value, dz64 = sampled_softmax(logits, b.movie_index[rows], log_q, c.mask_accidental_hits)
        dz = (dz64 * weight).astype(np.float32)
        d_urow[rows] += (dz @ mp) * inv_t
        d_mrow[rows] += (dz.T @ up) * inv_t
        if biased:
            dcol = dz.sum(axis=0)
            mb = w["movie_bias.weight"]
            g["movie_bias.weight"] += _scatter(
                mb.shape, mid_rows[rows], (dcol * (inv_t / scale))[:, None]
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
        self.m = {n: np.zeros_like(weights[n]) for n in names}
        self.v = {n: np.zeros_like(weights[n]) for n in names}

    def step(self, weights: dict[str, F32], grads: dict[str, F32]) -> None:
        """Update ``weights[name]`` in place from ``grads[name]`` for every trained name."""
        c = self.c
        lr = np.float32(c.learning_rate)
        wd = np.float32(c.weight_decay)
        if c.optimizer == "sgd":
            for n in self.names:
                g = grads[n] + wd * weights[n] if wd else grads[n]
                weights[n] -= lr * g
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
