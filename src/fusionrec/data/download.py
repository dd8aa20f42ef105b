"""Download the official MovieLens archives from GroupLens, verified by SHA-256.

The archives are fetched on the user's machine and never redistributed (GroupLens license).
A download streams into a temporary file in the cache folder and is renamed into place only
after its checksum matches, so the cache never holds a partial or corrupt archive.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fusionrec.errors import DownloadError, ValidationError


@dataclass(frozen=True)
class RemoteArchive:
    """Where a data set is published and the SHA-256 of the published archive."""

    url: str
    sha256: str

    @property
    def filename(self) -> str:
        """The archive's file name in the cache folder (the URL's last component)."""
        return self.url.rsplit("/", 1)[-1]


#: The published archives; tests patch this table to point at a local server.
DATASETS: dict[str, RemoteArchive] = {
    "ml-100k": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c9a1b6b",
    ),
    "ml-1m": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    ),
}

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$FUSIONREC_CACHE`` if set, else ``~/.cache/fusionrec``."""
    env = os.environ.get("FUSIONREC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fusionrec"


def download_movielens(
    name: str, cache_dir: str | Path | None = None, *, timeout: float = 60.0
) -> Path:
    """Path of the verified ``<name>.zip`` in ``cache_dir``, downloading it if needed.

    A cached archive whose SHA-256 matches is reused without touching the network; one that
    does not match is deleted and fetched again. Raises DownloadError (naming the URL and
    the reason) on network failure or checksum mismatch, leaving no file behind.
    Pass the result to :func:`~fusionrec.data.load_movielens`.
    """
    if name not in DATASETS:
        raise ValidationError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    archive = DATASETS[name]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{folder}: cannot create the cache folder: {exc}") from exc
    target = folder / archive.filename
    if target.is_file():
        if _sha256(target) == archive.sha256:
            return target
        target.unlink()
    handle, temp_name = tempfile.mkstemp(prefix=f".{archive.filename}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _fetch(archive.url, out, timeout)
        if digest != archive.sha256:
            raise DownloadError(
                f"{archive.url}: SHA-256 mismatch (expected {archive.sha256}, got {digest}); "
                "the download was discarded"
            )
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)
    return target


def _fetch(url: str, out: BinaryIO, timeout: float) -> str:
    """Stream ``url`` into the binary file ``out``; return the hex SHA-256 of the bytes."""
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                sha.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return sha.hexdigest()


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
