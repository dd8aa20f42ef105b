"""Model directories: the trained towers saved for serving, and a paddle-free bundle to load them.

A model directory holds::

    meta.json            format version, vector dim, versions, caller's ``extra``
    config.json          the ModelConfig
    encoder.json         the FeatureEncoder vocabularies
    weights.npz          every parameter as numpy arrays (what ModelBundle computes with)
    user_tower/inference.*   paddle.jit.save'd user vector model   (user, gender, age, occupation)
    movie_tower/inference.*  paddle.jit.save'd movie vector model  (movie, genres, title)

It is built in a temporary sibling directory and renamed into place; an existing directory is
kept intact until the new one is complete. Loading needs numpy only: this module imports
Paddle lazily, in :func:`save_model_dir` alone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec._numpy_towers import NumpyTowers
from fusionrec.config import ModelConfig
from fusionrec.errors import ConfigError, ModelDirError, ValidationError
from fusionrec.features import FeatureEncoder, MovieFeatures, UserFeatures

if TYPE_CHECKING:
    from fusionrec.model import FusionModel

FORMAT_VERSION = 1
FORMAT_NAME = "fusionrec-model"
TOWER_PREFIX = "inference"
_REQUIRED = ("meta.json", "config.json", "encoder.json", "weights.npz")

FloatArray = npt.NDArray[np.float32]


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
        self._towers = NumpyTowers(config, weights)
        self._sizes = {
            "user": encoder.n_users,
            "gender": encoder.n_genders,
            "age": encoder.n_ages,
            "occupation": encoder.n_occupations,
            "movie": encoder.n_movies,
            "genres": encoder.n_genres,
            "title": encoder.n_words,
        }
        if self._towers.vocab_sizes != self._sizes:
            raise ValidationError(
                f"weights have vocabulary sizes {self._towers.vocab_sizes}, "
                f"the encoder {self._sizes}"
            )

    @classmethod
    def from_model(
        cls, model: FusionModel, encoder: FeatureEncoder, config: ModelConfig
    ) -> ModelBundle:
        """A bundle from a live (trained) model, without writing anything."""
        return cls(config, encoder, model.numpy_weights())

    @property
    def dim(self) -> int:
        """Width of user and movie vectors."""
        return self._towers.dim

    def _check(self, obj: UserFeatures | MovieFeatures, names: tuple[str, ...]) -> None:
        for name in names:
            arr = getattr(obj, name)
            if not arr.size:
                continue
            if arr.size <= 64:  # one user's features: Python's min/max beat two numpy reductions
                values = arr.ravel().tolist()
                low, high = min(values), max(values)
            else:
                low, high = int(arr.min()), int(arr.max())
            if low < 0 or high >= self._sizes[name]:
                raise ValidationError(
                    f"{type(obj).__name__}.{name} holds indices outside the encoder's "
                    f"vocabulary [0, {self._sizes[name]})"
                )

    def _users(self, users: UserFeatures) -> UserFeatures:
        if not isinstance(users, UserFeatures):
            raise ValidationError(f"expected UserFeatures, got {type(users).__name__}")
        self._check(users, ("user", "gender", "age", "occupation"))
        return users

    def _movies(self, movies: MovieFeatures) -> MovieFeatures:
        if not isinstance(movies, MovieFeatures):
            raise ValidationError(f"expected MovieFeatures, got {type(movies).__name__}")
        self._check(movies, ("movie", "genres", "title"))
        return movies

    def user_vectors(self, users: UserFeatures) -> FloatArray:
        """Unit-length float32 vectors [n, dim] to query the store with."""
        return self._towers.user_vectors(self._users(users))

    def movie_vectors(self, movies: MovieFeatures) -> FloatArray:
        """Unit-length float32 vectors [n, dim] that the store holds."""
        return self._towers.movie_vectors(self._movies(movies))

    def user_serving_vectors(self, users: UserFeatures) -> tuple[FloatArray, FloatArray]:
        """``(user_vectors, user_rating_vectors)`` from one tower pass, as recommending needs."""
        return self._towers.user_vector_pair(self._users(users))

    @property
    def shared_vectors(self) -> bool:
        """Whether the store's inner product is the rating score (no separate retrieval head)."""
        return self._towers.shared_vectors

    def user_rating_vectors(self, users: UserFeatures) -> FloatArray:
        """Unit-length float32 vectors whose inner products :meth:`ratings` maps to ratings."""
        return self._towers.user_rating_vectors(self._users(users))

    def movie_rating_vectors(self, movies: MovieFeatures) -> FloatArray:
        """The movie side of :meth:`user_rating_vectors`."""
        return self._towers.movie_rating_vectors(self._movies(movies))

    def predict(self, users: UserFeatures, movies: MovieFeatures) -> FloatArray:
        """Predicted ratings [n_users, n_movies] of every given user for every given movie."""
        ip = self.user_rating_vectors(users) @ self.movie_rating_vectors(movies).T
        return self.ratings(ip, users)

    def ratings(self, scores: npt.ArrayLike, users: UserFeatures) -> FloatArray:
        """Predicted ratings [n, k] for rating-vector inner products ``scores`` [n, k]."""
        s = np.asarray(scores)
        if s.ndim != 2 or s.dtype.kind not in "fiu":
            raise ValidationError(f"scores must be a numeric [n, k] array, got shape {s.shape}")
        if not isinstance(users, UserFeatures) or len(users) != s.shape[0]:
            raise ValidationError(
                f"users must be UserFeatures with one row per score row ({s.shape[0]})"
            )
        self._check(users, ("user",))
        return self._towers.ratings(s, users)

    def __repr__(self) -> str:
        return f"ModelBundle(preset={self.config.name!r}, dim={self.dim})"


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)


