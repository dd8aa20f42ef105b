"""New users' feature columns: from a Table or mapping, keyword features and MovieLens demographics.

The facade encodes a new user from these columns; a feature the caller leaves out is None
(encoded as unknown), and MovieLens ages, genders and occupations are normalized as in training.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fusionrec.data.dataset import EntityIds, Table
from fusionrec.demographics import (
    normalize_age,
    normalize_gender,
    normalize_many,
    normalize_occupation,
)
from fusionrec.errors import ValidationError
from fusionrec.features import FeatureEncoder

#: The MovieLens demographics a new user gives together (normalized like the training data).
DEMOGRAPHICS = ("age", "gender", "occupation")


def user_columns(
    users: Table | Mapping[str, Sequence[Any]] | None,
    ages: Sequence[int | None] | None,
    genders: Sequence[str | None] | None,
    occupations: Sequence[int | str | None] | None,
) -> dict[str, Sequence[Any]] | None:
    """New users' feature columns from ``users`` and the MovieLens shorthand arguments."""
    if isinstance(users, Table):
        columns: dict[str, Any] = dict(users.columns.items())
    elif users is None:
        columns = {}
    elif isinstance(users, Mapping):
        columns = dict(users)
    else:
        raise ValidationError(f"users must be a Table or a mapping, got {type(users).__name__}")
    shorthand = {"age": ages, "gender": genders, "occupation": occupations}
    if any(v is not None for v in shorthand.values()):
        for name, values in shorthand.items():
            columns[name] = values if values is not None else [None] * _rows(shorthand)
    return columns or None


def _rows(columns: Mapping[str, Sequence[Any] | None]) -> int:
    return max(len(v) for v in columns.values() if v is not None)


def user_feature_names(encoder: FeatureEncoder) -> list[str]:
    """The user features a caller may give (every user feature but the id)."""
    return [f.name for f in encoder.schema.user if not f.is_id]


def demographics(
    given: Mapping[str, list[Any]],
    occupations: Sequence[str],
    feature_names: Sequence[str],
    *,
    to_encode: bool = False,
) -> dict[str, Any]:
    """MovieLens ages, genders and occupations (names or ids) normalized as in training.

    The columns are arrays, as a user table holds them; ``to_encode``: they only go to the
    encoder, so one user's are plain lists (no arrays to build on the serving path).
    """
    if not {"gender", "age", "occupation"} & set(feature_names):
        raise ValidationError(
            "this model's users have no demographic features (e.g. trained on ml-25m): "
            "pass the id of a user from the training data"
        )
    columns = [given.get(name) for name in DEMOGRAPHICS]
    if any(c is None for c in columns) or any(v is None for c in columns for v in c or []):
        raise ValidationError(
            "a new user needs all of age=, gender= and occupation= "
            "(e.g. age=25, gender='F', occupation=4)"
        )
    if to_encode and all(len(c) == 1 for c in columns if c is not None):
        (age,), (gender,), (occupation,) = given["age"], given["gender"], given["occupation"]
        return {
            "age": [normalize_age(age)],
            "gender": [normalize_gender(gender)],
            "occupation": [normalize_occupation(occupation, occupations)],
        }
    ages, genders, occs = normalize_many(
        given["age"], given["gender"], given["occupation"], occupations
    )
    return {"age": ages, "gender": genders, "occupation": occs}


class NewUserColumns:
    """Builds new users' feature columns for one encoder and user table, names worked out once.

    Serving one new user runs this on every call, so the schema's names, the id feature and
    the columns a caller may give are looked up when the encoder or the users change, not
    per call.
    """

    def __init__(
        self,
        encoder: FeatureEncoder,
        known_columns: Iterable[str],
        occupations: Sequence[str] | None,
    ) -> None:
        self.encoder = encoder
        self.feature_names = user_feature_names(encoder)
        self._allowed = frozenset(self.feature_names) | frozenset(known_columns)
        self._names = tuple(f.name for f in encoder.schema.user)
        id_feature = encoder.schema.id_of("user")
        self._id_name = None if id_feature is None else id_feature.name
        self._occupations = occupations
        self._demographic = not set(self.feature_names).isdisjoint(DEMOGRAPHICS)

    def check(self, columns: Iterable[str]) -> None:
        """Raise ValidationError naming any column that is no user feature of this model."""
        unknown = sorted(set(columns) - self._allowed)
        if unknown:
            raise ValidationError(
                f"unknown user feature(s) {unknown}; this model's user features are "
                f"{self.feature_names}"
            )

    def build(self, columns: Mapping[str, Sequence[Any]], ids: EntityIds | None) -> dict[str, Any]:
        """Every user feature's column for new users: the given ones, the rest None.

        ``ids`` (when given) fill the id feature; for a MovieLens model the demographics are
        normalized. The given columns must be one length, and match the ids.
        """
        given = {name: list(values) for name, values in columns.items()}
        lengths = {len(v) for v in given.values()}
        if len(lengths) != 1:
            raise ValidationError(f"the user feature columns differ in length: {sorted(lengths)}")
        n = lengths.pop()
        if ids is not None and len(ids) != n:
            raise ValidationError(f"{len(ids)} user ids but {n} users' features were given")
        if self._occupations is not None and not given.keys().isdisjoint(DEMOGRAPHICS):
            given.update(demographics(given, self._occupations, self.feature_names, to_encode=True))
        table: dict[str, Any] = {name: [None] * n for name in self._names if name not in given}
        table.update(given)
        if ids is not None and self._id_name is not None:
            table[self._id_name] = ids
        return table

    def one(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """One new user's feature values (keywords, one value each): :meth:`build`'s row.

        Checked like :meth:`build`'s columns (same errors); a MovieLens model's demographics
        come back normalized. A feature not given is absent (read as None).
        """
        if not self._allowed.issuperset(values):
            self.check(values)  # raises, naming the unknown ones
        occupations = self._occupations
        if occupations is None or values.keys().isdisjoint(DEMOGRAPHICS):
            return values
        age, gender, occupation = values.get("age"), values.get("gender"), values.get("occupation")
        if not self._demographic or age is None or gender is None or occupation is None:
            given = {name: [value] for name, value in values.items()}
            demographics(given, occupations, self.feature_names, to_encode=True)  # raises
        return {
            **values,
            "age": normalize_age(age),
            "gender": normalize_gender(gender),
            "occupation": normalize_occupation(occupation, occupations),
        }
