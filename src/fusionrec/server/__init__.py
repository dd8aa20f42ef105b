"""The HTTP server: a JSON API and a web page over a FusionRecommender (``fusionrec serve``).

Needs the ``serve`` extra (``pip install 'fusionrec[serve]'``): FastAPI and uvicorn.
"""

from __future__ import annotations

from fusionrec.server.app import create_app
from fusionrec.server.schemas import (
    MAX_ADD_INTERACTIONS,
    MAX_ADD_ITEMS,
    MAX_BATCH_USERS,
    MAX_BODY_BYTES,
    MAX_FILTER_EXPR,
    MAX_FILTER_IDS,
    MAX_K,
)

__all__ = [
    "MAX_ADD_INTERACTIONS",
    "MAX_ADD_ITEMS",
    "MAX_BATCH_USERS",
    "MAX_BODY_BYTES",
    "MAX_FILTER_EXPR",
    "MAX_FILTER_IDS",
    "MAX_K",
    "create_app",
]
