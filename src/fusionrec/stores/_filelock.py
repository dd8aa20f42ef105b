"""One writer per saved file: an exclusive ``flock`` on ``<file>.lock`` beside it.

``flock`` locks belong to an open file description, so a second lock on the same file fails
whether it comes from another process or from another store in this one; the kernel drops
the lock when its holder exits, so a crash never leaves a stale lock. The lock file itself
stays (removing it would race with a process about to lock it).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from fusionrec.errors import ConfigError, StoreError, StoreInUseError


def lock_path(path: Path) -> Path:
    """Where the lock of ``path`` lives."""
    return path.with_name(path.name + ".lock")


class WriterLock:
    """Hold the exclusive lock of ``path`` until :meth:`release`; StoreInUseError if taken."""

    def __init__(self, path: Path) -> None:
        self.path = lock_path(path)
        if not self.path.parent.is_dir():
            raise ConfigError(f"directory {self.path.parent} for {path.name} does not exist")
        try:
            handle = open(self.path, "ab")  # noqa: SIM115 - held until release()
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise StoreInUseError(
                f"store in use by another writer: {path} is locked ({self.path}); a saved "
                "Faiss index has one writer at a time: close the other store, or open this "
                "one with read_only=True"
            ) from exc
        self._handle: IO[bytes] | None = handle

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._handle is not None

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (by absolute path; the file need not exist)."""
    return os.path.abspath(a) == os.path.abspath(b)
