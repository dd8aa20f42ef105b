"""The string form of filter predicates: ``parse_filter("price < 20 and in_stock = true")``.

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | condition
    condition  := FIELD ("=" | "==" | "!=" | "<" | "<=" | ">" | ">=") value
                | FIELD ["not"] "in" list
                | FIELD "contains_any" list
    list       := "[" value ("," value)* [","] "]"
    value      := "string" | 'string' | number | true | false

``id`` names the item id: ``id in [1, 2]`` and ``id = 7`` become :class:`Ids`. Strings take
backslash escapes (``\\"``, ``\\'``, ``\\\\``, ``\\n``, ``\\t``, ``\\uXXXX``). Errors are
FilterErrors that quote the text and point at the offending position. A hand-written
recursive-descent parser: nothing is evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fusionrec.errors import FilterError
from fusionrec.stores.filters import (
    And,
    ContainsAny,
    Eq,
    Ids,
    Not,
    OneOf,
    Or,
    Predicate,
    Range,
    Scalar,
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|==|!=|=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "contains_any", "true", "false"})
_MAX_LENGTH = 10_000
_MAX_DEPTH = 100


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, op, punct, word, keyword, end
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        word = match.group()
        if kind == "word" and word.lower() in _KEYWORDS:
            kind, word = "keyword", word.lower()
        if kind != "space":
            out.append(_Token(kind, word, pos))
        pos = match.end()
    out.append(_Token("end", "", len(text)))
    return out


def _error(text: str, pos: int, message: str) -> FilterError:
    return FilterError(f"filter {text!r}, position {pos}: {message}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def fail(self, message: str, token: _Token | None = None) -> FilterError:
        token = token or self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return _error(self.text, token.pos, f"{message}, found {found}")

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.at += 1
            return token
        return None

    def expect(self, kind: str, text: str, what: str) -> None:
        if self.accept(kind, text) is None:
            raise self.fail(f"expected {what}")

    def parse(self) -> Predicate:
        if self.token.kind == "end":
            raise self.fail("expected a condition")
        out = self.expr()
        if self.token.kind != "end":
            raise self.fail("expected 'and', 'or' or the end")
        return out

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.accept("keyword", "or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(*parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.accept("keyword", "and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(*parts)

    def factor(self) -> Predicate:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(f"nested deeper than {_MAX_DEPTH}")
        try:
            if self.accept("keyword", "not"):
                return Not(self.factor())
            if self.accept("punct", "("):
                inner = self.expr()
                self.expect("punct", ")", "')'")
                return inner
            return self.condition()
        finally:
            self.depth -= 1

    def condition(self) -> Predicate:
        name = self.accept("word")
        if name is None:
            raise self.fail("expected a field name, 'not' or '('")
        field = name.text
        op = self.token
        try:
            if self.accept("keyword", "not"):
                self.expect("keyword", "in", "'in' after 'not'")
                return Not(self.membership(field))
            if self.accept("keyword", "in"):
                return self.membership(field)
            if self.accept("keyword", "contains_any"):
                return ContainsAny(field, self.values())  # type: ignore[arg-type]
            if self.accept("op"):
                return self.comparison(field, op.text)
        except FilterError as exc:
            if str(exc).startswith(f"filter {self.text!r}"):
                raise
            raise _error(self.text, op.pos, str(exc)) from exc
        raise self.fail(f"expected an operator after {field!r}")

    def membership(self, field: str) -> Predicate:
        values = self.values()
        if field == "id":
            return Ids(values)  # type: ignore[arg-type]
        return OneOf(field, values)

    def comparison(self, field: str, op: str) -> Predicate:
        value = self.value()
        if op in ("=", "=="):
            return Ids([value]) if field == "id" else Eq(field, value)  # type: ignore[list-item]
        if op == "!=":
            return Not(Ids([value]) if field == "id" else Eq(field, value))  # type: ignore[list-item]
        if isinstance(value, (str, bool)):
            raise FilterError(f"{op} needs a number, got {value!r}")
        if op == "<":
            return Range(field, hi=value, include_hi=False)
        if op == "<=":
            return Range(field, hi=value)
        if op == ">":
            return Range(field, lo=value, include_lo=False)
        return Range(field, lo=value)

    def values(self) -> list[Scalar]:
        self.expect("punct", "[", "'['")
        out = [self.value()]
        while self.accept("punct", ","):
            if self.token.kind == "punct" and self.token.text == "]":
                break
            out.append(self.value())
        self.expect("punct", "]", "',' or ']'")
        return out

    def value(self) -> Scalar:
        token = self.token
        if self.accept("string"):
            return _unquote(self.text, token)
        if self.accept("number"):
            text = token.text
            if len(text) > 400:  # int() refuses over 4300 digits; no int64 needs 20
                raise self.fail("number too long", token)
            if re.fullmatch(r"[-+]?\d+", text):
                return int(text)
            return float(text)
        if self.accept("keyword", "true"):
            return True
        if self.accept("keyword", "false"):
            return False
        raise self.fail("expected a value (a quoted string, a number, true or false)")


def _unquote(text: str, token: _Token) -> str:
    body = token.text[1:-1]
    # to JSON's quoting: \' is ', and a bare " (only in single quotes) needs escaping
    body = re.sub(r"\\(.)|\"", _requote, body, flags=re.DOTALL)
    try:
        value = json.loads(f'"{body}"')
    except ValueError as exc:
        raise _error(text, token.pos, f"bad escape in string {token.text}") from exc
    if not isinstance(value, str):  # pragma: no cover - json of a quoted body is a str
        raise _error(text, token.pos, "not a string")
    return value


def _requote(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if escaped is None:
        return '\\"'
    return "'" if escaped == "'" else match.group()


def parse_filter(text: str) -> Predicate:
    """Parse the string form of a filter into a predicate (see the module docstring)."""
    if not isinstance(text, str):
        raise FilterError(f"a filter string must be a str, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise FilterError(f"a filter string is at most {_MAX_LENGTH} characters")
    return _Parser(text).parse()
