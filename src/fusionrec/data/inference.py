"""A schema guessed from a data set's columns, and printed as code to copy and adjust.

:func:`infer_schema` picks a feature kind per column from its values (the rules are in its
docstring); :func:`schema_source` prints a schema as the Python expression that builds it,
so a user can start from the guess and change a kind, a size or an option.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec.data.dataset import Dataset, Table
from fusionrec.errors import ValidationError
from fusionrec.features.categorical import Categorical
from fusionrec.features.kind import RESERVED_NAMES, Feature
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.numeric import Numeric
from fusionrec.features.schema import SIDES, Schema
from fusionrec.features.text import Text

__all__ = [
    "CATEGORICAL_MAX_INTS",
    "TEXT_MIN_WORDS",
    "SkippedColumnWarning",
    "infer_schema",
    "schema_source",
]

#: an integer column with at most this many distinct values is a Categorical, else Numeric
CATEGORICAL_MAX_INTS = 50
#: a string column whose median value has at least this many words is a Text
TEXT_MIN_WORDS = 3

_WORD = re.compile(r"\w+")


class SkippedColumnWarning(UserWarning):
    """:func:`infer_schema` left a column out of the schema; the message says why."""


def _median_words(values: list[Any]) -> float:
    return float(np.median([len(_WORD.findall(v)) for v in values])) if values else 0.0


def _feature(name: str, values: npt.NDArray[Any]) -> Feature | str:
    """The feature kind of one column, or why it has none."""
    if values.dtype.kind == "b":
        return Categorical(name, dim=8, fc=8)
    if values.dtype.kind in "iu":
        if len(np.unique(values)) <= CATEGORICAL_MAX_INTS:
            return Categorical(name)
        return Numeric(name)
    if values.dtype.kind == "f":
        return Numeric(name)
    if values.dtype != np.object_:
        return f"its dtype {values.dtype} has no feature kind"
    present = [v for v in values.tolist() if v is not None and v != ()]
    if not present:
        return "it has no values"
    if all(isinstance(v, tuple | list) for v in values.tolist() if v is not None):
        return MultiCategorical(name)
    if all(isinstance(v, bool) for v in present):
        return Categorical(name, dim=8, fc=8)
    if all(isinstance(v, str) for v in present):
        if _median_words(present) >= TEXT_MIN_WORDS:
            return Text(name)
        return Categorical(name)
    return "its values are of several types"


def _side(table: Table, side: str) -> tuple[Feature, ...]:
    features: list[Feature] = [Categorical(table.id_name, dim=32, fc=32, id=True)]
    for name, values in table.columns.items():
        if not name.isidentifier() or name in RESERVED_NAMES:
            why: Feature | str = "its name is not a Python identifier (or is reserved)"
        else:
            why = _feature(name, values)
        if isinstance(why, str):
            warnings.warn(
                f"infer_schema: {side} column {name!r} is not a feature: {why}",
                SkippedColumnWarning,
                stacklevel=3,
            )
        else:
            features.append(why)
    return tuple(features)


def infer_schema(dataset: Dataset) -> Schema:
    """A schema for ``dataset``'s users and items, one feature per usable column.

    Rules, per column of the users and items tables:

    * the side's id column: ``Categorical(id=True, dim=32, fc=32)``;
    * booleans: ``Categorical(dim=8, fc=8)`` (the categories "false" and "true");
    * integers with at most :data:`CATEGORICAL_MAX_INTS` distinct values (codes, buckets):
      ``Categorical``; more (counts, years spread wide): ``Numeric``;
    * floats (prices, scores; missing values allowed): ``Numeric``;
    * lists (tags, categories): ``MultiCategorical``;
    * strings whose median value has at least :data:`TEXT_MIN_WORDS` words (titles,
      descriptions): ``Text``; other strings (countries, brands, codes): ``Categorical``.

    A column without values, of mixed types, or whose name is not a Python identifier is left
    out with a :class:`SkippedColumnWarning`. Sizes are the kinds' defaults; print the result
    with :func:`schema_source` to adjust it.
    """
    if not isinstance(dataset, Dataset):
        raise ValidationError(f"infer_schema needs a Dataset, got {type(dataset).__name__}")
    return Schema(user=_side(dataset.users, "user"), item=_side(dataset.items, "item"))


def _literal(value: Any) -> str:
    """A value as Python source, strings in double quotes (as a formatter would write them)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _call(feature: Feature) -> str:
    """``Kind("name", option=value, ...)`` with the options that differ from the defaults."""
    args = [_literal(feature.name)]
    for field in dataclasses.fields(feature):
        if field.name == "name":
            continue
        value = getattr(feature, field.name)
        if field.default is dataclasses.MISSING or value != field.default:
            args.append(f"{field.name}={_literal(value)}")
    return f"{type(feature).__name__}({', '.join(args)})"


def schema_source(schema: Schema) -> str:
    """``schema`` as a Python expression that rebuilds it, one feature a line, to copy and edit.

    It names :class:`Schema` and the kinds as :mod:`fusionrec.features` exports them
    (``from fusionrec.features import Categorical, MultiCategorical, Numeric, Schema, Text``);
    options at their defaults are left out.
    """
    if not isinstance(schema, Schema):
        raise ValidationError(f"schema_source needs a Schema, got {type(schema).__name__}")
    lines = ["Schema("]
    for side in SIDES:
        lines.append(f"    {side}=(")
        lines.extend(f"        {_call(f)}," for f in schema.side(side))
        lines.append("    ),")
    lines.append(")")
    return "\n".join(lines)
