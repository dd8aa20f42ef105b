"""Filter predicates: construction checks, type checks against fields, combinators."""

from __future__ import annotations

import math

import pytest

from fusionrec.errors import FilterError
from fusionrec.stores import (
    And,
    ContainsAny,
    Eq,
    Filter,
    Ids,
    MetadataField,
    Not,
    OneOf,
    Or,
    Range,
)
from fusionrec.testing import PRODUCT_FIELDS

FIELDS = {f.name: f for f in PRODUCT_FIELDS}
ITEM = {
    "sku_name": "drill",
    "brand": "acme",
    "category": ["tools", "sale"],
    "price": 19.5,
    "stock": 3,
    "in_stock": True,
}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: OneOf("brand", []), "empty"),
        (lambda: OneOf("brand", "acme"), "list of values"),
        (lambda: ContainsAny("category", [""]), "non-empty str"),
        (lambda: ContainsAny("category", [3]), "non-empty str"),
        (lambda: Range("price"), "lo, hi or both"),
        (lambda: Range("price", 5, 2), "lo > hi"),
        (lambda: Range("price", "1"), "numbers"),
        (lambda: Range("price", True), "numbers"),
        (lambda: Eq("price", math.nan), "finite"),
        (lambda: Eq("brand", "a\nb"), "control"),
        (lambda: Eq("brand", None), "str, int, float or bool"),
        (lambda: Eq("", 1), "non-empty string"),
        (lambda: Eq("stock", 2**64), "int64"),
        (lambda: Ids([1, "2"]), "integer"),
        (lambda: And(), "at least one"),
        (lambda: And(Eq("a", 1), "b = 2"), "takes predicates"),
    ],
)
def test_invalid_predicates_raise(build: object, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        build()  # type: ignore[operator]


def test_reference_semantics() -> None:
    assert Eq("brand", "acme").matches(1, ITEM)
    assert not Eq("in_stock", False).matches(1, ITEM)
    assert OneOf("stock", [1, 3]).matches(1, ITEM)
    assert Range("price", hi=20, include_hi=False).matches(1, ITEM)
    assert not Range("price", hi=19.5, include_hi=False).matches(1, ITEM)
    assert Range("price", lo=19.5).matches(1, ITEM)
    assert not Range("price", lo=19.5, include_lo=False).matches(1, ITEM)
    assert ContainsAny("category", ["garden", "sale"]).matches(1, ITEM)
    assert not ContainsAny("category", ["garden"]).matches(1, ITEM)
    assert Ids([1, 2]).matches(1, ITEM) and not Ids([]).matches(1, ITEM)
    assert (Eq("brand", "x") | Eq("stock", 3)).matches(1, ITEM)
    assert not (Eq("brand", "x") & Eq("stock", 3)).matches(1, ITEM)
    assert (~Eq("brand", "x")).matches(1, ITEM)


def test_operators_build_combinators_and_values_compare() -> None:
    a, b = Eq("brand", "acme"), Range("price", hi=3)
    assert a & b == And(a, b) and a | b == Or(a, b) and ~a == Not(a)
    assert And([a, b]) == And(a, b)
    assert hash(OneOf("brand", ["a", "b", "a"])) == hash(OneOf("brand", ("a", "b")))
    assert OneOf("brand", ["a", "b", "a"]).values == ("a", "b")


@pytest.mark.parametrize(
    ("predicate", "message"),
    [
        (Eq("colour", "red"), "unknown field 'colour'"),
        (Eq("price", "cheap"), "price"),
        (Eq("stock", 1.5), "stock"),
        (Eq("stock", True), "stock"),
        (Eq("in_stock", 1), "in_stock"),
        (OneOf("brand", ["acme", 3]), "brand"),
        (Eq("category", "tools"), "contains_any"),
        (OneOf("category", ["tools"]), "contains_any"),
        (ContainsAny("brand", ["acme"]), "needs a list"),
        (Range("brand", lo=1), "int or float"),
        (Range("in_stock", lo=0), "int or float"),
        (Not(Or(Eq("brand", "a"), Eq("nope", 1))), "unknown field 'nope'"),
    ],
)
def test_check_against_fields(predicate: object, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        predicate.check(FIELDS)  # type: ignore[attr-defined]


def test_numbers_fit_float_fields_and_ints_fit_int_fields() -> None:
    Eq("price", 3).check(FIELDS)
    OneOf("price", [3, 4.5]).check(FIELDS)
    Range("stock", lo=1.5).check(FIELDS)
    Eq("stock", 3).check(FIELDS)
    Ids([1]).check({})


def test_core_form_drops_empty_conditions() -> None:
    assert Filter().core() is None
    assert And(Filter(), Eq("brand", "a")).core() == Eq("brand", "a")
    assert Or(Filter(), Eq("brand", "a")).core() is None
    assert Not(Filter()).core() == Ids(())
    movie = Filter(genres_any=["Drama"], year_between=(1990, 1999), ids=[1])
    assert movie.core() == And(
        ContainsAny("genres", ["Drama"]), Range("year", 1990, 1999), Ids([1])
    )
    assert Filter(genres_any=["Drama"]).core() == ContainsAny("genres", ["Drama"])


def test_filter_is_checked_against_movie_fields_only() -> None:
    with pytest.raises(FilterError, match="unknown field 'genres'"):
        Filter(genres_any=["Drama"]).check(FIELDS)
    Filter(genres_any=["Drama"]).check(
        {"genres": MetadataField("genres", "list[str]"), "year": MetadataField("year", "int")}
    )
    assert str(Filter(year_between=(1990, 1999))) == "year >= 1990 and year <= 1999"
    assert str(Filter()) == ""
