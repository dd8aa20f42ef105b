"""Model directories: the trained towers saved for serving, and a paddle-free bundle to load them.

A model directory holds::

    meta.json            format version, vector dim, versions, caller's ``extra``
    config.json          the ModelConfig
    encoder.json         the FeatureEncoder vocabularies
    weights.npz          every parameter as numpy arrays (what ModelBundle computes with)
    user_tower/inference.*   paddle.jit.save'd user vector model   (user, gender, age, occupation)
    movie_tower/inference.*  paddle.jit.save'd movie vector model  (movie, genres, title)

On disk those files sit in a ``v-<hex>`` version subdirectory; the top-level ``meta.json`` is
a pointer naming it with every file's size and SHA-256 (see :mod:`fusionrec.atomic`), so a
save replaces a model atomically and a damaged file is detected on load. Loading needs numpy
only: this module imports Paddle lazily, to save.
"""

from __future__ import annotations

import contextlib
import json
import os
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec._numpy_towers import NumpyTowers
from fusionrec.atomic import Version, load_directory, one_line, replace_directory
from fusionrec.config import ModelConfig
from fusionrec.errors import FusionrecError, ModelDirError, ValidationError
from fusionrec.features import UNK, FeatureEncoder, MovieFeatures, UserFeatures

if TYPE_CHECKING:
    from fusionrec.model import FusionModel

#: Version 2: files in a v-<hex> subdirectory named by the meta.json pointer with checksums.
FORMAT_VERSION = 2
FORMAT_NAME = "fusionrec-model"
TOWER_PREFIX = "inference"
POINTER = "meta.json"
_REQUIRED = ("meta.json", "config.json", "encoder.json", "weights.npz")
#: What a version 1 directory held at its top level; removed once a new version is saved.
_LEGACY = ("config.json", "encoder.json", "weights.npz", "user_tower", "movie_tower")
#: The .npy header readers of the format versions numpy writes.
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
#: What reading a damaged file can raise, from json, numpy's npz/zip reader and the validators.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    SyntaxError,
    tokenize.TokenError,
    UnicodeDecodeError,
    zipfile.BadZipFile,
    zlib.error,
    FusionrecError,
)

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
    The files go to a fresh version subdirectory; ``meta.json`` names it and lists every
    file's checksum, and replacing ``meta.json`` is the one atomic step that publishes it.
    """
    target = Path(path)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}
    with replace_directory(target, POINTER, header, legacy=_LEGACY) as tmp:
        write_model_files(tmp, model, encoder, config, extra)
    return target


def write_model_files(
    directory: Path,
    model: FusionModel,
    encoder: FeatureEncoder,
    config: ModelConfig,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the model's files into the existing empty ``directory`` (not atomic by itself)."""
    from fusionrec import __version__
    from fusionrec._paddle import paddle
    from fusionrec.model import MovieVectorLayer, UserVectorLayer

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
    was_training = model.training
    model.eval()
    try:
        np.savez(directory / "weights.npz", **model.numpy_weights())  # type: ignore[arg-type]
        _write_json(directory / "config.json", config.to_dict())
        _write_json(directory / "encoder.json", encoder.to_dict())
        user_layer = UserVectorLayer(model)
        movie_layer = MovieVectorLayer(model)
        user_layer.eval()
        movie_layer.eval()
        with warnings.catch_warnings():
            # paddle's to_static warns about Tensor.place while tracing; harmless
            warnings.simplefilter("ignore", UserWarning)
            _jit_save(user_layer, movie_layer, directory)
    finally:
        if was_training:
            model.train()
    _write_json(directory / "meta.json", meta)


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


def check_format(header: dict[str, Any], file: Path) -> None:
    """ModelDirError unless ``header`` (a pointer or meta.json) is this format and version."""
    if header.get("format") != FORMAT_NAME:
        raise ModelDirError(f"{file} is not a fusionrec model directory")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(
            f"{file}: format version {header.get('format_version')!r} is not supported "
            f"(this fusionrec reads version {FORMAT_VERSION}; save the model again)"
        )


def load_model_dir(path: str | os.PathLike[str]) -> ModelBundle:
    """Load a model directory written by :func:`save_model_dir` (numpy only, no Paddle).

    Every file is checked against the checksums in ``meta.json`` and validated; any damage
    is a ModelDirError naming the file.
    """
    root = Path(path)
    if not root.is_dir():
        raise ModelDirError(f"model directory not found: {root}")

    def load(version: Version) -> ModelBundle:
        return read_model_files(version.path)

    return load_directory(root, POINTER, check_format, load, legacy=_LEGACY)


