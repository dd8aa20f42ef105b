"""The fusion model in Paddle: a user tower and an item tower from a schema, and the heads.

Each tower concatenates its features' blocks (see :mod:`fusionrec.features`) into an fc with
tanh. Score s = scale * cosine (+ item bias when biases are enabled); the store ranks by s.
Rating = s (+ mean + user bias) for the rating and joint objectives, and a calibrated
``a * s + b`` (fitted on training ratings) for a retrieval-only model. A joint model with
``retrieval_hidden > 0`` has split heads: the rating uses the towers' first ``user_hidden``
output units, the softmax and the store the cosine of the remaining ones. The vector layout
that turns tower outputs into store vectors is :mod:`fusionrec.model.layout`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec._paddle import paddle
from fusionrec.blocks import feature_rows, map_blocks
from fusionrec.config import ModelConfig
from fusionrec.errors import ConfigError
from fusionrec.features.encoder import FeatureEncoder
from fusionrec.features.schema import Features
from fusionrec.model.layout import store_dim, vector_constants
from fusionrec.model.towers import Tower

nn = paddle.nn

Tensor = paddle.Tensor
FloatArray = npt.NDArray[np.float32]
SIDES = ("user", "item")


class UserTower(Tower):
    """The schema's user side -> tanh vector: ``user_hidden`` rating units, then the
    ``retrieval_hidden`` units of a separate retrieval head."""

    def __init__(self, config: ModelConfig, encoder: FeatureEncoder) -> None:
        width = config.user_hidden + config.retrieval_hidden
        super().__init__(encoder.schema.user, encoder.states["user"], width, config.dropout)


class MovieTower(Tower):
    """The schema's item side -> tanh vector, laid out like the user tower's."""

    def __init__(self, config: ModelConfig, encoder: FeatureEncoder) -> None:
        width = config.movie_hidden + config.retrieval_hidden
        super().__init__(encoder.schema.item, encoder.states["item"], width, config.dropout)


def tower_inputs(tower: Tower, features: Features) -> list[Tensor]:
    """The tower's inputs, one tensor per feature in schema order."""
    return [paddle.to_tensor(features[f.name]) for f in tower.features]


def l2_normalize(x: Tensor) -> Tensor:
    """Rows of ``x`` scaled to unit length: ``x / max(||x||, 1e-12)`` like F.normalize.

    Written out because Paddle's p_norm backward is slow on CPU (half of a training step).
    """
    norm = paddle.sqrt(paddle.sum(x * x, axis=1, keepdim=True))
    return x / paddle.clip(norm, min=1e-12)


