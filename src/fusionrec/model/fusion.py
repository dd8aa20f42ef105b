"""The fusion model in Paddle: a user tower, a movie tower and a cosine rating head.

User tower: id, gender, age and occupation embeddings, each through its own fc, concatenated
into an fc with tanh. Movie tower: id embedding through an fc, genre embeddings sum-pooled,
and title words through a 1-D convolution (tanh) sum-pooled over the real words; concatenated
into an fc with tanh. Score s = scale * cosine (+ movie bias when biases are enabled); the
store ranks by s. Rating = s (+ mean + user bias) for the rating and joint objectives, and a
calibrated ``a * s + b`` (fitted on training ratings) for a retrieval-only model. A joint
model with ``retrieval_hidden > 0`` has split heads: the rating uses the towers' first
``user_hidden`` output units, the softmax and the store the cosine of the remaining ones.

Title masking: the convolution is "same"-padded with zero vectors (PAD embeds as zero), and
every output position whose centre word is PAD is zeroed before the sum. That is exactly the
book's ``sequence_conv_pool`` over variable-length titles: each real word's window sees zeros
beyond the title's ends, and padding positions contribute nothing. The convolution is held as
an ``nn.Linear`` over the concatenated window embeddings ``[w(t-1), w(t), w(t+1)]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec._numpy_towers import store_dim, vector_constants
from fusionrec._paddle import paddle
from fusionrec.config import ModelConfig
from fusionrec.features.encoder import PAD, FeatureEncoder, MovieFeatures, UserFeatures

nn = paddle.nn

Tensor = paddle.Tensor
FloatArray = npt.NDArray[np.float32]


class UserTower(nn.Layer):
    """User features -> tanh vector: ``user_hidden`` rating units, then ``retrieval_hidden``."""

    def __init__(self, config: ModelConfig, encoder: FeatureEncoder) -> None:
        super().__init__()
        c = config
        self.user_emb = nn.Embedding(encoder.n_users, c.user_id_dim)
        self.user_fc = nn.Linear(c.user_id_dim, c.user_id_fc)
        self.gender_emb = nn.Embedding(encoder.n_genders, c.gender_dim)
        self.gender_fc = nn.Linear(c.gender_dim, c.gender_fc)
        self.age_emb = nn.Embedding(encoder.n_ages, c.age_dim)
        self.age_fc = nn.Linear(c.age_dim, c.age_fc)
        self.occupation_emb = nn.Embedding(encoder.n_occupations, c.occupation_dim)
        self.occupation_fc = nn.Linear(c.occupation_dim, c.occupation_fc)
        self.dropout = nn.Dropout(c.dropout)
        width = c.user_id_fc + c.gender_fc + c.age_fc + c.occupation_fc
        self.out = nn.Linear(width, c.user_hidden + c.retrieval_hidden)

    def forward(self, user: Tensor, gender: Tensor, age: Tensor, occupation: Tensor) -> Tensor:
        parts = [
            self.user_fc(self.user_emb(user)),
            self.gender_fc(self.gender_emb(gender)),
            self.age_fc(self.age_emb(age)),
            self.occupation_fc(self.occupation_emb(occupation)),
        ]
        return paddle.tanh(self.out(self.dropout(paddle.concat(parts, axis=1))))


class MovieTower(nn.Layer):
    """Movie features -> tanh vector: ``movie_hidden`` rating units, then ``retrieval_hidden``."""

    def __init__(self, config: ModelConfig, encoder: FeatureEncoder) -> None:
        super().__init__()
        c = config
        self.window = c.title_window
        self.movie_emb = nn.Embedding(encoder.n_movies, c.movie_id_dim)
        self.movie_fc = nn.Linear(c.movie_id_dim, c.movie_id_fc)
        self.genre_emb = nn.Embedding(encoder.n_genres, c.genre_dim, padding_idx=PAD)
        self.word_emb = nn.Embedding(encoder.n_words, c.title_dim, padding_idx=PAD)
        self.title_conv = nn.Linear(c.title_window * c.title_dim, c.title_filters)
        self.dropout = nn.Dropout(c.dropout)
        width = c.movie_id_fc + c.genre_dim + c.title_filters
        self.out = nn.Linear(width, c.movie_hidden + c.retrieval_hidden)

    def forward(self, movie: Tensor, genres: Tensor, title: Tensor) -> Tensor:
        """Padded inputs: movie [n], genres [n, G], title [n, W] (PAD = 0)."""
        emb = self.word_emb(title)  # [n, W, D]
        half = self.window // 2
        zero = paddle.zeros_like(emb[:, :1, :])
        padded = paddle.concat([zero] * half + [emb] + [zero] * half, axis=1)
        span = 2 * half
        shifted = [padded[:, j : (j - span if j < span else None), :] for j in range(self.window)]
        conv = paddle.tanh(self.title_conv(paddle.concat(shifted, axis=2)))  # [n, W, F]
        mask = paddle.cast(title != PAD, conv.dtype).unsqueeze(-1)
        return self._combine(movie, genres, paddle.sum(conv * mask, axis=1))

    def forward_packed(
        self, movie: Tensor, genres: Tensor, windows: Tensor, owner: Tensor
    ) -> Tensor:
        """Same maths on packed titles: one row of word indices per real word (see pack_titles)."""
        emb = self.word_emb(windows)  # [m, window, D]
        conv = paddle.tanh(self.title_conv(paddle.flatten(emb, start_axis=1)))
        pooled = paddle.zeros([movie.shape[0], conv.shape[1]], dtype=conv.dtype)
        pooled = paddle.index_add(pooled, owner, 0, conv)
        return self._combine(movie, genres, pooled)

    def _combine(self, movie: Tensor, genres: Tensor, title: Tensor) -> Tensor:
        parts = [
            self.movie_fc(self.movie_emb(movie)),
            paddle.sum(self.genre_emb(genres), axis=1),
            title,
        ]
        return paddle.tanh(self.out(self.dropout(paddle.concat(parts, axis=1))))


def l2_normalize(x: Tensor) -> Tensor:
    """Rows of ``x`` scaled to unit length: ``x / max(||x||, 1e-12)`` like F.normalize.

    Written out because Paddle's p_norm backward is slow on CPU (half of a training step).
    """
    norm = paddle.sqrt(paddle.sum(x * x, axis=1, keepdim=True))
    return x / paddle.clip(norm, min=1e-12)


def pack_titles(
    title: npt.NDArray[np.int64], window: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Padded titles [n, W] -> (windows [m, window], owner [m]) over the m real words.

    Row k holds the indices of the words around real word k (PAD beyond the title's ends);
    ``owner[k]`` is its title's row. Feeding these to :meth:`MovieTower.forward_packed` gives
    the same result as the padded path without computing the padding positions.
    """
    half = window // 2
    n, w = title.shape
    padded = np.zeros((n, w + 2 * half), dtype=np.int64)
    padded[:, half : half + w] = title
    rows, cols = np.nonzero(title != PAD)
    offsets = np.arange(window, dtype=np.int64)
    windows = padded[rows[:, None], cols[:, None] + offsets[None, :]]
    return windows, rows.astype(np.int64)


