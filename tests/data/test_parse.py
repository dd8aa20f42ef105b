"""The vectorized integer-table parser agrees with the per-line one on quirky, valid input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusionrec.data._parse import _parse_fast, _parse_slow, parse_int_table
from fusionrec.errors import DataFormatError

NAMES = ("user id", "movie id", "rating", "timestamp")


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, bytes, list[list[int]]]:
    sep = draw(st.sampled_from([b"::", b"\t"]))
    rows = draw(st.lists(st.lists(st.integers(0, 2**40), min_size=4, max_size=4), max_size=12))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines = [sep.join(str(v).encode() for v in row) for row in rows]
    out: list[bytes] = []
    for line in lines:
        out.extend([b""] * draw(st.integers(0, 2)))
        out.append(line)
    text = newline.join(out)
    if draw(st.booleans()):
        text += newline * draw(st.integers(1, 3))
    return text, sep, rows


@settings(max_examples=150, deadline=None)
@given(case=files())
def test_fast_path_matches_slow_path(case: tuple[bytes, bytes, list[list[int]]]) -> None:
    raw, sep, rows = case
    slow_values, slow_lines = _parse_slow(raw, sep, NAMES, "f")
    fast = _parse_fast(raw, sep, 4)
    assert fast is not None  # these files are regular enough for the fast path
    assert fast[0].tolist() == slow_values.tolist() == rows
    assert fast[1].tolist() == slow_lines.tolist()
    lines = raw.decode().replace("\r\n", "\n").split("\n")
    for row, number in zip(rows, slow_lines.tolist(), strict=True):
        assert lines[number - 1].replace("::", "\t").split("\t") == [str(v) for v in row]


@pytest.mark.parametrize(
    ("raw", "line", "words"),
    [
        (b"1\t2\t3\t4\n1\t2\t3\n", 2, "expected 4 fields separated by 'tab', found 3"),
        (b"1\t2\t3\t4\n\n\n1\t2\t\t4\n", 4, "rating is not an integer: ''"),
        (b"1\t2\t3\t4\r\n1\t2\t3\t4\t\r\n", 2, "expected 4 fields separated by 'tab', found 5"),
        (b"1\t2\t3\t4\n1\t2e3\t3\t4", 2, "movie id is not an integer: '2e3'"),
        (b"1\t2\t3\t4\n1\t2\t3\t1_000\n", 2, "timestamp is not an integer: '1_000'"),
        (
            b"1\t2\t3\t99999999999999999999\n",
            1,
            "timestamp 99999999999999999999 does not fit in int64",
        ),
    ],
)
def test_bad_lines_are_located(raw: bytes, line: int, words: str) -> None:
    with pytest.raises(DataFormatError) as info:
        parse_int_table(raw, sep=b"\t", names=NAMES, label="u.data")
    assert str(info.value) == f"u.data, line {line}: {words}"


def test_padding_takes_the_slow_path() -> None:
    values, lines = parse_int_table(b" 1 \t2\t3\t4\r\n", sep=b"\t", names=NAMES, label="f")
    assert values.tolist() == [[1, 2, 3, 4]] and lines.tolist() == [1]
    assert values.dtype == np.int64


def test_long_numbers_that_fit_are_exact() -> None:
    big = 2**63 - 1
    values, _ = parse_int_table(f"1\t2\t3\t{big}\n".encode(), sep=b"\t", names=NAMES, label="f")
    assert values.tolist() == [[1, 2, 3, big]]
