"""Numeric: a float per row, standardized with training statistics -> fc.

The encoder saves the mean and standard deviation of the training column's finite values;
an encoded value is ``(x - mean) / std`` as float32, and a missing one (None, NaN) stays NaN
there. The layer replaces NaN by a learned default before the fc, so a missing value is an
ordinary input the model learns to use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fusionrec.errors import ValidationError
from fusionrec.features.kind import (
    F32,
    F64,
    Feature,
    Fold,
    Folded,
    Grad,
    Params,
    check_positive,
    column_sums,
)


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Mean and standard deviation of a training column (std 1 when it is constant)."""

    mean: float
    std: float

    def apply(self, column: Sequence[Any], feature: str) -> F32:
        """Standardized float32 values; missing ones (None, NaN) stay NaN."""
        x = _floats(column, feature)
        out: F32 = ((x - self.mean) / self.std).astype(np.float32)
        return out


def _floats(column: Sequence[Any], feature: str) -> F64:
    try:
        x = np.asarray([math.nan if v is None else v for v in column], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"feature {feature!r}: values must be numbers: {exc}") from exc
    if np.isinf(x).any():
        raise ValidationError(f"feature {feature!r}: values must be finite or missing")
    return x.reshape(-1)


@dataclasses.dataclass(frozen=True)
class Numeric(Feature):
    """``fc``: block width; ``missing``: a value that means "unknown" (a year of 0, say)."""

    kind: ClassVar[str] = "numeric"
    input_shape: ClassVar[tuple[int | None, ...]] = (None,)
    input_dtype: ClassVar[str] = "float32"
    fc: int = 8
    missing: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "fc")
        if self.missing is not None and not isinstance(self.missing, int | float):
            raise ValidationError(f"Numeric({self.name!r}).missing must be a number or None")

    def _values(self, column: Sequence[Any]) -> list[Any]:
        """The column with the declared missing value as None."""
        return [None if v is None or v == self.missing else v for v in column]

    @property
    def width(self) -> int:
        return self.fc

    # ---- encoder state ----------------------------------------------------------------------
    def fit(self, column: Sequence[Any], extra: Sequence[Any] = ()) -> Standardizer:
        x = _floats(self._values([*column, *extra]), self.name)
        x = x[np.isfinite(x)]
        mean = float(x.mean()) if x.size else 0.0
        std = float(x.std()) if x.size else 0.0
        return Standardizer(mean, std if std > 0 else 1.0)

    def encode(self, state: Standardizer, column: Sequence[Any]) -> F32:
        return state.apply(self._values(column), self.name)

    def encode_one(self, state: Standardizer, value: Any) -> np.float32:
        # plain floats and ints within float precision take Python arithmetic, which rounds
        # as numpy's float64 does; anything else (an infinity too) goes through encode, for the
        # same result and the same errors
        if value.__class__ is float or (value.__class__ is int and abs(value) <= 2**53):
            x = math.nan if value == self.missing else float(value)
            if not math.isinf(x):
                out: np.float32 = np.float32((x - state.mean) / state.std)
                return out
        encoded: np.float32 = self.encode(state, [value])[0]
        return encoded

    def state_to_dict(self, state: Standardizer) -> dict[str, Any]:
        return {"mean": state.mean, "std": state.std}

    def state_from_dict(self, data: Any) -> Standardizer:
        try:
            mean, std = float(data["mean"]), float(data["std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"feature {self.name!r}: malformed statistics") from exc
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ValidationError(f"feature {self.name!r}: invalid statistics {data!r}")
        return Standardizer(mean, std)

    # ---- Paddle -------------------------------------------------------------------------------
    def paddle_build(self, layer: Any, state: Standardizer) -> None:
        from fusionrec._paddle import paddle

        zero = paddle.nn.initializer.Constant(0.0)
        layer.add_sublayer("fc", paddle.nn.Linear(1, self.fc))
        layer.add_parameter("default", layer.create_parameter([1], default_initializer=zero))

    def paddle_forward(self, layer: Any, x: Any) -> Any:
        from fusionrec._paddle import paddle

        filled = paddle.where(paddle.isnan(x), layer.default.expand_as(x), x)
        return layer.fc(filled.unsqueeze(-1))

    # ---- numpy training engine ----------------------------------------------------------------
    def train_forward(self, w: Params, x: F32) -> tuple[F32, Any]:
        missing = np.isnan(x)
        filled = np.where(missing, w["default"][0], x).astype(np.float32)[:, None]
        block: F32 = filled @ w["fc.weight"] + w["fc.bias"]
        return block, (filled, missing)

    def train_backward(self, w: Params, x: F32, cache: Any, d_block: F32) -> dict[str, Grad]:
        filled, missing = cache
        d_filled = d_block[missing] @ w["fc.weight"].T
        return {
            "fc.weight": filled.T @ d_block,
            "fc.bias": column_sums(d_block),
            "default": d_filled.sum(axis=0, dtype=np.float32).reshape(1),
        }

    # ---- numpy serving ------------------------------------------------------------------------
    def fold(self, w: Params, out_block: F64) -> Fold:
        return self.fold_rows(w, out_block).batch

    def fold_rows(self, w: Params, out_block: F64) -> Folded:
        slope = (w["fc.weight"] @ out_block).astype(np.float32)  # [1, out]
        offset = (w["fc.bias"] @ out_block).astype(np.float32)
        default = np.float32(np.asarray(w["default"]).reshape(-1)[0])
        slope_row = slope[0]

        def share(x: F32) -> F32:
            filled = np.where(np.isnan(x), default, x).astype(np.float32)[:, None]
            out: F32 = filled * slope + offset
            return out

        def one(x: np.float32) -> F32:
            out: F32 = (default if x != x else x) * slope_row + offset  # x != x: NaN
            return out

        return Folded(share, one)
