"""The vector layout: how tower outputs become the unit vectors a store ranks by.

Defined once, used by the Paddle vector layers (the exported towers), the serving bundle and
the rating map. Without biases vectors are the normalized tower outputs. With biases the
user vector is ``[p * u, q, 0]`` and the item vector ``[c * m, b / k, sqrt(1 - c^2 - (b/k)^2)]``:
both stay unit length and ``inner product = lam * (scale * cosine + item bias)``. With a
separate retrieval head (``retrieval_hidden > 0``) the store ranks by the normalized units
after the rating head's, and the rating uses the first ``user_hidden`` ones.
Paddle-free.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from fusionrec.config import ModelConfig

EPS = 1e-12  # paddle.nn.functional.normalize's epsilon
FloatArray = npt.NDArray[np.float32]


def vector_constants(scale: float, item_bias: npt.NDArray[np.float32] | None) -> dict[str, float]:
    """Layout constants ``p, q, c, k, lam`` (see the module docstring)."""
    if item_bias is None:
        return {"p": 1.0, "q": 0.0, "c": 1.0, "k": 1.0, "lam": 1.0 / scale}
    c = 1.0 / math.sqrt(2.0)
    top = float(np.max(np.abs(item_bias))) if item_bias.size else 0.0
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


def normalize(x: npt.NDArray[np.floating]) -> FloatArray:
    """Rows scaled to unit length (``x / max(||x||, EPS)``), float32."""
    norm = np.sqrt(np.vecdot(x, x))[:, None]
    out: FloatArray = (x / np.maximum(norm, EPS)).astype(np.float32, copy=False)
    return out
