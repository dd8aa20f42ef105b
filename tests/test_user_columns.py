"""New users' columns: one user's demographics normalize as a batch's do, with its errors."""

from __future__ import annotations

import pytest

from fusionrec.errors import ValidationError
from fusionrec.user_columns import demographics

OCCUPATIONS = ("other", "academic/educator", "artist", "writer")
NAMES = ("age", "gender", "occupation")


@pytest.mark.parametrize(
    ("age", "gender", "occupation"),
    [(1, "f", 0), (17, "M", "writer"), (18, "female", "3"), (56, "male", 2), ("120", "F", 1)],
)
def test_one_user_to_encode_matches_the_batch_arrays(
    age: object, gender: object, occupation: object
) -> None:
    given = {"age": [age], "gender": [gender], "occupation": [occupation]}
    one = demographics(given, OCCUPATIONS, NAMES, to_encode=True)
    batch = demographics(given, OCCUPATIONS, NAMES)
    assert {k: list(v) for k, v in one.items()} == {k: batch[k].tolist() for k in batch}
    assert all(type(v[0]) in (int, str) for v in one.values())


@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [
        ("age", 0, "age 0 is not valid"),
        ("gender", "x", "gender must be"),
        ("occupation", 9, "occupation 9 is out of range"),
    ],
)
def test_one_user_errors_are_the_batch_errors(column: str, bad: object, message: str) -> None:
    given: dict[str, list[object]] = {"age": [25], "gender": ["F"], "occupation": [1]}
    given[column] = [bad]
    with pytest.raises(ValidationError, match=message) as batch:
        demographics(given, OCCUPATIONS, NAMES)
    with pytest.raises(ValidationError) as one:
        demographics(given, OCCUPATIONS, NAMES, to_encode=True)
    assert str(one.value) == str(batch.value)
