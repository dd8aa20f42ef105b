"""Model directories: the trained towers saved for serving, loaded as a paddle-free bundle.

A model directory holds::

    meta.json            format version, vector dim, versions, caller's ``extra``
    config.json          the ModelConfig
    encoder.json         the schema and every feature's vocabulary or statistics
    weights.npz          every parameter as numpy arrays (what ModelBundle computes with)
    user_tower/inference.*   paddle.jit.save'd user vector model  (one input per user feature)
    movie_tower/inference.*  paddle.jit.save'd item vector model  (one input per item feature)

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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fusionrec._version import __version__
from fusionrec.atomic import Version, load_directory, one_line, replace_directory
from fusionrec.config import ModelConfig
from fusionrec.errors import FusionrecError, ModelDirError, ValidationError
from fusionrec.features.encoder import FeatureEncoder
from fusionrec.features.schema import SIDES
from fusionrec.serve.bundle import ModelBundle

if TYPE_CHECKING:
    from fusionrec.model.fusion import FusionModel

#: Version 2: files in a v-<hex> subdirectory named by the meta.json pointer with checksums.
#: Version 3: the model declares its features in a schema (encoder.json); a version-2
#: directory (hand-wired MovieLens features) is refused by its version, never misread.
FORMAT_VERSION = 3
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
    from fusionrec._paddle import paddle
    from fusionrec.model.fusion import VectorLayer

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
        with warnings.catch_warnings():
            # paddle's to_static warns about Tensor.place while tracing; harmless
            warnings.simplefilter("ignore", UserWarning)
            for side, folder in (("user", "user_tower"), ("item", "movie_tower")):
                _jit_save(VectorLayer(model, side), directory / folder / TOWER_PREFIX)
    finally:
        if was_training:
            model.train()
    _write_json(directory / "meta.json", meta)


def _jit_save(layer: Any, path: Path) -> None:
    """paddle.jit.save a vector layer; the saved model takes one tensor per tower feature."""
    from paddle.static import InputSpec

    from fusionrec._paddle import paddle

    layer.eval()
    specs = [
        InputSpec(list(f.input_shape), f.input_dtype, name=f.name) for f in layer.tower.features
    ]
    paddle.jit.save(layer, str(path), input_spec=[specs])


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
    """Run every tower once on an entity whose every feature is unknown or missing, so that
    weights whose shapes do not fit together fail now, naming the file, rather than later."""
    encoder = bundle.encoder
    unknown = {s: {f.name: [None] for f in encoder.schema.side(s)} for s in SIDES}
    with reading(path):
        users = encoder.encode_users(unknown["user"])
        items = encoder.encode_items(unknown["item"])
        outputs = (
            bundle.user_vectors(users),
            bundle.movie_vectors(items),
            bundle.predict(users, items),
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
