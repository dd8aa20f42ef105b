"""The examples stay runnable: the custom store example passes the conformance suite here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from custom_store import TestNumpyStore

__all__ = ["TestNumpyStore"]
