"""Validate and normalize the demographics that describe a user: age, gender, occupation.

The reference workflow recommends for a new user given as ``-a AGE -g GENDER -j JOB``; these
functions turn what a person types (an age in years or an ml-1m bucket, "m"/"F", an
occupation id or name) into the integer codes the feature encoder expects, or raise a
:class:`~fusionrec.errors.ValidationError` that says what to pass instead.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import AGE_BUCKETS, age_to_bucket
from fusionrec.errors import ValidationError

_GENDERS = {"m": "M", "male": "M", "f": "F", "female": "F"}
MAX_AGE_YEARS = 120


def normalize_age(age: object) -> int:
    """An ml-1m age bucket from a bucket or an age in years (buckets map to themselves).

    :func:`~fusionrec.data.tables.age_to_bucket` for one age, by bisection in Python: one new
    user is served per call, where numpy's fixed cost per call would dominate.
    """
    return AGE_BUCKETS[bisect_right(AGE_BUCKETS, _age_years(age)) - 1]  # ages are >= 1


def _age_years(age: object) -> int:
    """A valid age in years (or bucket) as an int; ValidationError says what to pass."""
    if isinstance(age, bool) or not isinstance(age, (int, np.integer, float, np.floating, str)):
        raise ValidationError(f"age must be a number, got {age!r}")
    try:
        years = float(age)
    except ValueError:
        raise ValidationError(f"age must be a number, got {age!r}") from None
    if not years.is_integer() or not 1 <= years <= MAX_AGE_YEARS:
        raise ValidationError(
            f"age {age!r} is not valid: pass an age in years (1-{MAX_AGE_YEARS}) "
            f"or an ml-1m age bucket {list(AGE_BUCKETS)}"
        )
    return int(years)


def normalize_gender(gender: object) -> str:
    """``"M"`` or ``"F"`` from any capitalization of M/F/male/female."""
    key = str(gender).strip().lower() if isinstance(gender, str) else None
    if key not in _GENDERS:
        raise ValidationError(f"gender must be 'M' or 'F', got {gender!r}")
    return _GENDERS[key]


def normalize_occupation(occupation: object, occupations: Sequence[str]) -> int:
    """An occupation id from an id in ``range(len(occupations))`` or a name (case-insensitive)."""
    n = len(occupations)
    if isinstance(occupation, str) and not occupation.strip().lstrip("-").isdigit():
        names = {name.lower(): i for i, name in enumerate(occupations)}
        found = names.get(occupation.strip().lower())
        if found is None:
            raise ValidationError(
                f"unknown occupation {occupation!r}: "
                f"pass an id 0-{n - 1} or one of {list(occupations)}"
            )
        return found
    if isinstance(occupation, str):
        code = int(occupation.strip())
    elif isinstance(occupation, (int, np.integer)) and not isinstance(occupation, bool):
        code = int(occupation)
    else:
        raise ValidationError(f"occupation must be an id or a name, got {occupation!r}")
    if n == 0:
        raise ValidationError(f"occupation {occupation!r}: this model knows no occupations")
    if not 0 <= code < n:
        raise ValidationError(
            f"occupation {occupation!r} is out of range: pass an id 0-{n - 1} or a name "
            f"such as {occupations[0]!r}"
        )
    return code


def normalize_many(
    ages: Sequence[object],
    genders: Sequence[object],
    occupations: Sequence[object],
    occupation_names: Sequence[str],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_], npt.NDArray[np.int64]]:
    """Vectors of buckets, genders and occupation ids for a batch of new users."""
    if not len(ages) == len(genders) == len(occupations):
        raise ValidationError(
            f"ages, genders and occupations differ in length: "
            f"{len(ages)}, {len(genders)}, {len(occupations)}"
        )
    age = age_to_bucket([_age_years(a) for a in ages])  # one vectorized bucketing per batch
    gender = np.array([normalize_gender(g) for g in genders], dtype="<U1")
    occ = np.array([normalize_occupation(o, occupation_names) for o in occupations], dtype=np.int64)
    return age, gender, occ