def read_model_files(root: Path) -> ModelBundle:
    """Load and validate the files :func:`write_model_files` wrote into ``root``."""
    missing = [name for name in _REQUIRED if not (root / name).is_file()]
    if missing:
        raise ModelDirError(f"model directory {root} is incomplete: missing {', '.join(missing)}")
    meta = _read_json_object(root / "meta.json")
    check_format(meta, root / "meta.json")
    dim, extra = meta.get("dim"), meta.get("extra", {})
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ModelDirError(f"{root / 'meta.json'}: dim must be a positive integer, got {dim!r}")
    if not isinstance(extra, dict):
        raise ModelDirError(f"{root / 'meta.json'}: extra must be an object")
    with reading(root / "config.json"):
        config = ModelConfig.from_dict(_read_json_object(root / "config.json"))
    with reading(root / "encoder.json"):
        encoder = FeatureEncoder.load(root / "encoder.json")
    weights = _read_weights(root / "weights.npz")
    try:
        bundle = ModelBundle(config, encoder, weights, extra=extra)
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise ModelDirError(
            f"model directory {root}: weights do not match config/encoder: {one_line(exc)}"
        ) from None
    if bundle.dim != dim:
        raise ModelDirError(f"model directory {root}: dim {dim} != {bundle.dim}")
    _probe(bundle, root / "weights.npz")
    return bundle


def _probe(bundle: ModelBundle, path: Path) -> None:
    """Run every tower once on an unknown user and movie, so that weights whose shapes do not
    fit together fail now, naming the file, rather than in a later call."""
    unknown = np.full(1, UNK, dtype=np.int64)
    users = UserFeatures(unknown, unknown, unknown, unknown)
    title = np.full((1, min(bundle.encoder.max_title_words, 64)), UNK, dtype=np.int64)
    movies = MovieFeatures(unknown, unknown.reshape(1, 1), title)
    with reading(path):
        outputs = (
            bundle.user_vectors(users),
            bundle.movie_vectors(movies),
            bundle.predict(users, movies),
        )
        if not all(np.all(np.isfinite(out)) for out in outputs):
            raise ValueError("the towers give NaN or infinite values")


def read_npz(path: Path) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an ``.npz`` file, each header checked against the member's real size.

    ``np.load`` would allocate whatever shape a crafted header declares before finding the
    data short; here a header whose shape and dtype do not match the stored bytes, an object
    dtype (a pickle) or a duplicate name is a ModelDirError naming the file.
    """
    arrays: dict[str, npt.NDArray[Any]] = {}
    with reading(path), zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if name in arrays or not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename!r}")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in _NPY_HEADERS:
                    raise ValueError(f"{name}: unsupported .npy format version {version}")
                shape, _, dtype = _NPY_HEADERS[version](member)
                if dtype.hasobject:
                    raise ValueError(f"{name} holds Python objects")
                expected = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if expected != info.file_size - member.tell():
                    raise ValueError(
                        f"{name}: the header declares {expected} bytes, "
                        f"the member holds {info.file_size - member.tell()}"
                    )
            with archive.open(info) as member:
                arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def _read_weights(path: Path) -> dict[str, FloatArray]:
    """The arrays of ``weights.npz``: finite float32, no pickles."""
    weights = read_npz(path)
    for name, array in weights.items():
        if array.dtype != np.float32 or array.ndim not in (1, 2):
            raise ModelDirError(f"{path}: {name} is {array.dtype}[{array.ndim}d], not float32")
        if not np.all(np.isfinite(array)):
            raise ModelDirError(f"{path}: {name} holds NaN or infinite values")
    return weights


def _read_json_object(path: Path) -> dict[str, Any]:
    with reading(path):
        data = json.loads(path.read_bytes().decode("utf-8"))
    if not isinstance(data, dict):
        raise ModelDirError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any failure to read or validate ``path`` into a one-line ModelDirError naming it."""
    try:
        yield
    except ModelDirError:
        raise
    except _READ_ERRORS as exc:
        raise ModelDirError(f"{path}: invalid or damaged ({one_line(exc)})") from None
