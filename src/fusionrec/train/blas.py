"""Set numpy's OpenBLAS thread count while the numpy training engine runs.

The engine's matrices are small (a batch of a few hundred rows). On an idle 2-core machine two
threads make a step about 7% faster, but OpenBLAS's threads spin-wait for each other, so
when another process keeps a core busy they make it several times slower: the trainer uses
one unless asked for more. This finds the OpenBLAS that numpy loaded (from
``/proc/self/maps``) and calls its own ``set_num_threads``; where that is not possible it
does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SETTERS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _numpy_openblas() -> list[tuple[Any, Any]]:
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return []
    try:
        paths = {
            line.split()[-1]
            for line in maps.read_text().splitlines()
            if "openblas" in line.lower() and "numpy" in line.lower() and line.endswith(".so")
        }
    except OSError:
        return []
    found = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in _SETTERS:
            if hasattr(lib, setter) and hasattr(lib, getter):
                found.append((getattr(lib, setter), getattr(lib, getter)))
                break
    return found


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Run the body with numpy's OpenBLAS on ``count`` threads, then restore its count."""
    libs = _numpy_openblas()
    before = [int(getter()) for _, getter in libs]
    for setter, _ in libs:
        setter(count)
    try:
        yield
    finally:
        for (setter, _), count in zip(libs, before, strict=True):
            setter(count)
