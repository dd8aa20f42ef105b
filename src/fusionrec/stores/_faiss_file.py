"""The saved FaissStore file: a zip of ``.npy`` arrays sealed with a SHA-256 checksum.

Reading never hands Faiss bytes it has not checked: the zip's members, each ``.npy`` header
and the checksum over every member are verified first, and a flat index's binary layout is
checked field by field, because ``faiss.deserialize_index`` on garbage can abort the process.
Every failure is a :class:`~fusionrec.errors.StoreError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from fusionrec.errors import CollectionNotFoundError, StoreError

FORMAT = "fusionrec.faiss-store"
VERSION = 2
_MEMBERS: dict[str, np.dtype[Any]] = {
    "header": np.dtype(np.uint8),
    "index": np.dtype(np.uint8),
    "label_to_id": np.dtype(np.int64),
    "ids": np.dtype(np.int64),
    "meta": np.dtype(np.uint8),
}
_CHECKSUM = "checksum"
# IndexFlat's serialized layout: fourcc, d (int32), ntotal (int64), two unused int64,
# is_trained (uint8), metric (int32), then the vector of n*d float32 with its int64 length.
_FLAT_HEAD = struct.Struct("<4siqqqBiQ")
_FLAT_FOURCC = b"IxFI"
_METRIC_INNER_PRODUCT = 0


@dataclass
class StoreFile:
    """The decoded, checked members of a saved store."""

    header: dict[str, Any]
    index: npt.NDArray[np.uint8]
    label_to_id: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    meta: list[Any]


def encode(
    header: dict[str, Any],
    index: npt.NDArray[np.uint8],
    label_to_id: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    meta: list[dict[str, Any]],
) -> bytes:
    """The file's bytes: the members plus the checksum over all of them."""
    stamped = {**header, "format": FORMAT, "version": VERSION}
    arrays: dict[str, npt.NDArray[Any]] = {
        "header": np.frombuffer(json.dumps(stamped).encode(), np.uint8),
        "index": np.asarray(index, dtype=np.uint8),
        "label_to_id": np.asarray(label_to_id, dtype=np.int64),
        "ids": np.asarray(ids, dtype=np.int64),
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
    }
    arrays[_CHECKSUM] = np.frombuffer(_digest(arrays).encode(), np.uint8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


def decode(path: Path) -> StoreFile:
    """Read and verify a saved store; StoreError if anything is missing, altered or foreign."""
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise CollectionNotFoundError(f"{path}: no saved Faiss store there") from exc
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the Faiss store ({exc})") from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        arrays = _members(path, handle, size)
    checksum = bytes(arrays.pop(_CHECKSUM)).decode("ascii", errors="replace")
    if checksum != _digest(arrays):
        raise StoreError(f"{path}: checksum mismatch, the Faiss store file is corrupted")
    try:
        header = json.loads(bytes(arrays["header"]).decode())
        meta = json.loads(bytes(arrays["meta"]).decode())
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{path}: unreadable header or metadata ({exc})") from exc
    if not isinstance(header, dict) or not isinstance(meta, list):
        raise StoreError(f"{path}: header or metadata of the wrong type")
    return StoreFile(header, arrays["index"], arrays["label_to_id"], arrays["ids"], meta)


def check_flat_index(path: Path, raw: npt.NDArray[np.uint8], dim: int, ntotal: int) -> None:
    """Refuse a serialized flat inner-product index whose layout is not exactly as expected."""
    if raw.size < _FLAT_HEAD.size:
        raise StoreError(f"{path}: the flat index is truncated")
    head = raw[: _FLAT_HEAD.size].tobytes()
    fourcc, d, n, _, _, trained, metric, length = _FLAT_HEAD.unpack(head)
    expected = _FLAT_HEAD.size + 4 * ntotal * dim
    if (
        fourcc != _FLAT_FOURCC
        or (d, n, trained, metric) != (dim, ntotal, 1, _METRIC_INNER_PRODUCT)
        or length != ntotal * dim
        or raw.size != expected
    ):
        raise StoreError(f"{path}: the flat index does not match its header (dim, count)")


def _members(path: Path, handle: IO[bytes], size: int) -> dict[str, npt.NDArray[Any]]:
    """Every expected member, read from the zip (CRC-checked) and from its ``.npy`` header."""
    wanted = {*_MEMBERS, _CHECKSUM}
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
            names = {info.filename.removesuffix(".npy") for info in infos}
            if len(infos) != len(wanted) or names != wanted:
                raise StoreError(
                    f"{path}: not a fusionrec Faiss store (version {VERSION}): "
                    f"members {sorted(names)}"
                )
            out: dict[str, npt.NDArray[Any]] = {}
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
                    raise StoreError(f"{path}: member {info.filename} has an impossible size")
                name = info.filename.removesuffix(".npy")
                dtype = _MEMBERS.get(name, np.dtype(np.uint8))
                out[name] = _read_npy(path, name, archive.read(info), dtype)
            return out
    except StoreError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise StoreError(
            f"{path}: not a complete fusionrec Faiss store (truncated or wrong file): {exc}"
        ) from exc
    except (NotImplementedError, RuntimeError, KeyError, struct.error, OverflowError) as exc:
        raise StoreError(f"{path}: not a fusionrec Faiss store ({exc})") from exc


def _read_npy(path: Path, name: str, raw: bytes, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """One 1-D ``.npy`` member of the expected dtype whose size matches its bytes exactly."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, found = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, found = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"npy version {version}")
    except (ValueError, SyntaxError, TypeError) as exc:
        raise StoreError(f"{path}: member {name} has a bad array header ({exc})") from exc
    start = stream.tell()
    if found != dtype or len(shape) != 1 or shape[0] * dtype.itemsize != len(raw) - start:
        raise StoreError(f"{path}: member {name} is not a 1-D {dtype} array of its stored size")
    del fortran  # a 1-D array reads the same in either order
    # A read-only view of the member's bytes; callers copy what they will modify.
    out: npt.NDArray[Any] = np.frombuffer(raw, dtype=dtype, offset=start)
    return out


def _digest(arrays: dict[str, npt.NDArray[Any]]) -> str:
    """SHA-256 over every member, each prefixed by its name and length (no ambiguity)."""
    hasher = hashlib.sha256()
    for name in _MEMBERS:
        body = np.ascontiguousarray(arrays[name], dtype=_MEMBERS[name])
        hasher.update(f"{name}:{body.nbytes}:".encode())
        hasher.update(body.view(np.uint8).data)
    return hasher.hexdigest()
