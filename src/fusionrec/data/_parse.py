"""Line-level parsing shared by the readers: a vectorized integer-table parser and text lines.

The integer parser has a fast path (one numpy pass over the whole buffer) that accepts regular
files (CRLF and empty lines allowed); anything else (padding, a bad field) takes the per-line
path, which either parses the quirky-but-valid file or names the offending line.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import UNKNOWN_YEAR
from fusionrec.errors import DataFormatError
from fusionrec.ids import INT64_MAX, INT64_MIN

_INT = re.compile(rb"[+-]?\d+")
_BLANK_RUNS = re.compile(rb"\n\n+")
_MAX_FAST_DIGITS = 18  # longer fields take the checked per-line path (int64 overflow)
_MAX_INT64_DIGITS = 19
_SHOWN_CHARS = 40
#: Matched against the last characters only: a regex over a whole (maybe megabyte-long)
#: field that backtracks over whitespace runs is quadratic, a hang on a crafted file.
_YEAR_SUFFIX = re.compile(r"\((\d{4})\)")


def format_error(label: str, line: int, reason: str) -> DataFormatError:
    """A DataFormatError whose message names the file, the 1-based line and the reason."""
    return DataFormatError(f"{label}, line {line}: {reason}")


def parse_int_table(
    raw: bytes, *, sep: bytes, names: tuple[str, ...], label: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Parse ``sep``-separated integer rows into an ``[n, len(names)]`` int64 array.

    Returns the values and the 1-based line number of every row (blank lines are skipped,
    CRLF and a missing final newline are accepted). Raises DataFormatError naming the line
    on a wrong field count or a non-integer field.
    """
    fast = _parse_fast(raw, sep, len(names))
    if fast is not None:
        return fast
    return _parse_slow(raw, sep, names, label)


def _parse_fast(
    raw: bytes, sep: bytes, ncols: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """One vectorized pass for regular files; None whenever the file is not regular.

    Accepted: CRLF, empty lines, a missing final newline. Anything else (padding, a
    wrong field count, a non-integer) returns None and the per-line parser takes over.
    """
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
        if b"\r" in raw:
            return None
    body = raw.rstrip(b"\n")
    if not body:
        empty = np.zeros(0, dtype=np.int64)
        return empty.reshape(0, ncols), empty
    if sep != b"\t":
        if b"\t" in body:
            return None
        body = body.replace(sep, b"\t")
    if b" " in body:
        return None
    buffer = body + b"\n"
    chars = np.frombuffer(buffer, dtype=np.uint8)
    newlines = np.flatnonzero(chars == 10)
    line_length = np.diff(newlines, prepend=-1) - 1
    line_numbers = np.flatnonzero(line_length > 0) + 1
    if len(line_numbers) < len(newlines):  # drop empty lines, keep their numbers counted
        buffer = _BLANK_RUNS.sub(b"\n", buffer).lstrip(b"\n")
        chars = np.frombuffer(buffer, dtype=np.uint8)
    boundary = np.flatnonzero((chars == 9) | (chars == 10))
    if len(boundary) != ncols * len(line_numbers):
        return None
    widths = np.diff(boundary, prepend=-1) - 1
    if widths.min() < 1 or widths.max() > _MAX_FAST_DIGITS:
        return None  # an empty field, or a number that might overflow int64
    pattern = np.full(ncols, 9, dtype=np.uint8)
    pattern[-1] = 10
    if not np.array_equal(
        chars[boundary].reshape(-1, ncols),
        np.broadcast_to(pattern, (len(line_numbers), ncols)),
    ):
        return None  # a line with the wrong number of fields
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(buffer, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if len(values) != len(boundary):
        return None  # some field was not a plain integer
    return np.asarray(values, dtype=np.int64).reshape(-1, ncols), line_numbers


def _parse_slow(
    raw: bytes, sep: bytes, names: tuple[str, ...], label: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per-line parse that accepts blank lines and padding and reports the first bad line."""
    ncols = len(names)
    separator = sep.decode("latin-1").replace("\t", "tab")
    regular = re.compile(re.escape(sep).join([rb" *([+-]?\d+) *"] * ncols) + rb"\r?")
    rows: list[list[int]] = []
    lines: list[int] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        match = regular.fullmatch(line)
        if match is not None:
            parsed = [_int64(value) for value in match.groups()]
            if None not in parsed:
                rows.append([v for v in parsed if v is not None])
                lines.append(number)
                continue
        if not line.strip():
            continue
        fields = line.rstrip(b"\r").split(sep)
        if len(fields) != ncols:
            raise format_error(
                label,
                number,
                f"expected {ncols} fields separated by {separator!r}, found {len(fields)}",
            )
        row = []
        for name, field in zip(names, fields, strict=True):
            text = field.strip()
            if not _INT.fullmatch(text):
                raise format_error(label, number, f"{name} is not an integer: {shown(text)}")
            value = _int64(text)
            if value is None:
                raise format_error(label, number, f"{name} {_number(text)} does not fit in int64")
            row.append(value)
        rows.append(row)
        lines.append(number)
    values = np.array(rows, dtype=np.int64).reshape(-1, ncols)
    return values, np.array(lines, dtype=np.int64)


def text_lines(raw: bytes) -> Iterator[tuple[int, str]]:
    """Latin-1 decoded non-blank lines with their 1-based numbers (CR and LF stripped)."""
    for number, line in enumerate(raw.decode("latin-1").split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


def parse_int(text: str, what: str, label: str, line: int) -> int:
    """``int(text)`` for a field of a text table, or DataFormatError naming the line."""
    stripped = text.strip().encode("latin-1")
    if not _INT.fullmatch(stripped):
        raise format_error(label, line, f"{what} is not an integer: {shown(stripped)}")
    value = _int64(stripped)
    if value is None:
        raise format_error(label, line, f"{what} {_number(stripped)} does not fit in int64")
    return value


def _int64(text: bytes) -> int | None:
    """The integer ``text`` (``[+-]?digits``, maybe padded) if it fits in int64, else None.

    Digits are counted before converting, so a megabyte-long field costs no quadratic
    conversion (and does not hit Python's int-string limit, a ValueError).
    """
    digits = text.strip().lstrip(b"+-").lstrip(b"0")
    if len(digits) > _MAX_INT64_DIGITS:
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def _number(text: bytes) -> str:
    """An integer field for an error message, cut to a readable length."""
    value = text.decode("latin-1").strip()
    if len(value) <= _SHOWN_CHARS:
        return value
    return f"{value[:_SHOWN_CHARS]}... ({len(value)} characters)"


def shown(text: bytes | str) -> str:
    """A field for an error message: repr'd, and cut to a readable length."""
    value = text.decode("latin-1") if isinstance(text, bytes) else text
    if len(value) <= _SHOWN_CHARS:
        return repr(value)
    return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"


def split_title(title: str) -> tuple[str, int]:
    """``"Heat (1995)"`` -> ``("Heat", 1995)``; a title without a trailing year keeps year 0."""
    body = title.rstrip()
    match = _YEAR_SUFFIX.fullmatch(body[-6:])
    if match is None:
        return title, UNKNOWN_YEAR
    return body[:-6].rstrip(), int(match.group(1))