class FusionModel(nn.Layer):
    """User tower + movie tower + rating head, built from a config and a fitted encoder.

    Construction seeds Paddle with ``config.seed`` so that the same config gives the same
    initial weights.
    """

    def __init__(self, config: ModelConfig, encoder: FeatureEncoder) -> None:
        super().__init__()
        paddle.seed(config.seed)
        self.config = config
        self.user_tower = UserTower(config, encoder)
        self.movie_tower = MovieTower(config, encoder)
        zeros = nn.initializer.Constant(0.0)
        if config.use_biases:
            self.user_bias = nn.Embedding(
                encoder.n_users, 1, weight_attr=paddle.ParamAttr(initializer=zeros)
            )
            self.movie_bias = nn.Embedding(
                encoder.n_movies, 1, weight_attr=paddle.ParamAttr(initializer=zeros)
            )
        scale = nn.initializer.Constant(config.score_scale)
        self.scale = self.create_parameter([1], default_initializer=scale)
        self.scale.stop_gradient = not config.learn_scale
        midpoint = (config.rating_min + config.rating_max) / 2.0
        self.register_buffer("global_mean", paddle.to_tensor([midpoint], dtype="float32"))
        self.register_buffer("calibration", paddle.to_tensor([1.0, 0.0], dtype="float32"))

    @property
    def dim(self) -> int:
        """Width of the store-side vectors (:meth:`encode_users`, :meth:`encode_movies`)."""
        return store_dim(self.config)

    def rating_part(self, hidden: Tensor) -> Tensor:
        """The units of a tower output that the rating head uses."""
        return hidden[:, : self.config.user_hidden] if self.config.split_heads else hidden

    def retrieval_part(self, hidden: Tensor) -> Tensor:
        """The units of a tower output that the softmax (and the store) use."""
        return hidden[:, self.config.user_hidden :] if self.config.split_heads else hidden

    def set_global_mean(self, value: float) -> None:
        """Set the rating offset used with biases (the training mean)."""
        self.global_mean.set_value(paddle.to_tensor([value], dtype="float32"))

    def set_calibration(self, slope: float, intercept: float) -> None:
        """Set the retrieval-only rating map ``rating = slope * score + intercept``."""
        self.calibration.set_value(paddle.to_tensor([slope, intercept], dtype="float32"))

    def logits(self, user_rows: Tensor, movie_rows: Tensor, movie_index: Tensor) -> Tensor:
        """Softmax logits [B, B] = score / (scale * temperature) of tower rows against columns.

        ``movie_index`` [B] holds the columns' movie vocabulary indices (for the bias, which a
        separate retrieval head does not use: the movie bias belongs to the rating head).
        """
        u = l2_normalize(self.retrieval_part(user_rows))
        m = l2_normalize(self.retrieval_part(movie_rows))
        inv_t = 1.0 / self.config.temperature
        out: Tensor = (u @ m.T) * inv_t
        if self.config.use_biases and not self.config.split_heads:
            col = self.movie_bias(movie_index).squeeze(-1) * inv_t / self.scale
            out = out + col.unsqueeze(0)
        return out

    def score(
        self, user_hidden: Tensor, movie_hidden: Tensor, user_index: Tensor, movie_index: Tensor
    ) -> Tensor:
        """Predicted ratings for rows pairing ``user_hidden[i]`` with ``movie_hidden[i]``."""
        u = l2_normalize(self.rating_part(user_hidden))
        cos = paddle.sum(u * l2_normalize(self.rating_part(movie_hidden)), axis=1)
        pred = self.scale * cos
        if self.config.use_biases:
            pred = (
                pred
                + self.global_mean
                + self.user_bias(user_index).squeeze(-1)
                + self.movie_bias(movie_index).squeeze(-1)
            )
        return pred

    def forward(self, users: UserFeatures, movies: MovieFeatures) -> Tensor:
        """Predicted ratings (unclipped) for paired rows of ``users`` and ``movies``."""
        u = _user_tensors(users)
        m = paddle.to_tensor(movies.movie)
        uh = self.user_tower(*u)
        mh = self.movie_tower(m, paddle.to_tensor(movies.genres), paddle.to_tensor(movies.title))
        return self.score(uh, mh, u[0], m)

    # ---- inference helpers (eval mode, no gradients) ----------------------------------------
    def predict(
        self,
        users: UserFeatures,
        movies: MovieFeatures,
        user_index: npt.NDArray[np.int64],
        movie_index: npt.NDArray[np.int64],
        raw: bool = False,
    ) -> FloatArray:
        """Ratings for rows (users[user_index[i]], movies[movie_index[i]]), clipped if configured.

        Each tower runs once per given user and movie; rows are gathered afterwards. With
        ``raw=True`` a retrieval model returns its unclipped score ``s`` instead (what the
        rating calibration is fitted on).
        """
        was_training = self.training
        self.eval()
        try:
            with paddle.no_grad():
                u = _user_tensors(users)
                uh = l2_normalize(self.rating_part(self.user_tower(*u))).numpy()
                m = paddle.to_tensor(movies.movie)
                mh = self.movie_tower(
                    m, paddle.to_tensor(movies.genres), paddle.to_tensor(movies.title)
                )
                mh = l2_normalize(self.rating_part(mh)).numpy()
                scale = float(self.scale.numpy()[0])
                pred = scale * np.einsum("ij,ij->i", uh[user_index], mh[movie_index])
                if self.config.use_biases:
                    mb = self.movie_bias.weight.numpy()[:, 0][movies.movie]
                    pred = pred + mb[movie_index]
                if raw and self.config.objective == "retrieval":
                    return np.asarray(pred, dtype=np.float32)
                if self.config.objective == "retrieval":
                    slope, intercept = (float(v) for v in self.calibration.numpy())
                    pred = slope * pred + intercept
                elif self.config.use_biases:
                    ub = self.user_bias.weight.numpy()[:, 0][users.user]
                    pred = pred + float(self.global_mean.numpy()[0]) + ub[user_index]
        finally:
            if was_training:
                self.train()
        if self.config.clip_ratings:
            pred = np.clip(pred, self.config.rating_min, self.config.rating_max)
        out: FloatArray = pred.astype(np.float32)
        return out

    def encode_users(self, users: UserFeatures) -> FloatArray:
        """Store-side user vectors: float32, L2-normalized, shape [n, dim]."""
        with paddle.no_grad():
            layer = UserVectorLayer(self)
            layer.eval()
            out: FloatArray = layer(*_user_tensors(users)).numpy()
        return out

    def encode_movies(self, movies: MovieFeatures) -> FloatArray:
        """Store-side movie vectors: float32, L2-normalized, shape [n, dim]."""
        with paddle.no_grad():
            layer = MovieVectorLayer(self)
            layer.eval()
            out: FloatArray = layer(
                paddle.to_tensor(movies.movie),
                paddle.to_tensor(movies.genres),
                paddle.to_tensor(movies.title),
            ).numpy()
        return out

    def numpy_weights(self) -> dict[str, FloatArray]:
        """Every parameter and buffer as a float32 numpy array, keyed by state-dict name."""
        return {k: np.asarray(v.numpy(), dtype=np.float32) for k, v in self.state_dict().items()}