def save_model_dir(
    path: str | os.PathLike[str],
    model: FusionModel,
    encoder: FeatureEncoder,
    config: ModelConfig,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a model directory at ``path`` atomically and return its path.

    ``extra`` (JSON-able) is stored in ``meta.json`` and comes back as ``ModelBundle.extra``.
    """
    from fusionrec import __version__
    from fusionrec._paddle import paddle
    from fusionrec.model import MovieVectorLayer, UserVectorLayer

    target = Path(path)
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fusionrec_version": __version__,
        "paddle_version": str(getattr(paddle, "__version__", "unknown")),
        "dim": model.dim,
        "extra": dict(extra or {}),
    }
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"extra must be JSON-serializable: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a model directory is an ordinary one
        was_training = model.training
        model.eval()
        np.savez(tmp / "weights.npz", **model.numpy_weights())  # type: ignore[arg-type]
        _write_json(tmp / "config.json", config.to_dict())
        _write_json(tmp / "encoder.json", encoder.to_dict())
        user_layer = UserVectorLayer(model)
        movie_layer = MovieVectorLayer(model)
        user_layer.eval()
        movie_layer.eval()
        with warnings.catch_warnings():
            # paddle's to_static warns about Tensor.place while tracing; harmless
            warnings.simplefilter("ignore", UserWarning)
            _jit_save(user_layer, movie_layer, tmp)
        if was_training:
            model.train()
        _write_json(tmp / "meta.json", meta)
        _switch(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _jit_save(user_layer: Any, movie_layer: Any, tmp: Path) -> None:
    """paddle.jit.save both vector layers with their input specs."""
    from paddle.static import InputSpec

    from fusionrec._paddle import paddle

    paddle.jit.save(
        user_layer,
        str(tmp / "user_tower" / TOWER_PREFIX),
        input_spec=[
            InputSpec([None], "int64", name=n) for n in ("user", "gender", "age", "occupation")
        ],
    )
    paddle.jit.save(
        movie_layer,
        str(tmp / "movie_tower" / TOWER_PREFIX),
        input_spec=[
            InputSpec([None], "int64", name="movie"),
            InputSpec([None, None], "int64", name="genres"),
            InputSpec([None, None], "int64", name="title"),
        ],
    )


def _switch(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target``; an existing ``target`` survives any failure before the swap."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if not target.is_dir():
        raise ModelDirError(f"{target} exists and is not a directory")
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    old.rmdir()
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_model_dir(path: str | os.PathLike[str]) -> ModelBundle:
    """Load a model directory written by :func:`save_model_dir` (numpy only, no Paddle)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelDirError(f"model directory not found: {root}")
    missing = [name for name in _REQUIRED if not (root / name).is_file()]
    if missing:
        raise ModelDirError(f"model directory {root} is incomplete: missing {', '.join(missing)}")
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        config_data = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"model directory {root}: unreadable metadata: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelDirError(f"{root / 'meta.json'} is not a fusionrec model directory")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"model directory {root} has format version {meta.get('format_version')}; "
            f"this fusionrec reads version {FORMAT_VERSION}"
        )
    try:
        config = ModelConfig.from_dict(config_data)
    except (ConfigError, TypeError) as exc:
        raise ModelDirError(f"model directory {root}: invalid config.json: {exc}") from exc
    try:
        encoder = FeatureEncoder.load(root / "encoder.json")
    except ValidationError as exc:
        raise ModelDirError(f"model directory {root}: invalid encoder.json: {exc}") from exc
    try:
        with np.load(root / "weights.npz") as npz:
            weights = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"model directory {root}: unreadable weights.npz: {exc}") from exc
    try:
        bundle = ModelBundle(config, encoder, weights, extra=meta.get("extra") or {})
    except (KeyError, ValueError, IndexError, ValidationError) as exc:
        raise ModelDirError(
            f"model directory {root}: weights do not match config/encoder: {exc!r}"
        ) from exc
    if bundle.dim != meta.get("dim"):
        raise ModelDirError(f"model directory {root}: dim {meta.get('dim')} != {bundle.dim}")
    return bundle
