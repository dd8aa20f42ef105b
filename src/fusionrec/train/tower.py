"""A tower of the numpy training engine, over any list of features.

``tanh(out(dropout(concat(blocks))))`` with its exact gradients. With dropout every feature
gives its block per row. Without, features with small vocabularies are taken by value: each
value's share of the output layer, ``value_table @ W_out[rows]``, is computed once and summed
per row, and only the other features go through the per-row product (same maths, a fraction
of the FLOPs: the book's user tower halves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionrec.features.kind import F32, I64, Feature, Grad, Params, column_sums
from fusionrec.train.kernels import add_pooled_bias, pool_rows_backward


@dataclass
class TowerPass:
    """What a tower's backward pass needs from its forward pass."""

    caches: list[Any]  # per feature: what its backward needs (None when taken by value)
    h: F32 | None  # the output layer's per-row input (after dropout); by value, without those
    mask: F32 | None  # dropout mask of ``h``
    y: F32  # tanh outputs
    values: list[F32]  # by value: each such feature's value table
    index: I64 | None  # by value: each row's rows of the stacked value tables
    direct_w: F32 | None  # by value: the output layer's rows of the other features


def _stack(parts: list[Any], axis: int = 1) -> Any:
    """``parts`` concatenated (one part as it is, contiguous; none: None)."""
    if not parts:
        return None
    if len(parts) == 1:
        return np.ascontiguousarray(parts[0])
    return np.concatenate(parts, axis=axis)


def _rows(starts: Sequence[int], widths: Sequence[int]) -> slice | I64:
    """Output-layer rows of the given blocks: a slice when contiguous."""
    rows = np.concatenate(
        [np.arange(s, s + w) for s, w in zip(starts, widths, strict=True)] or [np.arange(0)]
    )
    if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        return slice(int(rows[0]), int(rows[0]) + len(rows))
    return rows.astype(np.int64)


class TowerEngine:
    """Forward and backward of one tower; parameters under ``prefix`` (``"user_tower."``)."""

    def __init__(self, features: Sequence[Feature], states: Mapping[str, Any], prefix: str) -> None:
        self.features = tuple(features)
        self.prefix = prefix
        self.widths = [f.width for f in self.features]
        self.starts = [int(s) for s in np.cumsum([0, *self.widths[:-1]])]
        self.width = sum(self.widths)
        flags = [f.by_value(states[f.name]) for f in self.features]
        self.direct = [i for i, by_value in enumerate(flags) if not by_value]
        self.by_value = [i for i, by_value in enumerate(flags) if by_value]
        self._direct_rows = _rows(
            [self.starts[i] for i in self.direct], [self.widths[i] for i in self.direct]
        )
        self._names = [f"{prefix}{f.name}." for f in self.features]
        self._slices = [slice(s, s + w) for s, w in zip(self.starts, self.widths, strict=True)]
        self._out_weight = prefix + "out.weight"
        self._out_bias = prefix + "out.bias"
        self._weights: Mapping[str, F32] | None = None
        self._views: list[Params] = []

    def _params(self, w: Mapping[str, F32]) -> list[Params]:
        """Each feature's view of ``w`` (kept while the trainer steps on the same dict)."""
        if w is not self._weights:
            self._weights = w
            self._views = [Params(w, name) for name in self._names]
        return self._views

    def forward(self, w: Mapping[str, F32], xs: Sequence[Any], mask: F32 | None) -> TowerPass:
        """The tower on inputs ``xs`` (one per feature); ``mask``: dropout mask or None."""
        if mask is None:
            return self._forward_by_value(w, xs)
        views = self._params(w)
        caches: list[Any] = [None] * len(self.features)
        blocks = []
        for i, f in enumerate(self.features):
            block, caches[i] = f.train_forward(views[i], xs[i])
            blocks.append(block)
        h = np.concatenate(blocks, axis=1) * mask
        y = h @ w[self._out_weight]
        y += w[self._out_bias]
        return TowerPass(caches, h, mask, np.tanh(y, out=y), [], None, None)

    def _forward_by_value(self, w: Mapping[str, F32], xs: Sequence[Any]) -> TowerPass:
        """Without dropout: the small-vocabulary features by value, the others per row."""
        views = self._params(w)
        out_w = w[self._out_weight]
        caches: list[Any] = [None] * len(self.features)
        blocks = []
        for i in self.direct:
            block, caches[i] = self.features[i].train_forward(views[i], xs[i])
            blocks.append(block)
        values, shares, index = [], [], []
        offset = 0
        for i in self.by_value:
            f = self.features[i]
            value = f.value_table(views[i])
            values.append(value)
            shares.append(value @ out_w[self._slices[i]])
            index.append(f.value_index(xs[i]) + offset if offset else f.value_index(xs[i]))
            offset += len(value)
        h = _stack(blocks)
        stacked = _stack(index)
        direct_w = out_w[self._direct_rows]
        if h is not None:
            z = h @ direct_w
        else:
            assert stacked is not None  # a tower has features
            z = np.zeros((len(stacked), out_w.shape[1]), dtype=np.float32)
        if stacked is not None:
            add_pooled_bias(z, _stack(shares, axis=0), stacked, w[self._out_bias])
        else:
            z += w[self._out_bias]
        y: F32 = np.tanh(z, out=z)
        return TowerPass(caches, h, None, y, values, stacked, direct_w)

    def backward(
        self,
        w: Mapping[str, F32],
        xs: Sequence[Any],
        tp: TowerPass,
        dz: F32,
        into: dict[str, Grad] | None = None,
    ) -> dict[str, Grad]:
        """Gradients of every tower parameter from ``dz``, the gradient of the pre-activation,
        added to ``into`` (a new dict when None), which is returned."""
        views = self._params(w)
        out_w = w[self._out_weight]
        g: dict[str, Grad] = {} if into is None else into
        g[self._out_bias] = column_sums(dz)
        names = self._names
        if tp.mask is not None:
            assert tp.h is not None
            g[self._out_weight] = tp.h.T @ dz
            dh = dz @ out_w.T
            dh *= tp.mask
            for i, f in enumerate(self.features):
                grads = f.train_backward(views[i], xs[i], tp.caches[i], dh[:, self._slices[i]])
                for k, v in grads.items():
                    g[names[i] + k] = v
            return g
        out_grad = np.empty_like(out_w)
        if tp.h is not None:
            assert tp.direct_w is not None
            rows = self._direct_rows
            if isinstance(rows, slice):
                np.matmul(tp.h.T, dz, out=out_grad[rows])
            else:
                out_grad[rows] = tp.h.T @ dz
            dh = dz @ tp.direct_w.T
            start = 0
            for i in self.direct:
                width = self.widths[i]
                d_block = dh[:, start : start + width]
                grads = self.features[i].train_backward(views[i], xs[i], tp.caches[i], d_block)
                for k, v in grads.items():
                    g[names[i] + k] = v
                start += width
        if tp.index is not None:
            per_value = pool_rows_backward(sum(len(v) for v in tp.values), tp.index, dz)
            offset = 0
            for i, value in zip(self.by_value, tp.values, strict=True):
                rows = self._slices[i]
                d_share = per_value[offset : offset + len(value)]
                out_grad[rows] = value.T @ d_share
                d_value = d_share @ out_w[rows].T
                for k, v in self.features[i].value_backward(views[i], d_value).items():
                    g[names[i] + k] = v
                offset += len(value)
        g[self._out_weight] = out_grad
        return g
