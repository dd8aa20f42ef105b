"""Paddle-free forward pass of both towers, from the model's weights as numpy arrays.

An embedding followed by a linear layer is itself a lookup table, and the towers' fc over the
concatenation is linear, so each categorical feature is folded into one table of
pre-activation rows: a user vector is four row lookups, a sum, tanh and a normalization.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fusionrec.config import ModelConfig
from fusionrec.features import PAD, MovieFeatures, UserFeatures

FloatArray = npt.NDArray[np.float32]
_EPS = 1e-12  # paddle.nn.functional.normalize's epsilon


def vector_constants(scale: float, movie_bias: npt.NDArray[np.float32] | None) -> dict[str, float]:
    """Layout constants so that inner product = lam * (scale * cosine + movie bias).

    Without biases vectors are the normalized tower outputs (p = c = 1). With biases the user
    vector is ``[p * u, q, 0]`` and the movie vector ``[c * m, b / k, sqrt(1 - c^2 - (b/k)^2)]``:
    both stay unit length, and ``rating = ip / lam + mean + user bias``.
    """
    if movie_bias is None:
        return {"p": 1.0, "q": 0.0, "c": 1.0, "k": 1.0, "lam": 1.0 / scale}
    c = 1.0 / math.sqrt(2.0)
    top = float(np.max(np.abs(movie_bias))) if movie_bias.size else 0.0
    k = 2.0 * top if top > 0 else 1.0
    q = 1.0 / math.sqrt(1.0 + (scale / (k * c)) ** 2)
    p = q * scale / (k * c)
    return {"p": p, "q": q, "c": c, "k": k, "lam": q / k}


def rating_dim(config: ModelConfig) -> int:
    """Width of the rating-head vectors: the rating units plus the two bias slots if any."""
    return config.user_hidden + (2 if config.use_biases else 0)


def store_dim(config: ModelConfig) -> int:
    """Width of the store-side vectors: the retrieval head's when split, else the rating's."""
    return config.retrieval_hidden if config.split_heads else rating_dim(config)


def _normalize(x: npt.NDArray[np.floating]) -> FloatArray:
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    out: FloatArray = (x / np.maximum(norm, _EPS)).astype(np.float32, copy=False)
    return out


class NumpyTowers:
    """Both towers and the rating map, computed with numpy from state-dict weights."""

    def __init__(self, config: ModelConfig, weights: Mapping[str, npt.NDArray[np.float32]]) -> None:
        self.config = config
        w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
        c = config
        # user side: one pre-activation table per categorical feature
        out_w = w["user_tower.out.weight"]
        splits = np.cumsum([c.user_id_fc, c.gender_fc, c.age_fc, c.occupation_fc])[:-1]
        blocks = np.split(out_w, splits, axis=0)
        names = ("user", "gender", "age", "occupation")
        self._user_tables = []
        for name, block in zip(names, blocks, strict=True):
            emb = w[f"user_tower.{name}_emb.weight"]
            fc = emb @ w[f"user_tower.{name}_fc.weight"] + w[f"user_tower.{name}_fc.bias"]
            self._user_tables.append((fc @ block).astype(np.float32))
        self._user_bias_out = w["user_tower.out.bias"].astype(np.float32)
        # movie side
        out_w = w["movie_tower.out.weight"]
        splits = np.cumsum([c.movie_id_fc, c.genre_dim, c.title_filters])[:-1]
        m_block, g_block, t_block = np.split(out_w, splits, axis=0)
        emb = w["movie_tower.movie_emb.weight"]
        fc = emb @ w["movie_tower.movie_fc.weight"] + w["movie_tower.movie_fc.bias"]
        self._movie_table = (fc @ m_block).astype(np.float32)
        genre = w["movie_tower.genre_emb.weight"].copy()
        genre[PAD] = 0.0
        self._genre_table = (genre @ g_block).astype(np.float32)
        words = w["movie_tower.word_emb.weight"].copy()
        words[PAD] = 0.0
        conv = w["movie_tower.title_conv.weight"]
        d = words.shape[1]
        if conv.shape[0] != c.title_window * d:  # also bounds the loop below
            raise ValueError(
                f"title_conv has {conv.shape[0]} rows, title_window x word dim is "
                f"{c.title_window} x {d}"
            )
        self._conv_tables = [
            (words @ conv[j * d : (j + 1) * d]).astype(np.float32) for j in range(c.title_window)
        ]
        self._conv_bias = w["movie_tower.title_conv.bias"].astype(np.float32)
        self._title_out = t_block.astype(np.float32)
        self._movie_bias_out = w["movie_tower.out.bias"].astype(np.float32)
        # rating head and vector layout
        self.scale = float(w["scale"].reshape(-1)[0])
        self.biased = c.use_biases
        if self.biased:
            self._ub = w["user_bias.weight"][:, 0].astype(np.float32)
            self._mb = w["movie_bias.weight"][:, 0].astype(np.float32)
            self.mean = float(w["global_mean"].reshape(-1)[0])
        calibration = w.get("calibration", np.array([1.0, 0.0])).reshape(-1)
        self.slope, self.intercept = float(calibration[0]), float(calibration[1])
        self.retrieval_only = c.objective == "retrieval"
        self.constants = vector_constants(self.scale, self._mb if self.biased else None)
        self.split = c.retrieval_start
        self.dim = store_dim(c)
        self.rating_dim = rating_dim(c)
        self.vocab_sizes = {
            "user": len(self._user_tables[0]),
            "gender": len(self._user_tables[1]),
            "age": len(self._user_tables[2]),
            "occupation": len(self._user_tables[3]),
            "movie": len(self._movie_table),
            "genres": len(self._genre_table),
            "title": len(words),
        }

    @property
    def shared_vectors(self) -> bool:
        """Whether the store ranks by the rating head (no separate retrieval head)."""
        return not self.split

    def user_outputs(self, users: UserFeatures) -> FloatArray:
        """User tower outputs [n, user_hidden + retrieval_hidden], before normalization."""
        t = self._user_tables
        pre = t[0][users.user] + t[1][users.gender]
        pre += t[2][users.age]
        pre += t[3][users.occupation]
        pre += self._user_bias_out
        out: FloatArray = np.tanh(pre)
        return out

    def movie_outputs(self, movies: MovieFeatures) -> FloatArray:
        """Movie tower outputs [n, movie_hidden + retrieval_hidden], before normalization."""
        title = movies.title
        n, width = title.shape
        half = self.config.title_window // 2
        padded = np.zeros((n, width + 2 * half), dtype=np.int64)
        padded[:, half : half + width] = title
        rows, cols = np.nonzero(title != PAD)  # only real words: titles are mostly padding
        conv = np.zeros((len(rows), len(self._conv_bias)), dtype=np.float32)
        for j, table in enumerate(self._conv_tables):
            conv += table[padded[rows, cols + j]]
        conv += self._conv_bias
        np.tanh(conv, out=conv)
        pooled = np.zeros((n, conv.shape[1]), dtype=np.float32)
        if len(rows):
            starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
            pooled[rows[starts]] = np.add.reduceat(conv, starts, axis=0)
        pre = self._movie_table[movies.movie] + self._genre_table[movies.genres].sum(axis=1)
        pre += pooled @ self._title_out
        pre += self._movie_bias_out
        out: FloatArray = np.tanh(pre)
        return out

    def user_vectors(self, users: UserFeatures) -> FloatArray:
        """Store-side user vectors (unit length)."""
        if self.split:
            return _normalize(self.user_outputs(users)[:, self.split :])
        return self.user_rating_vectors(users)

    def movie_vectors(self, movies: MovieFeatures) -> FloatArray:
        """Store-side movie vectors (unit length)."""
        if self.split:
            return _normalize(self.movie_outputs(movies)[:, self.split :])
        return self.movie_rating_vectors(movies)

    def _rating_units(self, outputs: FloatArray) -> FloatArray:
        """The normalized tower units the rating head uses (all of them without a split)."""
        return _normalize(outputs[:, : self.split] if self.split else outputs)

    def user_vector_pair(self, users: UserFeatures) -> tuple[FloatArray, FloatArray]:
        """(store vectors, rating vectors) from one tower pass: what serving needs of a user."""
        outputs = self.user_outputs(users)
        rating = self._user_rating_from(outputs)
        if self.split:
            return _normalize(outputs[:, self.split :]), rating
        return rating, rating

    def user_rating_vectors(self, users: UserFeatures) -> FloatArray:
        """Unit-length user vectors whose inner products :meth:`ratings` maps to ratings."""
        return self._user_rating_from(self.user_outputs(users))

    def _user_rating_from(self, outputs: FloatArray) -> FloatArray:
        hat = self._rating_units(outputs)
        if not self.biased:
            return hat
        k = self.constants
        vec = np.zeros((len(hat), self.rating_dim), dtype=np.float32)
        vec[:, :-2] = hat * np.float32(k["p"])
        vec[:, -2] = k["q"]
        return vec

    def movie_rating_vectors(self, movies: MovieFeatures) -> FloatArray:
        """Unit-length movie vectors paired with :meth:`user_rating_vectors`."""
        hat = self._rating_units(self.movie_outputs(movies))
        if not self.biased:
            return hat
        k = self.constants
        b = self._mb[movies.movie] * np.float32(1.0 / k["k"])
        vec = np.empty((len(hat), self.rating_dim), dtype=np.float32)
        vec[:, :-2] = hat * np.float32(k["c"])
        vec[:, -2] = b
        vec[:, -1] = np.sqrt(np.maximum(1.0 - k["c"] ** 2 - b * b, 0.0))
        return vec

    def user_offsets(self, users: UserFeatures) -> FloatArray:
        """Per-user rating offset added to ``ip / lam`` (mean + user bias; else 0).

        Zero without biases and for a retrieval-only model (its calibration absorbs the mean).
        """
        if not self.biased or self.retrieval_only:
            return np.zeros(len(users), dtype=np.float32)
        out: FloatArray = (self.mean + self._ub[users.user]).astype(np.float32)
        return out

    def ratings(self, scores: npt.NDArray[np.floating], users: UserFeatures) -> FloatArray:
        """Rating-vector inner products [n, k] -> predicted ratings [n, k] (clipped if configured).

        ``s = ip / lam`` is the model's score; rating = ``slope * s + intercept`` + the user's
        offset, where ``(slope, intercept)`` is ``(1, 0)`` except for a retrieval-only model.
        """
        out: FloatArray = np.asarray(scores, dtype=np.float32) * np.float32(
            self.slope / self.constants["lam"]
        )
        out += np.float32(self.intercept)
        out += self.user_offsets(users)[:, None]
        if self.config.clip_ratings:
            np.clip(out, self.config.rating_min, self.config.rating_max, out=out)
        return out
