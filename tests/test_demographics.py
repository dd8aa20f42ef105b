from __future__ import annotations

import numpy as np
import pytest

from fusionrec.data import AGE_BUCKETS, ML1M_OCCUPATIONS
from fusionrec.demographics import (
    normalize_age,
    normalize_gender,
    normalize_many,
    normalize_occupation,
)
from fusionrec.errors import FusionrecError, ValidationError


@pytest.mark.parametrize("bucket", AGE_BUCKETS)
def test_buckets_map_to_themselves(bucket: int) -> None:
    assert normalize_age(bucket) == bucket


@pytest.mark.parametrize(
    ("years", "bucket"),
    [(12, 1), (17, 1), (19, 18), (30, 25), (44, 35), (47, 45), (52, 50), (70, 56), ("33", 25)],
)
def test_years_map_to_buckets(years: object, bucket: int) -> None:
    assert normalize_age(years) == bucket


@pytest.mark.parametrize("age", [0, -3, 121, 30.5, "old", None, True, [25]])
def test_bad_ages_say_what_to_pass(age: object) -> None:
    with pytest.raises(ValidationError, match="age"):
        normalize_age(age)


@pytest.mark.parametrize(
    ("given", "code"), [("M", "M"), ("f", "F"), (" Female ", "F"), ("male", "M")]
)
def test_genders(given: str, code: str) -> None:
    assert normalize_gender(given) == code


@pytest.mark.parametrize("gender", ["X", "", 1, None])
def test_bad_gender(gender: object) -> None:
    with pytest.raises(ValidationError, match="'M' or 'F'"):
        normalize_gender(gender)


def test_occupation_by_id_name_and_digit_string() -> None:
    assert normalize_occupation(4, ML1M_OCCUPATIONS) == 4
    assert normalize_occupation("4", ML1M_OCCUPATIONS) == 4
    assert normalize_occupation("Programmer", ML1M_OCCUPATIONS) == 12
    assert normalize_occupation(np.int64(20), ML1M_OCCUPATIONS) == 20


@pytest.mark.parametrize("occupation", [21, -1, "astronaut", 2.5j, True])
def test_bad_occupation_names_the_range(occupation: object) -> None:
    with pytest.raises(FusionrecError, match="occupation"):
        normalize_occupation(occupation, ML1M_OCCUPATIONS)


def test_normalize_many_checks_lengths_and_converts() -> None:
    age, gender, occ = normalize_many([30, 1], ["m", "F"], [3, "writer"], ML1M_OCCUPATIONS)
    assert age.tolist() == [25, 1]
    assert gender.tolist() == ["M", "F"]
    assert occ.tolist() == [3, 20]
    with pytest.raises(ValidationError, match="differ in length"):
        normalize_many([30], ["M", "F"], [1, 2], ML1M_OCCUPATIONS)
