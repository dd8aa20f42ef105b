"""Where MovieLens files come from: a directory or a .zip archive (optionally with a top folder)."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path, PurePosixPath

from fusionrec.errors import DataFormatError

#: What reading a damaged archive raises: a truncated or corrupted member ends in EOFError or
#: zlib.error, an encrypted one in RuntimeError, an unknown compression in NotImplementedError.
_ZIP_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)

#: File names that identify a MovieLens directory (any one of them is enough to find it).
MARKERS = (
    "ratings.dat",
    "movies.dat",
    "users.dat",
    "u.data",
    "u.item",
    "u.user",
    "ratings.csv",
    "movies.csv",
)


class Source:
    """Read-only access to the files of one MovieLens data set, by bare file name."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        self._files: dict[str, Path] | None = None
        if self.path.is_dir():
            self._dir = _data_dir(self.path)
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self._dir = self.path
            self._open_zip()
        elif self.path.exists():
            raise DataFormatError(f"{self.path}: not a directory or a .zip archive")
        else:
            raise DataFormatError(f"{self.path}: no such file or directory")

    @classmethod
    def single_file(cls, path: str | Path, name: str, siblings: tuple[str, ...] = ()) -> Source:
        """A source exposing one file as ``name`` (plus optional ``siblings`` next to it)."""
        file = Path(path).expanduser()
        if not file.is_file():
            raise DataFormatError(f"{file}: no such file")
        source = cls.__new__(cls)
        source.path = file
        source._zip = None
        source._members = {}
        source._dir = file.parent
        source._files = {name: file}
        source._files.update({s: file.parent / s for s in siblings if (file.parent / s).is_file()})
        return source

    def _open_zip(self) -> None:
        try:
            archive = zipfile.ZipFile(self.path)
        except _ZIP_ERRORS as exc:
            raise DataFormatError(f"{self.path}: cannot open archive: {exc!r}") from exc
        names = [n for n in archive.namelist() if not n.endswith("/")]
        folders = sorted(
            {str(PurePosixPath(n).parent) for n in names if PurePosixPath(n).name in MARKERS},
            key=len,
        )
        if folders:
            prefix = folders[0]
            for name in names:
                member = PurePosixPath(name)
                if str(member.parent) == prefix:
                    self._members[member.name] = name
        self._zip = archive

    def close(self) -> None:
        """Release the archive handle (no-op for directories)."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self, name: str) -> bool:
        """Whether the data set holds a file of this bare name."""
        if self._files is not None:
            return name in self._files
        if self._zip is not None:
            return name in self._members
        return (self._dir / name).is_file()

    def label(self, name: str) -> str:
        """How error messages name the file: its path, or ``archive.zip:member``."""
        if self._files is not None and name in self._files:
            return str(self._files[name])
        if self._zip is not None:
            return f"{self.path}:{self._members.get(name, name)}"
        return str(self._dir / name)

    def read(self, name: str) -> bytes:
        """The file's bytes, or DataFormatError naming the missing path."""
        if not self.exists(name):
            raise DataFormatError(f"{self.label(name)}: required file is missing")
        try:
            if self._files is not None:
                return self._files[name].read_bytes()
            if self._zip is not None:
                return self._zip.read(self._members[name])
            return (self._dir / name).read_bytes()
        except _ZIP_ERRORS as exc:
            raise DataFormatError(f"{self.label(name)}: cannot read: {exc!r}") from exc


def _data_dir(path: Path) -> Path:
    """``path`` itself, or its single subfolder holding the files (an unpacked archive)."""
    if any((path / name).is_file() for name in MARKERS):
        return path
    candidates = [
        child
        for child in sorted(path.iterdir())
        if child.is_dir() and any((child / name).is_file() for name in MARKERS)
    ]
    return candidates[0] if len(candidates) == 1 else path
