"""ModelBundle: the trained towers, encoder and heads for inference, computed with numpy.

Each tower is a :class:`~fusionrec.serve.tower.ServingTower` folded from the weights; the
rating head and the vector layout (:mod:`fusionrec.model.layout`) turn tower outputs into
the unit vectors a store ranks by and inner products back into ratings. No Paddle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec.config import ModelConfig
from fusionrec.errors import ValidationError
from fusionrec.features.encoder import FeatureEncoder
from fusionrec.features.schema import SIDES, Features
from fusionrec.model.layout import EPS, normalize, rating_dim, store_dim, vector_constants
from fusionrec.serve.tower import ServingTower

if TYPE_CHECKING:
    from fusionrec.model.fusion import FusionModel

FloatArray = npt.NDArray[np.float32]
PREFIXES = {"user": "user_tower.", "item": "item_tower."}


@dataclass(frozen=True, slots=True)
class OneUser:
    """One new user as serving needs them: the store query ``[1, dim]``, the rating-head
    vector ``[1, rating_dim]`` and the rating offset (:meth:`ModelBundle.user_offsets`)."""

    query: FloatArray
    rating: FloatArray
    offset: np.float32


_EPS32 = np.float32(EPS)
_FLOAT32 = np.dtype(np.float32)


def normalize_row(x: FloatArray) -> FloatArray:
    """:func:`~fusionrec.model.layout.normalize` of a one-row ``[1, d]`` array, the same floats.

    The squared norm is the same dot product (``vecdot`` of a row is ``row @ row``, einsum
    costs three times as much on cold caches); its square root is taken in double precision
    and rounded to float32, which is the correctly rounded float32 root as numpy's; the
    division is by the same float32 scalar.
    """
    row = x[0]
    norm = np.float32(math.sqrt(row @ row))
    out: FloatArray = x / (_EPS32 if norm < _EPS32 else norm)
    return out


class ModelBundle:
    """Trained towers, encoder and config for inference, computed with numpy (no Paddle).

    ``user_vectors`` and ``movie_vectors`` give the unit-length float32 vectors the store ranks
    by. ``ratings`` maps inner products of ``user_rating_vectors`` and ``movie_rating_vectors``
    to predicted ratings. Those are the store vectors themselves unless the model has a separate
    retrieval head (``shared_vectors`` is False), whose ranking need not follow the rating.
    """

    def __init__(
        self,
        config: ModelConfig,
        encoder: FeatureEncoder,
        weights: Mapping[str, npt.NDArray[np.float32]],
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.encoder = encoder
        self.extra: dict[str, Any] = dict(extra or {})
        self._rows = {s: encoder.input_rows(s) for s in SIDES}
        for s in SIDES:
            for name, rows in self._rows[s].items():
                key = f"{PREFIXES[s]}{name}.emb.weight"
                have = np.shape(weights[key])[0] if key in weights else None
                if rows is not None and have != rows:
                    raise ValidationError(
                        f"weights have {have} rows for {s} feature {name!r}, the encoder {rows}"
                    )
        schema = encoder.schema
        self._towers = {s: ServingTower(schema.side(s), weights, PREFIXES[s]) for s in SIDES}
        self._user_inputs = tuple((f, encoder.states["user"][f.name]) for f in schema.user)
        self._user_id_at = next((i for i, f in enumerate(schema.user) if f.is_id), None)
        self._ids = {s: (f.name if (f := schema.id_of(s)) is not None else None) for s in SIDES}
        self.scale = float(np.asarray(weights["scale"]).reshape(-1)[0])
        self.biased = config.use_biases
        if self.biased:
            self._ub = np.asarray(weights["user_bias.weight"])[:, 0].astype(np.float32)
            self._mb = np.asarray(weights["item_bias.weight"])[:, 0].astype(np.float32)
            self.mean = float(np.asarray(weights["global_mean"]).reshape(-1)[0])
            self._offsets = (self.mean + self._ub).astype(np.float32)  # per user row
        calibration = np.asarray(weights.get("calibration", np.array([1.0, 0.0]))).reshape(-1)
        self.slope, self.intercept = float(calibration[0]), float(calibration[1])
        self.retrieval_only = config.objective == "retrieval"
        self.constants = vector_constants(self.scale, self._mb if self.biased else None)
        self._p, self._q = np.float32(self.constants["p"]), np.float32(self.constants["q"])
        self.split = config.retrieval_start
        # the rating map's float32 constants (see ratings)
        self._rating_slope = np.float32(self.slope / self.constants["lam"])
        self._rating_intercept = np.float32(self.intercept)
        self._clip = (
            (np.float32(config.rating_min), np.float32(config.rating_max))
            if config.clip_ratings
            else None
        )
        self.rating_dim = rating_dim(config)

    @classmethod
    def from_model(
        cls, model: FusionModel, encoder: FeatureEncoder, config: ModelConfig
    ) -> ModelBundle:
        """A bundle from a live (trained) model, without writing anything."""
        return cls(config, encoder, model.numpy_weights())

    @property
    def dim(self) -> int:
        """Width of user and movie vectors."""
        return store_dim(self.config)

    @property
    def shared_vectors(self) -> bool:
        """Whether the store's inner product is the rating score (no separate retrieval head)."""
        return not self.split

    def _check(self, features: Features, side: str) -> Features:
        if not isinstance(features, Features):
            raise ValidationError(f"expected {side} Features, got {type(features).__name__}")
        for name, rows in self._rows[side].items():
            if name not in features.columns:
                raise ValidationError(f"{side} Features lack the column {name!r}")
            arr = features[name]
            if rows is None or not arr.size:
                continue
            if arr.size <= 64:  # one user's features: Python's min/max beat two numpy reductions
                values = arr.ravel().tolist()
                low, high = min(values), max(values)
            else:
                low, high = int(arr.min()), int(arr.max())
            if low < 0 or high >= rows:
                raise ValidationError(
                    f"{side} feature {name!r} holds indices outside its vocabulary [0, {rows})"
                )
        return features

    def _outputs(self, side: str, features: Features) -> FloatArray:
        return self._towers[side].outputs(self._check(features, side))

    def user_outputs(self, users: Features) -> FloatArray:
        """User tower outputs [n, user_hidden + retrieval_hidden], before normalization."""
        return self._outputs("user", users)

    def movie_outputs(self, items: Features) -> FloatArray:
        """Item tower outputs [n, movie_hidden + retrieval_hidden], before normalization."""
        return self._outputs("item", items)

    def user_vectors(self, users: Features) -> FloatArray:
        """Unit-length float32 vectors [n, dim] to query the store with."""
        if self.split:
            return normalize(self.user_outputs(users)[:, self.split :])
        return self.user_rating_vectors(users)

    def movie_vectors(self, items: Features) -> FloatArray:
        """Unit-length float32 vectors [n, dim] that the store holds."""
        if self.split:
            return normalize(self.movie_outputs(items)[:, self.split :])
        return self.movie_rating_vectors(items)

    def _rating_units(self, outputs: FloatArray) -> FloatArray:
        """The normalized tower units the rating head uses (all of them without a split)."""
        return normalize(outputs[:, : self.split] if self.split else outputs)

    def user_serving_vectors(
        self, users: Features, *, trusted: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """``(user_vectors, user_rating_vectors)`` from one tower pass, as recommending needs.

        ``trusted``: ``users`` came from this bundle's own encoder, so their indices are in
        range and are not checked again (the facade's serving path; each check costs
        microseconds against a search of tens).
        """
        outputs = self._towers["user"].outputs(users) if trusted else self.user_outputs(users)
        rating = self._user_rating_from(outputs)
        if self.split:
            return normalize(outputs[:, self.split :]), rating
        return rating, rating

    def user_serving_one(self, values: Mapping[str, Any]) -> OneUser:
        """:meth:`user_serving_vectors` of one user given by raw feature values (the same floats).

        ``values`` maps feature names to one raw value each (a missing name is None: unknown),
        as a new user's keywords give them; each feature encodes its value straight into the
        tower's one-row pass, so no column arrays or :class:`Features` are built.
        """
        encoded = [f.encode_one(state, values.get(f.name)) for f, state in self._user_inputs]
        outputs = self._towers["user"].output_one(encoded)[None]
        rating = self._user_rating_from(outputs, normalize_row)
        query = normalize_row(outputs[:, self.split :]) if self.split else rating
        offset = np.float32(0.0)
        if self.biased and not self.retrieval_only:  # the user's bias, as user_offsets reads it
            assert self._user_id_at is not None
            offset = self._offsets[encoded[self._user_id_at]]
        return OneUser(query, rating, offset)

    def user_rating_vectors(self, users: Features) -> FloatArray:
        """Unit-length float32 vectors whose inner products :meth:`ratings` maps to ratings."""
        return self._user_rating_from(self.user_outputs(users))

    def _user_rating_from(self, outputs: FloatArray, unit: Any = normalize) -> FloatArray:
        """The rating vectors of user tower outputs; ``unit`` normalizes rows (see
        :func:`normalize_row` for one row)."""
        hat: FloatArray = unit(outputs[:, : self.split] if self.split else outputs)
        if not self.biased:
            return hat
        vec = np.zeros((len(hat), self.rating_dim), dtype=np.float32)
        np.multiply(hat, self._p, out=vec[:, :-2])
        vec[:, -2] = self._q
        return vec

    def movie_rating_vectors(self, items: Features) -> FloatArray:
        """The item side of :meth:`user_rating_vectors`."""
        hat = self._rating_units(self.movie_outputs(items))
        if not self.biased:
            return hat
        k = self.constants
        ids = items[self._ids["item"]]  # type: ignore[index]
        b = self._mb[ids] * np.float32(1.0 / k["k"])
        vec = np.empty((len(hat), self.rating_dim), dtype=np.float32)
        vec[:, :-2] = hat * np.float32(k["c"])
        vec[:, -2] = b
        vec[:, -1] = np.sqrt(np.maximum(1.0 - k["c"] ** 2 - b * b, 0.0))
        return vec

    def user_offsets(self, users: Features) -> FloatArray:
        """Per-user rating offset added to ``ip / lam`` (mean + user bias; else 0).

        Zero without biases and for a retrieval-only model (its calibration absorbs the mean).
        """
        if not self.biased or self.retrieval_only:
            return np.zeros(len(users), dtype=np.float32)
        out: FloatArray = self._offsets[users[self._ids["user"]]]  # type: ignore[index]
        return out

    def predict(self, users: Features, items: Features) -> FloatArray:
        """Predicted ratings [n_users, n_items] of every given user for every given item."""
        ip = self.user_rating_vectors(users) @ self.movie_rating_vectors(items).T
        return self.ratings(ip, users)

    def ratings(
        self, scores: npt.ArrayLike, users: Features, *, trusted: bool = False
    ) -> FloatArray:
        """Rating-vector inner products [n, k] -> predicted ratings [n, k] (clipped if configured).

        ``s = ip / lam`` is the model's score; rating = ``slope * s + intercept`` + the user's
        offset, where ``(slope, intercept)`` is ``(1, 0)`` except for a retrieval-only model.
        ``trusted``: the caller built ``scores`` as a float [n, k] array and ``users`` with this
        bundle's encoder (see :meth:`user_serving_vectors`), so neither is checked again.
        """
        s = np.asarray(scores)
        if not trusted:
            if s.ndim != 2 or s.dtype.kind not in "fiu":
                raise ValidationError(f"scores must be a numeric [n, k] array, got shape {s.shape}")
            if not isinstance(users, Features) or len(users) != s.shape[0]:
                raise ValidationError(
                    f"users must be Features with one row per score row ({s.shape[0]})"
                )
            self._check(users, "user")
        return self._rated(s, self.user_offsets(users)[:, None])

    def ratings_one(self, scores: FloatArray, user: OneUser) -> FloatArray:
        """:meth:`ratings` of one :class:`OneUser`'s inner products ``[k]`` (float32)."""
        return self._rated(scores, user.offset)

    def _rated(self, s: npt.NDArray[Any], offsets: Any) -> FloatArray:
        """The rating map: ``slope / lam * ip + intercept + offsets``, clipped if configured."""
        if s.dtype is not _FLOAT32:
            s = s.astype(np.float32)
        out: FloatArray = s * self._rating_slope
        out += self._rating_intercept
        out += offsets
        if self._clip is not None:  # np.clip's values, without its Python-level dispatch
            np.maximum(out, self._clip[0], out=out)
            np.minimum(out, self._clip[1], out=out)
        return out

    def __repr__(self) -> str:
        return f"ModelBundle(preset={self.config.name!r}, dim={self.dim})"
