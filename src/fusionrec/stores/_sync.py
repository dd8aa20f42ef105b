"""Small synchronization helpers shared by the backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many concurrent readers or one writer; waiting writers block new readers.

    ``read()`` returns a reusable context object rather than a generator: searches take the
    shared side on every call, and a plain lock plus two method calls is several times
    cheaper than a ``contextmanager`` over a re-entrant ``Condition``.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()  # taken directly on the read side: C-level enter/exit
        self._cond = threading.Condition(self._mutex)
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0
        self._shared = _SharedSide(self)

    def read(self) -> _SharedSide:
        """Hold the lock shared for a ``with`` block."""
        return self._shared

    def acquire_read(self) -> None:
        """Take the shared side; pair with :meth:`release_read`."""
        with self._mutex:  # the condition's own lock, without Condition's Python-level enter
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        """Give back the shared side taken by :meth:`acquire_read`."""
        with self._mutex:
            self._readers -= 1
            if not self._readers and self._waiting_writers:
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


class _SharedSide:
    """The ``with`` form of :meth:`ReadWriteLock.acquire_read` / ``release_read``."""

    __slots__ = ("_lock",)

    def __init__(self, lock: ReadWriteLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire_read()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release_read()


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
