"""A tower's serving forward in numpy, folded from its weights.

An embedding followed by linear layers is itself a lookup table, and the output layer over the
concatenated blocks is linear, so each feature folds its block into its share of the output
pre-activation (:meth:`fusionrec.features.kind.Feature.fold`): a tower's output is the sum of
its features' shares, the output bias and a tanh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import getitem
from typing import Any

import numpy as np

from fusionrec.blocks import feature_rows, map_blocks
from fusionrec.features.kind import F32, Feature, Params
from fusionrec.features.schema import Features


class ServingTower:
    """One tower computed with numpy from state-dict weights under ``prefix``."""

    def __init__(
        self, features: Sequence[Feature], weights: Mapping[str, Any], prefix: str
    ) -> None:
        self.features = tuple(features)
        w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items() if k.startswith(prefix)}
        out_w = w[prefix + "out.weight"]
        cuts = np.cumsum([f.width for f in self.features])[:-1]
        blocks = np.split(out_w, cuts, axis=0)
        folded = [
            f.fold_rows(Params(w, f"{prefix}{f.name}."), block)
            for f, block in zip(self.features, blocks, strict=True)
        ]
        self._shares = [x.batch for x in folded]
        self._ones = tuple(x.one for x in folded)
        tables = tuple(x.table for x in folded if x.table is not None)
        self._tables = tables if len(tables) == len(folded) else None
        self._bias = w[prefix + "out.bias"].astype(np.float32)
        self.width = out_w.shape[1]

    def outputs(self, features: Features) -> F32:
        """Tower outputs [n, width] (tanh), before any normalization.

        Rows run in blocks (:mod:`fusionrec.blocks`): a share's intermediates (a
        multi-valued feature's gathered rows, a text's windows) then stay bounded for a
        whole catalog.
        """
        n = len(features)
        out: F32 = map_blocks(lambda rows: self._outputs(feature_rows(features, rows)), n)
        return out

    def _outputs(self, features: Features) -> F32:
        pre = self._shares[0](features[self.features[0].name])
        for f, share in zip(self.features[1:], self._shares[1:], strict=True):
            pre += share(features[f.name])
        pre += self._bias
        out: F32 = np.tanh(pre)
        return out

    def output_one(self, encoded: Sequence[Any]) -> F32:
        """One row's outputs [width] from its features' :meth:`Feature.encode_one` values.

        The same sums in the same order as :meth:`outputs` on a one-row batch, so the same
        floats, without a column array per feature.
        """
        rows: list[F32]
        if self._tables is not None:  # every share a row of a table: index them, no calls
            rows = list(map(getitem, self._tables, encoded))
        else:
            rows = [one(x) for one, x in zip(self._ones, encoded, strict=True)]
        # a share may be a view of a table: copied or summed into a new array, never written
        pre: F32 = rows[0].copy() if len(rows) == 1 else rows[0] + rows[1]
        for row in rows[2:]:
            pre += row
        pre += self._bias
        np.tanh(pre, out=pre)
        return pre
