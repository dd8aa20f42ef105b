"""Crash-safe writes: build under a temporary name, then rename into place.

A crash (or SIGKILL) at any point leaves either the previous artifact or the new one, never
a half-written one that loads. A directory cannot be swapped by one rename, so a model
directory is versioned: its files live in a ``v-<hex>`` subdirectory named by a small JSON
pointer file, and replacing the pointer (one atomic rename) switches versions. The pointer
also lists every file's size and SHA-256, so a damaged or altered file is detected on load.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fusionrec.errors import ModelDirError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The file is created with mode 0o666 less the process umask, as ``open()`` would make it
    (``mkstemp`` would make it 0o600 whatever the umask).
    """
    path = Path(path)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, exclusively created temporary file beside ``path`` (umask applies)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


#: The one name format a version subdirectory may have (no path can be smuggled through it).
_VERSION_NAME = re.compile(r"v-[0-9a-f]{16}")
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
_CHUNK = 1 << 20
_ATTEMPTS = 3
T = TypeVar("T")


@dataclass(frozen=True)
class Version:
    """The current version of a versioned directory: its pointer's fields and its path."""

    header: dict[str, Any]
    root: Path

    @property
    def path(self) -> Path:
        """The version's subdirectory (ModelDirError if the pointer names none)."""
        name = self.header.get("version")
        if not isinstance(name, str) or not _VERSION_NAME.fullmatch(name):
            raise ModelDirError(
                f"{self.root}: the pointer's 'version' must name a v-<16 hex> subdirectory, "
                f"got {name!r}"
            )
        path = self.root / name
        if path.is_symlink() or not path.is_dir():
            raise ModelDirError(f"{path}: the current version is missing")
        return path


