"""Readers for the csv MovieLens releases: ml-20m, ml-25m and ml-32m (one shared format).

``ratings.csv`` (``userId,movieId,rating,timestamp``, half stars 0.5..5.0, tens of millions of
lines) is parsed in chunks by a vectorized pass; a chunk that is not perfectly regular is parsed
line by line, which accepts it or names the bad line. ``movies.csv`` (``movieId,title,genres``,
titles with commas quoted) and ``tags.csv`` (``userId,movieId,tag,timestamp``) go through the
standard csv module. The files are UTF-8. ``links.csv`` and the ``genome-*`` files are not read.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fusionrec.data._parse import format_error, parse_int, shown, split_title
from fusionrec.data._source import Source
from fusionrec.data.tables import CSV_GENRES, Movies, Ratings
from fusionrec.ids import INT64_MAX

RATINGS_HEADER = ("userId", "movieId", "rating", "timestamp")
MOVIES_HEADER = ("movieId", "title", "genres")
TAGS_HEADER = ("userId", "movieId", "tag", "timestamp")
#: How movies.csv spells an empty genre list.
NO_GENRES = "(no genres listed)"
#: Tags kept per movie (the most applied ones); the rest are counted in the notes.
MAX_TAGS = 20

_CHUNK_BYTES = 1 << 25  # ratings.csv is parsed 32 MiB at a time: bounded temporaries
_MAX_FAST_DIGITS = 18  # longer ids take parse_int, which names an int64 overflow
_DIGITS = b"0123456789"
#: What is left of one regular ratings line ``u,m,r.f,t`` without its digits.
_SKELETON = b",,.,\n"
_TO_SPACES = bytes.maketrans(b",", b" ")  # and "." deleted: 3.5 parses as 35 tenths
_RATING = re.compile(rb" *(\d{1,3})(?:\.(\d{1,9}))? *")


@dataclass(frozen=True)
class CsvMovies:
    """movies.csv with tags.csv folded in: the table, the genre vocabulary, what was noted."""

    movies: Movies
    genres: tuple[str, ...]
    notes: tuple[str, ...]


def read_csv_ratings(source: Source) -> tuple[Ratings, npt.NDArray[np.int64]]:
    """The rating table of ``ratings.csv`` and the 1-based line number of each row."""
    label = source.label("ratings.csv")
    raw = source.read("ratings.csv")
    start = _skip_header(raw, RATINGS_HEADER, label)
    capacity = raw.count(b"\n", start) + 1
    user = np.empty(capacity, dtype=np.int64)
    movie = np.empty(capacity, dtype=np.int64)
    rating = np.empty(capacity, dtype=np.float32)
    stamp = np.empty(capacity, dtype=np.int64)
    lines = np.empty(capacity, dtype=np.int64)
    n = 0
    line = 2
    for piece in _chunks(raw, start):
        newlines = piece.count(b"\n")
        values, numbers = _parse_chunk(piece, newlines, label, line)
        rows = len(values)
        tenths = values[:, 2]
        bad = np.flatnonzero((tenths < 5) | (tenths > 50) | (tenths % 5 != 0))
        if len(bad):
            row = int(bad[0])
            raise format_error(
                label,
                int(numbers[row]),
                f"rating {tenths[row] / 10:g} is not a half star in 0.5..5.0",
            )
        user[n : n + rows] = values[:, 0]
        movie[n : n + rows] = values[:, 1]
        rating[n : n + rows] = tenths / 10
        stamp[n : n + rows] = values[:, 3]
        lines[n : n + rows] = numbers
        n += rows
        line += newlines
    ratings = Ratings(user_id=user[:n], movie_id=movie[:n], rating=rating[:n], timestamp=stamp[:n])
    return ratings, lines[:n]


def read_csv_movies(source: Source) -> CsvMovies:
    """movies.csv, with each movie's tags from tags.csv when the data set has one."""
    label = source.label("movies.csv")
    vocabulary = list(CSV_GENRES)
    known = set(vocabulary)
    seen: dict[int, int] = {}
    ids: list[int] = []
    titles: list[str] = []
    years: list[int] = []
    genre_lists: list[tuple[str, ...]] = []
    for number, row in _csv_rows(source, "movies.csv", MOVIES_HEADER):
        mid_text, full_title, genre_field = row
        mid = _int_field(mid_text, "movieId", label, number)
        if mid in seen:
            raise format_error(
                label, number, f"duplicate movie id {mid} (first on line {seen[mid]})"
            )
        seen[mid] = number
        title, year = split_title(full_title)
        genres = () if genre_field == NO_GENRES else tuple(g for g in genre_field.split("|") if g)
        for genre in genres:
            if genre not in known:
                known.add(genre)
                vocabulary.append(genre)
        ids.append(mid)
        titles.append(title)
        years.append(year)
        genre_lists.append(genres)
    extra = vocabulary[len(CSV_GENRES) :]
    notes = [f"genres beyond the csv-release list: {', '.join(extra)}"] if extra else []
    movie_ids = np.array(ids, dtype=np.int64)
    tags = np.empty(len(ids), dtype=object)
    tags.fill(())
    if source.exists("tags.csv"):
        tags, tag_notes = _read_tags(source, movie_ids)
        notes.extend(tag_notes)
    movies = Movies(
        movie_id=movie_ids,
        title=_objects(titles),
        year=np.array(years, dtype=np.int64),
        genres=_objects(genre_lists),
        tags=tags,
    )
    return CsvMovies(movies, tuple(vocabulary), tuple(notes))


