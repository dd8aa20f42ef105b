"""Model directories: the trained towers saved for serving, loaded as a paddle-free bundle.

A model directory holds::

    meta.json            format version, vector dim, versions, caller's ``extra``
    config.json          the ModelConfig
    encoder.json         the schema and every feature's vocabulary or statistics
    weights.npz          every parameter as numpy arrays (what ModelBundle computes with)
    user_tower/inference.*   paddle.jit.save'd user vector model  (one input per user feature)
    movie_tower/inference.*  paddle.jit.save'd item vector model  (one input per item feature)

Format version 2 saves the schema; a version-1 directory (hand-wired MovieLens features)
fails to load with a :class:`ModelDirError` naming its version.

It is built in a temporary sibling directory and renamed into place; an existing directory is
kept intact until the new one is complete. Loading needs numpy only: this module imports
Paddle lazily, in :func:`save_model_dir` alone.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fusionrec.atomic import replace_directory
from fusionrec.config import ModelConfig
from fusionrec.errors import ConfigError, ModelDirError, ValidationError
from fusionrec.features.encoder import FeatureEncoder
from fusionrec.serve.bundle import ModelBundle

if TYPE_CHECKING:
    from fusionrec.model.fusion import FusionModel

FORMAT_VERSION = 2  # 2: the model declares its features in a schema (encoder.json)
FORMAT_NAME = "fusionrec-model"
TOWER_PREFIX = "inference"
_REQUIRED = ("meta.json", "config.json", "encoder.json", "weights.npz")


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
    from fusionrec.model.fusion import VectorLayer

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
    if target.exists() and not target.is_dir():
        raise ModelDirError(f"{target} exists and is not a directory")
    was_training = model.training
    model.eval()
    try:
        with replace_directory(target) as tmp:
            tmp.chmod(0o755)  # mkdtemp makes it private; a model directory is an ordinary one
            np.savez(tmp / "weights.npz", **model.numpy_weights())  # type: ignore[arg-type]
            _write_json(tmp / "config.json", config.to_dict())
            _write_json(tmp / "encoder.json", encoder.to_dict())
            with warnings.catch_warnings():
                # paddle's to_static warns about Tensor.place while tracing; harmless
                warnings.simplefilter("ignore", UserWarning)
                for side, folder in (("user", "user_tower"), ("item", "movie_tower")):
                    _jit_save(VectorLayer(model, side), tmp / folder / TOWER_PREFIX)
            _write_json(tmp / "meta.json", meta)
    finally:
        if was_training:
            model.train()
    return target


def _jit_save(layer: Any, path: Path) -> None:
    """paddle.jit.save a vector layer with one input spec per feature of its tower."""
    from paddle.static import InputSpec

    from fusionrec._paddle import paddle

    layer.eval()
    specs = [
        InputSpec(list(f.input_shape), f.input_dtype, name=f.name) for f in layer.tower.features
    ]
    paddle.jit.save(layer, str(path), input_spec=[specs])


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
