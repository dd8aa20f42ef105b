"""The string form of filters: what it parses to, its errors, and str() round trips."""

from __future__ import annotations

import pytest

from fusionrec.errors import FilterError
from fusionrec.stores import And, ContainsAny, Eq, Ids, Not, OneOf, Or, Range, parse_filter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("price < 20", Range("price", hi=20, include_hi=False)),
        ("price <= 20.5", Range("price", hi=20.5)),
        ("stock > -3", Range("stock", lo=-3, include_lo=False)),
        ("stock >= 1e3", Range("stock", lo=1000.0)),
        ("brand = 'acme'", Eq("brand", "acme")),
        ('brand == "acme"', Eq("brand", "acme")),
        ("in_stock = TRUE", Eq("in_stock", True)),
        ("brand != 'x'", Not(Eq("brand", "x"))),
        ("stock in [1, 2, 3,]", OneOf("stock", [1, 2, 3])),
        ("brand not in ['a']", Not(OneOf("brand", ["a"]))),
        ("category contains_any ['tools']", ContainsAny("category", ["tools"])),
        ("id in [3, 4]", Ids([3, 4])),
        ("id = 3", Ids([3])),
        ("id != 3", Not(Ids([3]))),
        (
            "a = 1 or b = 2 and not c = 3",
            Or(Eq("a", 1), And(Eq("b", 2), Not(Eq("c", 3)))),
        ),
        ("(a = 1 OR b = 2) And c = 3", And(Or(Eq("a", 1), Eq("b", 2)), Eq("c", 3))),
        ("not not a = 1", Not(Not(Eq("a", 1)))),
        (r"name = 'O\'Neil \"q\" \\ \u00e9'", Eq("name", 'O\'Neil "q" \\ é')),
        (r'name = "it\'s"', Eq("name", "it's")),
    ],
)
def test_parses(text: str, expected: object) -> None:
    parsed = parse_filter(text)
    assert parsed == expected
    assert parse_filter(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "position 0: expected a condition"),
        ("price <", "position 7: expected a value"),
        ("price < 'x'", "position 6: < needs a number"),
        ("price ~ 2", "position 6: unexpected character '~'"),
        ("(a = 1", "position 6: expected ')'"),
        ("a = 1 b = 2", "position 6: expected 'and', 'or' or the end"),
        ("a in 1", "position 5: expected '['"),
        ("a in [1 2]", "position 8: expected ',' or ']'"),
        ("a in []", "position 6: expected a value"),
        ("a contains_any [1]", "position 2: ContainsAny('a') holds 1"),
        ("= 3", "position 0: expected a field name"),
        ("a", "position 1: expected an operator after 'a'"),
        ("a not = 1", "position 6: expected 'in' after 'not'"),
        ("a = 'unterminated", "unexpected character"),
        ("a = 'bad \\x'", "bad escape"),
        ("id in ['x']", "position 3: ids holds 'x'"),
        ("a = 1 and " * 60 + "a = 1", None),
        ("not " * 200 + "a = 1", "nested deeper than 100"),
        ("a = " + "9" * 5000, "position 4: number too long"),
        ("a = 1e999", "position 2: Eq('a') holds inf"),
    ],
)
def test_errors_point_at_the_position(text: str, fragment: str | None) -> None:
    if fragment is None:  # long but flat is fine
        assert isinstance(parse_filter(text), And)
        return
    with pytest.raises(FilterError, match=r"filter .*position") as info:
        parse_filter(text)
    assert fragment in str(info.value)


def test_non_strings_and_huge_strings_are_refused() -> None:
    with pytest.raises(FilterError, match="must be a str"):
        parse_filter(3)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="at most"):
        parse_filter("a = 1 or " * 2000 + "a = 1")


def test_str_round_trips_combinations() -> None:
    flt = (Range("price", 1, 5) | ~ContainsAny("c", ["x y", "z"])) & Eq("in_stock", False)
    again = parse_filter(str(flt))
    item = {"price": 3.0, "c": ["z"], "in_stock": False}
    for price in (0.5, 3.0, 6.0):
        for cats in ([], ["z"], ["q"]):
            probe = {**item, "price": price, "c": cats}
            assert again.matches(1, probe) == flt.matches(1, probe)