def _read_tags(
    source: Source, movie_ids: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.object_], list[str]]:
    """Each movie's tags, lowercased and stripped, most applied first (ties: first seen)."""
    label = source.label("tags.csv")
    row_of = {int(m): i for i, m in enumerate(movie_ids.tolist())}
    row_of_text = {str(m): i for m, i in row_of.items()}  # the files' spelling: no int()
    counts: dict[tuple[int, str], int] = {}
    orphans = blank = 0
    for number, fields in _csv_rows(source, "tags.csv", TAGS_HEADER):
        index = row_of_text.get(fields[1])
        if index is None:
            index = row_of.get(_int_field(fields[1], "movieId", label, number))
        text = fields[2].strip().lower()
        if not text:
            blank += 1
        elif index is None:
            orphans += 1
        else:
            key = (index, text)
            counts[key] = counts.get(key, 0) + 1
    per_movie: list[list[tuple[int, int, str]]] = [[] for _ in range(len(movie_ids))]
    for order, ((index, text), count) in enumerate(counts.items()):
        per_movie[index].append((-count, order, text))
    tags = np.empty(len(movie_ids), dtype=object)
    capped = 0
    for index, entries in enumerate(per_movie):
        entries.sort()
        capped += len(entries) > MAX_TAGS
        tags[index] = tuple(text for _, _, text in entries[:MAX_TAGS])
    notes = []
    if orphans:
        notes.append(f"ignored {orphans} tags of movies missing from movies.csv in {label}")
    if blank:
        notes.append(f"ignored {blank} blank tags in {label}")
    if capped:
        notes.append(f"kept the {MAX_TAGS} most applied tags of {capped} movies with more")
    return tags, notes