def _user_tensors(users: UserFeatures) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return (
        paddle.to_tensor(users.user),
        paddle.to_tensor(users.gender),
        paddle.to_tensor(users.age),
        paddle.to_tensor(users.occupation),
    )


def _constants(model: FusionModel) -> dict[str, float]:
    movie_bias = model.movie_bias.weight.numpy()[:, 0] if model.config.use_biases else None
    return vector_constants(float(model.scale.numpy()[0]), movie_bias)


class UserVectorLayer(nn.Layer):
    """The user tower plus the vector layout: what gets exported as the user inference model.

    Constants of the layout are frozen from the model's weights when the layer is built.
    """

    def __init__(self, model: FusionModel) -> None:
        super().__init__()
        self.tower = model.user_tower
        k = _constants(model)
        self.biased = model.config.use_biases
        self.split = model.config.retrieval_start
        self.p = k["p"]
        self.q = k["q"]

    def forward(self, user: Tensor, gender: Tensor, age: Tensor, occupation: Tensor) -> Tensor:
        out = self.tower(user, gender, age, occupation)
        if self.split:  # the retrieval head's units, unit length: the store ranks by them
            return l2_normalize(out[:, self.split :])
        hat = l2_normalize(out)
        if not self.biased:
            return hat
        ones = paddle.ones_like(hat[:, :1])
        return paddle.concat([hat * self.p, ones * self.q, ones * 0.0], axis=1)


