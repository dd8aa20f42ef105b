"""A Paddle tower over any list of features: ``tanh(out(dropout(concat(blocks))))``.

Each feature is a :class:`FeatureLayer` named after it, holding its kind's sublayers, so
parameters are named ``<tower>.<feature>.<sublayer>.weight``; they are created in schema
order, which fixes the seeded initial weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fusionrec._paddle import paddle
from fusionrec.features.kind import Feature

nn = paddle.nn
Tensor = paddle.Tensor


class FeatureLayer(nn.Layer):
    """One feature's sublayers; its forward is its kind's block."""

    def __init__(self, feature: Feature, state: Any) -> None:
        super().__init__()
        self.feature = feature
        feature.paddle_build(self, state)

    def forward(self, x: Any) -> Tensor:
        out: Tensor = self.feature.paddle_forward(self, x)
        return out


class Tower(nn.Layer):
    """Feature blocks, concatenated, through dropout and an output Linear with tanh."""

    def __init__(
        self,
        features: Sequence[Feature],
        states: Mapping[str, Any],
        hidden: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.features = tuple(features)
        for f in self.features:
            self.add_sublayer(f.name, FeatureLayer(f, states[f.name]))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(sum(f.width for f in self.features), hidden)

    def forward(self, *inputs: Any) -> Tensor:
        """One input per feature, in schema order (a Text may be given packed)."""
        # indexed, not zip(strict=True): Paddle's static-graph conversion (jit.save) lacks it
        parts = [self._sub_layers[f.name](inputs[i]) for i, f in enumerate(self.features)]
        return paddle.tanh(self.out(self.dropout(paddle.concat(parts, axis=1))))
