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

from fusionrec.features.kind import F32, I64, Feature, Params, column_sums
from fusionrec.train.kernels import pool_rows, pool_rows_backward


@dataclass
class TowerPass:
    """What a tower's backward pass needs from its forward pass."""

    caches: list[Any]  # per feature: what its backward needs (None when taken by value)
    h: F32 | None  # the output layer's per-row input (after dropout); by value, without those
    mask: F32 | None  # dropout mask of ``h``
    y: F32  # tanh outputs
    values: list[F32]  # by value: each such feature's value table
    index: I64 | None  # by value: each row's rows of the stacked value tables


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
        self._weights: Mapping[str, F32] | None = None
        self._views: list[Params] = []

    def _params(self, w: Mapping[str, F32], i: int) -> Params:
        """Feature ``i``'s view of ``w`` (kept while the trainer steps on the same dict)."""
        if w is not self._weights:
            self._weights = w
            self._views = [Params(w, name) for name in self._names]
        return self._views[i]

    def _block_rows(self, i: int) -> slice:
        return self._slices[i]

    def forward(self, w: Mapping[str, F32], xs: Sequence[Any], mask: F32 | None) -> TowerPass:
        """The tower on inputs ``xs`` (one per feature); ``mask``: dropout mask or None."""
        if mask is None:
            return self._forward_by_value(w, xs)
        caches: list[Any] = [None] * len(self.features)
        blocks = []
        for i, f in enumerate(self.features):
            block, caches[i] = f.train_forward(self._params(w, i), xs[i])
            blocks.append(block)
        h = np.concatenate(blocks, axis=1) * mask
        y = np.tanh(h @ w[self.prefix + "out.weight"] + w[self.prefix + "out.bias"])
        return TowerPass(caches, h, mask, y, [], None)

    def _forward_by_value(self, w: Mapping[str, F32], xs: Sequence[Any]) -> TowerPass:
        """Without dropout: the small-vocabulary features by value, the others per row."""
        out_w = w[self.prefix + "out.weight"]
        caches: list[Any] = [None] * len(self.features)
        blocks = []
        for i in self.direct:
            block, caches[i] = self.features[i].train_forward(self._params(w, i), xs[i])
            blocks.append(block)
        values, shares, index = [], [], []
        offset = 0
        for i in self.by_value:
            f = self.features[i]
            value = f.value_table(self._params(w, i))
            values.append(value)
            shares.append(value @ out_w[self._block_rows(i)])
            index.append(f.value_index(xs[i]) + offset if offset else f.value_index(xs[i]))
            offset += len(value)
        h = _stack(blocks)
        stacked = _stack(index)
        z = h @ out_w[self._direct_rows] if h is not None else 0.0
        if stacked is not None:
            z = z + pool_rows(_stack(shares, axis=0), stacked)
        y: F32 = np.tanh(z + w[self.prefix + "out.bias"])
        return TowerPass(caches, h, None, y, values, stacked)

    def backward(
        self, w: Mapping[str, F32], xs: Sequence[Any], tp: TowerPass, dz: F32
    ) -> dict[str, F32]:
        """Gradients of every tower parameter from ``dz``, the gradient of the pre-activation."""
        p = self.prefix
        out_w = w[p + "out.weight"]
        g: dict[str, F32] = {p + "out.bias": column_sums(dz)}

        def add(i: int, grads: dict[str, F32]) -> None:
            name = self._names[i]
            for k, v in grads.items():
                g[name + k] = v

        if tp.mask is not None:
            assert tp.h is not None
            g[p + "out.weight"] = tp.h.T @ dz
            dh = dz @ out_w.T
            dh *= tp.mask
            for i, f in enumerate(self.features):
                d_block = dh[:, self._block_rows(i)]
                add(i, f.train_backward(self._params(w, i), xs[i], tp.caches[i], d_block))
            return g
        out_grad = np.empty_like(out_w)
        if tp.h is not None:
            out_grad[self._direct_rows] = tp.h.T @ dz
            dh = dz @ out_w[self._direct_rows].T
            start = 0
            for i in self.direct:
                f = self.features[i]
                d_block = dh[:, start : start + self.widths[i]]
                add(i, f.train_backward(self._params(w, i), xs[i], tp.caches[i], d_block))
                start += self.widths[i]
        if tp.index is not None:
            per_value = pool_rows_backward(sum(len(v) for v in tp.values), tp.index, dz)
            offset = 0
            for i, value in zip(self.by_value, tp.values, strict=True):
                rows = self._block_rows(i)
                d_share = per_value[offset : offset + len(value)]
                out_grad[rows] = value.T @ d_share
                d_value = d_share @ out_w[rows].T
                add(i, self.features[i].value_backward(self._params(w, i), d_value))
                offset += len(value)
        g[p + "out.weight"] = out_grad
        return g