class MovieVectorLayer(nn.Layer):
    """The movie tower plus the vector layout: what gets exported as the movie inference model."""

    def __init__(self, model: FusionModel) -> None:
        super().__init__()
        self.tower = model.movie_tower
        k = _constants(model)
        self.biased = model.config.use_biases
        self.split = model.config.retrieval_start
        self.c = k["c"]
        self.inv_k = 1.0 / k["k"]
        if self.biased:
            self.bias = model.movie_bias

    def forward(self, movie: Tensor, genres: Tensor, title: Tensor) -> Tensor:
        out = self.tower(movie, genres, title)
        if self.split:
            return l2_normalize(out[:, self.split :])
        hat = l2_normalize(out)
        if not self.biased:
            return hat
        b = self.bias(movie) * self.inv_k
        rest = paddle.sqrt(paddle.clip(1.0 - self.c * self.c - b * b, min=0.0))
        return paddle.concat([hat * self.c, b, rest], axis=1)


def describe(model: FusionModel) -> dict[str, Any]:
    """Parameter counts per tower (for logs and benchmarks)."""

    def count(layer: nn.Layer) -> int:
        return int(sum(int(np.prod(p.shape)) for p in layer.parameters()))

    return {
        "user_tower": count(model.user_tower),
        "movie_tower": count(model.movie_tower),
        "total": count(model),
        "dim": model.dim,
    }
