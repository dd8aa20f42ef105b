"""Download the official MovieLens archives from GroupLens, verified by their checksums.

The archives are fetched on the user's machine and never redistributed (GroupLens license).
A download streams into a temporary file in the cache folder and is renamed into place only
after its checksum matches, so the cache never holds a partial or corrupt archive.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fusionrec.errors import DownloadError, ValidationError


@dataclass(frozen=True)
class RemoteArchive:
    """Where a data set is published and the checksum its archive is verified by.

    ``sha256`` is the archive's SHA-256 where public loaders pin one; ``md5`` is GroupLens's
    own published MD5 (``<name>.zip.md5``), used for a release no source pins a SHA-256 for
    (ml-32m). With neither, the archive is downloaded only when the caller passes a SHA-256.
    """

    url: str
    sha256: str | None
    md5: str | None = None

    @property
    def checksum(self) -> tuple[str, str] | None:
        """``(algorithm, hex digest)`` the download must match: the SHA-256, else the MD5."""
        if self.sha256 is not None:
            return "sha256", self.sha256
        if self.md5 is not None:
            return "md5", self.md5
        return None

    @property
    def filename(self) -> str:
        """The archive's file name in the cache folder (the URL's last component)."""
        return self.url.rsplit("/", 1)[-1]


#: The published archives; tests patch this table to point at a local server.
#: GroupLens publishes only MD5s (``<name>.zip.md5``); the SHA-256s below are those pinned by
#: tensorflow/datasets in tensorflow_datasets/url_checksums/movielens.txt (each with the
#: archive's size: ml-100k 4,924,029 bytes, ml-1m 5,917,549, ml-20m 198,702,078, ml-25m
#: 261,978,986) and agree with other public loaders that pin them. No public source we could
#: check pins ml-32m's SHA-256, so it is verified by GroupLens's published MD5 (as quoted by
#: several public loaders, with the archive's size, 238,950,008 bytes).
DATASETS: dict[str, RemoteArchive] = {
    "ml-100k": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    ),
    "ml-1m": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    ),
    "ml-20m": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    ),
    "ml-25m": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-25m.zip",
        sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
    ),
    "ml-32m": RemoteArchive(
        url="https://files.grouplens.org/datasets/movielens/ml-32m.zip",
        sha256=None,
        md5="d472be332d4daa821edc399621853b57",
    ),
}

_CHUNK = 1 << 20
_NAMES = {"sha256": "SHA-256", "md5": "MD5"}
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def default_cache_dir() -> Path:
    """``$FUSIONREC_CACHE`` if set, else ``~/.cache/fusionrec``."""
    env = os.environ.get("FUSIONREC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fusionrec"


def download_movielens(
    name: str,
    cache_dir: str | Path | None = None,
    *,
    timeout: float = 60.0,
    sha256: str | None = None,
) -> Path:
    """Path of the verified ``<name>.zip`` in ``cache_dir``, downloading it if needed.

    A cached archive whose checksum matches is reused without touching the network; one that
    does not match is deleted and fetched again. Raises DownloadError (naming the URL and
    the reason) on network failure or checksum mismatch, leaving no file behind. The
    checksum is the pinned SHA-256, or for ml-32m GroupLens's published MD5; ``sha256``
    replaces it with one the caller trusts. Pass the result to
    :func:`~fusionrec.data.load_movielens`.
    """
    if name not in DATASETS:
        raise ValidationError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    archive = DATASETS[name]
    if sha256 is not None:
        if not _HEX64.fullmatch(sha256):
            raise ValidationError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
        archive = RemoteArchive(archive.url, sha256.lower())
    checksum = archive.checksum
    if checksum is None:
        raise ValidationError(
            f"{name} has no pinned checksum: pass sha256= with the SHA-256 of {archive.url} "
            "that you trust"
        )
    algorithm, expected = checksum
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{folder}: cannot create the cache folder: {exc}") from exc
    target = folder / archive.filename
    if target.is_file():
        if _digest(target, algorithm) == expected:
            return target
        target.unlink()
    handle, temp_name = tempfile.mkstemp(prefix=f".{archive.filename}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _fetch(archive.url, out, timeout, algorithm)
        if digest != expected:
            raise DownloadError(
                f"{archive.url}: {_NAMES[algorithm]} mismatch (expected {expected}, got "
                f"{digest}); the download was discarded"
            )
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)
    return target


def _fetch(url: str, out: BinaryIO, timeout: float, algorithm: str = "sha256") -> str:
    """Stream ``url`` into the binary file ``out``; return the bytes' hex digest."""
    sha = hashlib.new(algorithm, usedforsecurity=False)
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


def _digest(path: Path, algorithm: str) -> str:
    sha = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