class FusionModel(nn.Layer):
    """User tower + item tower + rating head, built from a config and a fitted encoder.

    Construction seeds Paddle with ``config.seed`` so that the same config gives the same
    initial weights. Biases need an id feature on both sides of the schema.
    """

    def __init__(self, config: ModelConfig, encoder: FeatureEncoder) -> None:
        super().__init__()
        schema = encoder.schema
        user_id, item_id = schema.id_of("user"), schema.id_of("item")
        if config.use_biases and (user_id is None or item_id is None):
            raise ConfigError("ModelConfig.use_biases needs an id feature on both schema sides")
        paddle.seed(config.seed)
        self.config = config
        self.user_id = user_id.name if user_id is not None else None
        self.item_id = item_id.name if item_id is not None else None
        self.user_tower = UserTower(config, encoder)
        self.item_tower = MovieTower(config, encoder)
        zeros = nn.initializer.Constant(0.0)
        if config.use_biases:
            self.user_bias = nn.Embedding(
                encoder.id_rows("user"), 1, weight_attr=paddle.ParamAttr(initializer=zeros)
            )
            self.item_bias = nn.Embedding(
                encoder.id_rows("item"), 1, weight_attr=paddle.ParamAttr(initializer=zeros)
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

    def logits(self, user_rows: Tensor, item_rows: Tensor, item_index: Tensor | None) -> Tensor:
        """Softmax logits [B, B] = score / (scale * temperature) of tower rows against columns.

        ``item_index`` [B] holds the columns' item id indices (for the bias, which a separate
        retrieval head does not use: the item bias belongs to the rating head).
        """
        u = l2_normalize(self.retrieval_part(user_rows))
        m = l2_normalize(self.retrieval_part(item_rows))
        inv_t = 1.0 / self.config.temperature
        out: Tensor = (u @ m.T) * inv_t
        if self.config.use_biases and not self.config.split_heads:
            col = self.item_bias(item_index).squeeze(-1) * inv_t / self.scale
            out = out + col.unsqueeze(0)
        return out

    def score(
        self,
        user_hidden: Tensor,
        item_hidden: Tensor,
        user_index: Tensor | None,
        item_index: Tensor | None,
    ) -> Tensor:
        """Predicted ratings for rows pairing ``user_hidden[i]`` with ``item_hidden[i]``;
        the indices are the rows' id indices (used with biases)."""
        u = l2_normalize(self.rating_part(user_hidden))
        cos = paddle.sum(u * l2_normalize(self.rating_part(item_hidden)), axis=1)
        pred = self.scale * cos
        if self.config.use_biases:
            pred = (
                pred
                + self.global_mean
                + self.user_bias(user_index).squeeze(-1)
                + self.item_bias(item_index).squeeze(-1)
            )
        return pred

    def ids(self, side: str, features: Features) -> npt.NDArray[np.int64] | None:
        """The id indices of ``features`` (None when the side has no id)."""
        name = self.user_id if side == "user" else self.item_id
        return None if name is None else np.asarray(features[name])

    def forward(self, users: Features, items: Features) -> Tensor:
        """Predicted ratings (unclipped) for paired rows of ``users`` and ``items``."""
        uh = self.user_tower(*tower_inputs(self.user_tower, users))
        mh = self.item_tower(*tower_inputs(self.item_tower, items))
        return self.score(
            uh, mh, _tensor(self.ids("user", users)), _tensor(self.ids("item", items))
        )

    # ---- inference helpers (eval mode, no gradients) ----------------------------------------
    def predict(
        self,
        users: Features,
        items: Features,
        user_index: npt.NDArray[np.int64],
        item_index: npt.NDArray[np.int64],
        raw: bool = False,
    ) -> FloatArray:
        """Ratings for rows (users[user_index[i]], items[item_index[i]]), clipped if configured.

        Each tower runs once per given user and item; rows are gathered afterwards. Towers
        and gathers run in row blocks (:mod:`fusionrec.blocks`), so memory stays bounded for
        a whole catalog and millions of rows. With ``raw=True`` a retrieval model returns its
        unclipped score ``s`` instead (what the rating calibration is fitted on).
        """
        was_training = self.training
        self.eval()
        try:
            with paddle.no_grad():
                uh = self._rating_units(self.user_tower, users)
                mh = self._rating_units(self.item_tower, items)
                scale = float(self.scale.numpy()[0])
                pred = scale * map_blocks(
                    lambda s: np.einsum("ij,ij->i", uh[user_index[s]], mh[item_index[s]]),
                    len(user_index),
                )
                if self.config.use_biases:
                    mb = self.item_bias.weight.numpy()[:, 0][self.ids("item", items)]
                    pred = pred + mb[item_index]
                if raw and self.config.objective == "retrieval":
                    return np.asarray(pred, dtype=np.float32)
                if self.config.objective == "retrieval":
                    slope, intercept = (float(v) for v in self.calibration.numpy())
                    pred = slope * pred + intercept
                elif self.config.use_biases:
                    ub = self.user_bias.weight.numpy()[:, 0][self.ids("user", users)]
                    pred = pred + float(self.global_mean.numpy()[0]) + ub[user_index]
        finally:
            if was_training:
                self.train()
        if self.config.clip_ratings:
            pred = np.clip(pred, self.config.rating_min, self.config.rating_max)
        out: FloatArray = pred.astype(np.float32)
        return out

    def _rating_units(self, tower: Tower, features: Features) -> FloatArray:
        """The normalized rating units of ``tower`` over every row, in row blocks."""

        def block(rows: slice) -> FloatArray:
            inputs = tower_inputs(tower, feature_rows(features, rows))
            out: FloatArray = l2_normalize(self.rating_part(tower(*inputs))).numpy()
            return out

        return map_blocks(block, len(features))

    def encode_users(self, users: Features) -> FloatArray:
        """Store-side user vectors: float32, L2-normalized, shape [n, dim]."""
        return self._vectors("user", users)

    def encode_movies(self, items: Features) -> FloatArray:
        """Store-side item vectors: float32, L2-normalized, shape [n, dim]."""
        return self._vectors("item", items)

    def _vectors(self, side: str, features: Features) -> FloatArray:
        """Store-side vectors of every row, the tower run in row blocks."""
        with paddle.no_grad():
            layer = VectorLayer(self, side)
            layer.eval()

            def block(rows: slice) -> FloatArray:
                part = feature_rows(features, rows)
                out: FloatArray = layer(tower_inputs(layer.tower, part)).numpy()
                return out

            return map_blocks(block, len(features))

    def numpy_weights(self) -> dict[str, FloatArray]:
        """Every parameter and buffer as a float32 numpy array, keyed by state-dict name."""
        return {k: np.asarray(v.numpy(), dtype=np.float32) for k, v in self.state_dict().items()}


def _tensor(x: npt.NDArray[np.int64] | None) -> Tensor | None:
    return None if x is None else paddle.to_tensor(x)


class VectorLayer(nn.Layer):
    """A tower plus the vector layout: what gets exported as a side's inference model.

    Its input is the list of the tower's inputs (the exported model takes them as positional
    tensors, one per feature). Constants of the layout are frozen from the model's weights
    when the layer is built.
    """

    def __init__(self, model: FusionModel, side: str) -> None:
        super().__init__()
        self.side = side
        self.tower = model.user_tower if side == "user" else model.item_tower
        bias = model.item_bias.weight.numpy()[:, 0] if model.config.use_biases else None
        self.k = vector_constants(float(model.scale.numpy()[0]), bias)
        self.biased = model.config.use_biases
        self.split = model.config.retrieval_start
        if self.biased and side == "item":
            self.bias = model.item_bias
            names = [f.name for f in self.tower.features]
            self.id_position = names.index(str(model.item_id))

    def forward(self, inputs: list[Tensor]) -> Tensor:
        out = self.tower(*inputs)
        if self.split:  # the retrieval head's units, unit length: the store ranks by them
            return l2_normalize(out[:, self.split :])
        hat = l2_normalize(out)
        if not self.biased:
            return hat
        k = self.k
        if self.side == "user":
            ones = paddle.ones_like(hat[:, :1])
            return paddle.concat([hat * k["p"], ones * k["q"], ones * 0.0], axis=1)
        b = self.bias(inputs[self.id_position]) * (1.0 / k["k"])
        rest = paddle.sqrt(paddle.clip(1.0 - k["c"] * k["c"] - b * b, min=0.0))
        return paddle.concat([hat * k["c"], b, rest], axis=1)


def describe(model: FusionModel) -> dict[str, Any]:
    """Parameter counts per tower (for logs and benchmarks)."""

    def count(layer: nn.Layer) -> int:
        return int(sum(int(np.prod(p.shape)) for p in layer.parameters()))

    return {
        "user_tower": count(model.user_tower),
        "movie_tower": count(model.item_tower),
        "total": count(model),
        "dim": model.dim,
    }
