"""The fusion model: Paddle towers assembled from a schema, the heads and the vector layout.

Submodules: :mod:`~fusionrec.model.towers` (a tower over any feature list),
:mod:`~fusionrec.model.fusion` (:class:`FusionModel`: both towers, the rating and retrieval
heads, the exported vector layers) and :mod:`~fusionrec.model.layout` (the vector layout,
Paddle-free). Names are imported on first access, so the layout loads without Paddle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusionrec.model.fusion import (
        FusionModel,
        MovieTower,
        UserTower,
        VectorLayer,
        describe,
        l2_normalize,
    )

_LAZY = {
    name: "fusionrec.model.fusion"
    for name in (
        "FusionModel",
        "MovieTower",
        "UserTower",
        "VectorLayer",
        "describe",
        "l2_normalize",
    )
}


def __getattr__(name: str) -> Any:
    """Import Paddle-backed names on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fusionrec.model' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["FusionModel", "MovieTower", "UserTower", "VectorLayer", "describe", "l2_normalize"]
