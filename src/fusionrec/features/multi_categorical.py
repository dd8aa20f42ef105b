"""MultiCategorical: a list of values per row (genres, tags) -> embeddings pooled per row.

Sum-pooled like the book's genres (``pooling="mean"`` divides by the row's value count).
Rows are padded with PAD, whose embedding is held at zero, so padding adds nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fusionrec.errors import ValidationError
from fusionrec.features.kind import (
    BY_VALUE_MAX_ROWS,
    F32,
    F64,
    I64,
    Fold,
    Grad,
    Params,
    RowGrad,
    VocabularyFeature,
    check_positive,
    kernels,
)
from fusionrec.features.vocabulary import PAD, Vocabulary, pad_rows

POOLINGS = ("sum", "mean")


def _counts(x: I64) -> F32:
    """Each row's number of real values, at least 1 (the mean's divisor)."""
    out: F32 = np.maximum((x != PAD).sum(axis=1), 1).astype(np.float32)[:, None]
    return out


@dataclasses.dataclass(frozen=True)
class MultiCategorical(VocabularyFeature):
    """``dim``: embedding width (= block width); ``pooling``: ``"sum"`` or ``"mean"``."""

    kind: ClassVar[str] = "multi_categorical"
    input_shape: ClassVar[tuple[int | None, ...]] = (
        None,
        None,
    )
    input_dtype: ClassVar[str] = "int64"
    dim: int = 32
    pooling: str = "sum"
    min_count: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "dim", "min_count")
        if self.pooling not in POOLINGS:
            raise ValidationError(
                f"MultiCategorical({self.name!r}).pooling must be one of {POOLINGS}, "
                f"got {self.pooling!r}"
            )

    @property
    def width(self) -> int:
        return self.dim

    # ---- encoder state ----------------------------------------------------------------------
    def fit(self, column: Sequence[Any], extra: Sequence[Any] = ()) -> Vocabulary:
        values = [v for row in column for v in _row(row, self.name)]
        return Vocabulary.fit(values, self.name, self.min_count, extra)

    def encode(self, state: Vocabulary, column: Sequence[Any]) -> I64:
        rows = [_row(row, self.name) for row in column]
        return pad_rows([state.encode(r) for r in rows], width=None)

    # ---- Paddle -------------------------------------------------------------------------------
    def paddle_build(self, layer: Any, state: Vocabulary) -> None:
        from fusionrec._paddle import paddle

        layer.add_sublayer("emb", paddle.nn.Embedding(state.rows, self.dim, padding_idx=PAD))

    def paddle_forward(self, layer: Any, x: Any) -> Any:
        from fusionrec._paddle import paddle

        pooled = paddle.sum(layer.emb(x), axis=1)
        if self.pooling == "mean":
            count = paddle.sum(paddle.cast(x != PAD, pooled.dtype), axis=1, keepdim=True)
            pooled = pooled / paddle.clip(count, min=1.0)
        return pooled

    # ---- numpy training engine ----------------------------------------------------------------
    def by_value(self, state: Vocabulary) -> bool:
        return self.pooling == "sum" and state.rows <= BY_VALUE_MAX_ROWS

    def train_forward(self, w: Params, x: I64) -> tuple[F32, None]:
        block: F32 = kernels().pool_rows(w["emb.weight"], x, PAD)
        if self.pooling == "mean":
            block /= _counts(x)
        return block, None

    def train_backward(self, w: Params, x: I64, cache: None, d_block: F32) -> dict[str, Grad]:
        if self.pooling == "mean":
            d_block = d_block / _counts(x)
        values = np.ascontiguousarray(d_block)
        rows, sums = kernels().scatter_rows(x.reshape(-1), values, x.shape[1], PAD)
        return {"emb.weight": RowGrad(rows, sums, len(w["emb.weight"]))}

    def value_table(self, w: Params) -> F32:
        return _table(w)

    def value_index(self, x: I64) -> I64:
        return x

    def value_backward(self, w: Params, d_value: F32) -> dict[str, F32]:
        d_value[PAD] = 0.0
        return {"emb.weight": d_value}

    # ---- numpy serving ------------------------------------------------------------------------
    def fold(self, w: Params, out_block: F64) -> Fold:
        emb = np.array(w["emb.weight"])
        emb[PAD] = 0.0
        table: F32 = (emb @ out_block).astype(np.float32)
        mean = self.pooling == "mean"

        def share(x: I64) -> F32:
            out: F32 = table[x].sum(axis=1)
            return out / _counts(x) if mean else out

        return share


def _table(w: Params) -> F32:
    """The embedding with its PAD row at zero (Paddle's padding_idx keeps it there)."""
    table: F32 = w["emb.weight"].copy()
    table[PAD] = 0.0
    return table


def _row(row: Any, name: str) -> list[Any]:
    """A row's values; a missing row (None) has none."""
    if row is None:
        return []
    if isinstance(row, str) or not hasattr(row, "__iter__"):
        raise ValidationError(f"feature {name!r}: each row must be a list of values, got {row!r}")
    return list(row)
