"""Categorical: one int or str value per row -> embedding -> fc (the book's id/demographics).

The id of a tower's entity is a Categorical with ``id=True``: during training a share of its
rows is replaced by UNK (``ModelConfig.user_id_dropout``) so the tower also learns to work
from the other features alone (cold start), and it is never taken by value.
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
    Folded,
    Grad,
    Params,
    RowGrad,
    VocabularyFeature,
    check_positive,
    column_sums,
    kernels,
)
from fusionrec.features.vocabulary import Vocabulary


def _booleans_as_strings(column: Sequence[Any]) -> Sequence[Any]:
    """Booleans as the categories ``"false"`` and ``"true"`` (a vocabulary holds ints or
    strings, and refuses a bool that would pass for 0 or 1)."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "b":
        return np.where(column, "true", "false").astype(object)
    if isinstance(column, np.ndarray) and column.dtype != np.object_:
        return column
    if not any(isinstance(v, bool | np.bool_) for v in column):
        return column
    return [("true" if v else "false") if isinstance(v, bool | np.bool_) else v for v in column]


@dataclasses.dataclass(frozen=True)
class Categorical(VocabularyFeature):
    """``dim``: embedding width; ``fc``: block width; values seen fewer than ``min_count``
    times encode as UNK; ``prefix > 0`` keeps the first ``prefix`` characters of each value
    as its category (a zip code's region, say)."""

    kind: ClassVar[str] = "categorical"
    input_shape: ClassVar[tuple[int | None, ...]] = (None,)
    input_dtype: ClassVar[str] = "int64"
    dim: int = 16
    fc: int = 16
    min_count: int = 1
    id: bool = False
    prefix: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "dim", "fc", "min_count")
        if isinstance(self.prefix, bool) or not isinstance(self.prefix, int) or self.prefix < 0:
            raise ValidationError(f"Categorical({self.name!r}).prefix must be an int >= 0")
        if not isinstance(self.id, bool):
            raise ValidationError(f"Categorical({self.name!r}).id must be a bool")

    @property
    def width(self) -> int:
        return self.fc

    @property
    def is_id(self) -> bool:
        return self.id

    # ---- encoder state ----------------------------------------------------------------------
    def _values(self, column: Sequence[Any]) -> Sequence[Any]:
        if not self.id:
            column = _booleans_as_strings(column)
        if not self.prefix:
            return column
        return [None if v is None else str(v)[: self.prefix] for v in column]

    def fit(self, column: Sequence[Any], extra: Sequence[Any] = ()) -> Vocabulary:
        return Vocabulary.fit(self._values(column), self.name, self.min_count, extra)

    def encode(self, state: Vocabulary, column: Sequence[Any]) -> I64:
        return state.encode(self._values(column))

    def encode_one(self, state: Vocabulary, value: Any) -> int:
        if not self.id and isinstance(value, bool | np.bool_):
            value = "true" if value else "false"
        if self.prefix and value is not None:
            value = str(value)[: self.prefix]
        return state.encode_one(value)

    # ---- Paddle -------------------------------------------------------------------------------
    def paddle_build(self, layer: Any, state: Vocabulary) -> None:
        from fusionrec._paddle import paddle

        layer.add_sublayer("emb", paddle.nn.Embedding(state.rows, self.dim))
        layer.add_sublayer("fc", paddle.nn.Linear(self.dim, self.fc))

    def paddle_forward(self, layer: Any, x: Any) -> Any:
        return layer.fc(layer.emb(x))

    # ---- numpy training engine ----------------------------------------------------------------
    def by_value(self, state: Vocabulary) -> bool:
        return not self.id and state.rows <= BY_VALUE_MAX_ROWS

    def train_forward(self, w: Params, x: I64) -> tuple[F32, F32]:
        e = w["emb.weight"][x]
        block: F32 = e @ w["fc.weight"] + w["fc.bias"]
        return block, e

    def train_backward(self, w: Params, x: I64, cache: F32, d_block: F32) -> dict[str, Grad]:
        table = w["emb.weight"]
        d_emb = d_block @ w["fc.weight"].T
        rows, values = kernels().scatter_rows(x, d_emb, 1, -1)
        return {
            "fc.weight": cache.T @ d_block,
            "fc.bias": column_sums(d_block),
            "emb.weight": RowGrad(rows, values, len(table)),
        }

    def value_table(self, w: Params) -> F32:
        value: F32 = w["emb.weight"] @ w["fc.weight"] + w["fc.bias"]
        return value

    def value_index(self, x: I64) -> I64:
        return x[:, None]

    def value_backward(self, w: Params, d_value: F32) -> dict[str, F32]:
        return {
            "fc.weight": w["emb.weight"].T @ d_value,
            "fc.bias": column_sums(d_value),
            "emb.weight": d_value @ w["fc.weight"].T,
        }

    # ---- numpy serving ------------------------------------------------------------------------
    def fold(self, w: Params, out_block: F64) -> Fold:
        return self.fold_rows(w, out_block).batch

    def fold_rows(self, w: Params, out_block: F64) -> Folded:
        fc = w["emb.weight"] @ w["fc.weight"] + w["fc.bias"]
        table: F32 = (fc @ out_block).astype(np.float32)

        def share(x: I64 | int) -> F32:
            out: F32 = table[x]
            return out

        # one row's share is a row of the table itself (a view): the tower adds it, never
        # writes it
        return Folded(share, share, table)
