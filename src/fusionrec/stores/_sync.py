"""Small synchronization helpers shared by the backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many concurrent readers or one writer; waiting writers block new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared for the block."""
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock exclusively for the block."""
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class InFlight:
    """Counts operations running against each named resource, to wait until one is idle."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._counts: dict[str, int] = {}

    @contextmanager
    def using(self, name: str) -> Iterator[None]:
        """Mark ``name`` busy for the block."""
        with self._cond:
            self._counts[name] = self._counts.get(name, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._counts[name] -= 1
                if not self._counts[name]:
                    del self._counts[name]
                    self._cond.notify_all()

    def wait_idle(self, name: str, timeout: float) -> bool:
        """Block until nothing uses ``name`` (or timeout); return whether it is idle."""
        with self._cond:
            return self._cond.wait_for(lambda: name not in self._counts, timeout=timeout)