@contextlib.contextmanager
def replace_directory(
    root: Path, pointer: str, header: Mapping[str, Any], *, legacy: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Yield an empty directory that becomes ``root``'s current version when the block succeeds.

    ``root`` keeps versions in subdirectories and names the current one in the JSON file
    ``pointer`` (``header`` plus the version's name and a size and SHA-256 of every file),
    replaced atomically. A crash at any point leaves the previous pointer and version, or
    the new ones; leftovers (killed saves' temporary folders, superseded versions, and the
    ``legacy`` entries of an older flat layout, whose directories had ``pointer`` too) are
    removed by the next save or load. Writers hold an exclusive lock on ``root/.lock``. A
    non-empty ``root`` without ``pointer`` is refused rather than overwritten.
    """
    root = Path(root).absolute()
    if root.exists() and not root.is_dir():
        raise ModelDirError(f"{root} exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    _check_replaceable(root, pointer, legacy)
    with _locked(root, blocking=True):
        tmp = root / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        tmp.mkdir()  # not mkdtemp: the umask decides the mode, as for any directory
        try:
            yield tmp
            files = _manifest(tmp)
            _sync_tree(tmp)
            name = f"v-{secrets.token_hex(8)}"
            os.replace(tmp, root / name)
            _sync_dir(root)
            document = {**header, "version": name, "files": files}
            write_bytes_atomic(root / pointer, json.dumps(document, indent=1).encode("utf-8"))
            _sync_dir(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(root, pointer, name, legacy)


def load_directory(
    root: Path,
    pointer: str,
    check_header: Callable[[dict[str, Any], Path], None],
    load: Callable[[Version], T],
    *,
    legacy: tuple[str, ...] = (),
) -> T:
    """``load(version)`` of ``root``'s current version, its files checked against the manifest.

    ``check_header(header, pointer_path)`` vets the pointer's own fields (format, version)
    first, so an older layout is reported by its version rather than by a missing manifest.

    Raises ModelDirError naming the file when the pointer is unreadable, names no valid
    version, or a file is missing, extra, resized or altered. If a writer replaced the version
    while it was being read, the new one is read instead. Leftovers of killed saves are
    removed afterwards when no writer holds the lock.
    """
    root = Path(root)
    for attempt in range(_ATTEMPTS):
        version = _read_pointer(root, pointer)
        try:
            check_header(version.header, root / pointer)
            _check(version, root / pointer)
            result = load(version)
        except ModelDirError:
            if attempt + 1 < _ATTEMPTS and _moved(root, pointer, version):
                continue
            raise
        prune_directory(root, pointer, legacy=legacy)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def current_version(root: Path, pointer: str) -> Path:
    """The subdirectory ``root``'s pointer names now (not checked against the manifest)."""
    return _read_pointer(Path(root), pointer).path


def _read_pointer(root: Path, pointer: str) -> Version:
    file = root / pointer
    try:
        header = json.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ModelDirError(f"{root}: not a model directory (no {pointer})") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelDirError(f"{file}: unreadable ({one_line(exc)})") from None
    if not isinstance(header, dict):
        raise ModelDirError(f"{file}: expected a JSON object, got {type(header).__name__}")
    return Version(header, root)


def _moved(root: Path, pointer: str, version: Version) -> bool:
    try:
        return _read_pointer(root, pointer).header.get("version") != version.header.get("version")
    except ModelDirError:
        return False


def _check(version: Version, file: Path) -> None:
    """Check the files of ``version`` against the manifest its pointer ``file`` holds."""
    files = version.header.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and _is_entry(v) for k, v in files.items()
    ):
        raise ModelDirError(f"{file}: 'files' must map file names to [size, sha256]")
    found = _manifest(version.path, hashes=False)
    for name in sorted(set(files) | set(found)):
        where = version.path / name
        if name not in found:
            raise ModelDirError(f"{where}: missing (listed in {file})")
        if name not in files:
            raise ModelDirError(f"{where}: not listed in {file}")
        if found[name][0] != files[name][0] or _sha256(where) != files[name][1]:
            raise ModelDirError(f"{where}: size or checksum differs from {file}: file altered")


def prune_directory(root: Path, pointer: str, *, legacy: tuple[str, ...] = ()) -> None:
    """Remove leftovers of killed saves from ``root``, unless a writer is busy there."""
    root = Path(root)
    try:
        header = json.loads((root / pointer).read_bytes().decode("utf-8"))
        current = header.get("version") if isinstance(header, dict) else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return
    if not isinstance(current, str) or not _VERSION_NAME.fullmatch(current):
        return
    try:
        with _locked(root, blocking=False):
            _prune(root, pointer, current, legacy)
    except (BlockingIOError, PermissionError, OSError):
        return  # a writer is busy, or the directory is read-only: leave it as it is


def _is_entry(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
    )


def _check_replaceable(root: Path, pointer: str, legacy: tuple[str, ...]) -> None:
    names = {p.name for p in root.iterdir()}
    if names and pointer not in names:  # legacy entries count only beside a pointer
        raise ModelDirError(
            f"{root} is a non-empty directory that holds no model ({pointer} missing): "
            "refusing to overwrite it; choose an empty or new path"
        )


def _manifest(root: Path, *, hashes: bool = True) -> dict[str, list[Any]]:
    """``{relative posix path: [size, sha256 hex]}`` of every regular file under ``root``."""
    out: dict[str, list[Any]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            path = base / name
            if path.is_symlink():
                raise ModelDirError(f"{path}: symbolic links are not allowed in a model directory")
        for name in sorted(filenames):
            path = base / name
            if not path.is_file():
                raise ModelDirError(f"{path}: not a regular file")
            rel = path.relative_to(root).as_posix()
            out[rel] = [path.stat().st_size, _sha256(path) if hashes else ""]
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sync_tree(root: Path) -> None:
    """fsync every file and directory under ``root``, so a power loss cannot lose them."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(Path(dirpath) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(dirpath))


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(root: Path, pointer: str, current: str, legacy: tuple[str, ...]) -> None:
    """Remove temporary folders and pointer files, other versions and ``legacy`` entries."""
    for entry in root.iterdir():
        name = entry.name
        stale = (
            name.startswith((_TMP_PREFIX, f".{pointer}."))
            or (_VERSION_NAME.fullmatch(name) is not None and name != current)
            or name in legacy
        )
        if not stale:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


@contextlib.contextmanager
def _locked(root: Path, *, blocking: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.lock``; BlockingIOError if busy and not ``blocking``."""
    fd = os.open(root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