def _objects(values: Sequence[object]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _int_field(text: str, what: str, label: str, line: int) -> int:
    """A plain-digit field the quick way; anything else through the checked parser."""
    if not text.isascii():  # (parse_int reads Latin-1 text; these files are UTF-8)
        raise format_error(label, line, f"{what} is not an integer: {shown(text)}")
    if text.isdigit() and len(text) <= _MAX_FAST_DIGITS:
        return int(text)
    return parse_int(text, what, label, line)


def _decode(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise format_error(label, line, f"not UTF-8 ({exc.reason})") from exc


def _csv_rows(
    source: Source, name: str, header: tuple[str, ...]
) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of every non-blank row after the checked header of a quoted csv file."""
    label = source.label(name)
    text = _decode(source.read(name), label)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader, None)
        if first is None or tuple(first) != header:
            raise format_error(label, 1, f"expected the header {','.join(header)}")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise format_error(
                    label,
                    reader.line_num,
                    f"expected {len(header)} fields separated by ',', found {len(row)}",
                )
            yield reader.line_num, row
    except csv.Error as exc:
        raise format_error(label, reader.line_num, f"bad csv quoting: {exc}") from exc


def _skip_header(raw: bytes, header: tuple[str, ...], label: str) -> int:
    """Offset just past the first line, which must be ``header``."""
    end = raw.find(b"\n")
    first = raw[: end if end >= 0 else len(raw)].rstrip(b"\r")
    if first.decode("latin-1") != ",".join(header):
        raise format_error(
            label, 1, f"expected the header {','.join(header)}, found {shown(first)}"
        )
    return end + 1 if end >= 0 else len(raw)


def _chunks(raw: bytes, start: int) -> Iterator[bytes]:
    """``raw[start:]`` in pieces of about ``_CHUNK_BYTES``, each ending at a line end."""
    pos = start
    while pos < len(raw):
        cut = raw.find(b"\n", min(pos + _CHUNK_BYTES, len(raw)) - 1)
        end = len(raw) if cut < 0 else cut + 1
        yield raw[pos:end]
        pos = end


def _parse_chunk(
    piece: bytes, newlines: int, label: str, first_line: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows ``[user, movie, rating in tenths of a star, timestamp]`` and their line numbers."""
    fast = _parse_fast(piece, newlines)
    if fast is not None:
        return fast, first_line + np.arange(len(fast), dtype=np.int64)
    return _parse_slow(piece, label, first_line)


def _parse_fast(piece: bytes, newlines: int) -> npt.NDArray[np.int64] | None:
    """One vectorized pass over a perfectly regular chunk (CRLF allowed), else None.

    Regular: every line is ``digits,digits,digits.digit,digits`` (no blank line, sign, space
    or empty field), checked with byte-level scans before numpy parses the numbers.
    """
    if b"\r" in piece:
        piece = piece.replace(b"\r\n", b"\n")
        if b"\r" in piece:
            return None
    body = piece if piece.endswith(b"\n") else piece + b"\n"
    rows = newlines + (body is not piece)
    if body.translate(None, _DIGITS) != _SKELETON * rows:
        return None  # something besides digits and the separators of four fields
    chars = np.frombuffer(body, dtype=np.uint8)
    is_sep = chars < ord("0")  # only the separators are left below the digits
    if is_sep[0] or np.any(is_sep[1:] & is_sep[:-1]):
        return None  # an empty field
    dots = np.flatnonzero(chars == ord("."))
    if np.any(chars[dots + 2] != ord(",")):
        return None  # not exactly one decimal: 3.50 and 3.05 take the checked path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(body.translate(_TO_SPACES, b"."), dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if len(values) != 4 * rows or values.max() >= INT64_MAX:
        return None  # numpy saturates what overflows: the checked path names it
    return values.reshape(-1, 4)


def _parse_slow(
    piece: bytes, label: str, first_line: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per-line parse accepting blank lines and padding; names the first bad line."""
    rows: list[tuple[int, int, int, int]] = []
    lines: list[int] = []
    for offset, text in enumerate(piece.split(b"\n")):
        number = first_line + offset
        text = text.rstrip(b"\r")
        if not text.strip():
            continue
        fields = text.decode("latin-1").split(",")
        if len(fields) != len(RATINGS_HEADER):
            raise format_error(
                label, number, f"expected 4 fields separated by ',', found {len(fields)}"
            )
        uid = parse_int(fields[0], "userId", label, number)
        mid = parse_int(fields[1], "movieId", label, number)
        tenths = _rating(fields[2], label, number)
        stamp = parse_int(fields[3], "timestamp", label, number)
        rows.append((uid, mid, tenths, stamp))
        lines.append(number)
    return np.array(rows, dtype=np.int64).reshape(-1, 4), np.array(lines, dtype=np.int64)


def _rating(text: str, label: str, line: int) -> int:
    """A rating field in tenths of a star; decimals after the first must be zeros."""
    match = _RATING.fullmatch(text.encode("latin-1"))
    decimals = (match.group(2) or b"").rstrip(b"0") if match is not None else b""
    if match is None or len(decimals) > 1:
        raise format_error(label, line, f"rating is not a half star in 0.5..5.0: {shown(text)}")
    return int(match.group(1)) * 10 + int(decimals or b"0")
