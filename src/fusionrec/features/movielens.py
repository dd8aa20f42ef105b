"""MovieLens as a schema: the book's user and movie features, with the book's sizes, and
the features of the csv releases, which have no user demographics.

Besides the feature kinds, the only module that names MovieLens fields. The presets of
:class:`~fusionrec.config.ModelConfig` are expressed against this schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fusionrec.data.tables import MovieLens
from fusionrec.features.categorical import Categorical
from fusionrec.features.kind import Feature
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.schema import Schema
from fusionrec.features.text import Text


def movielens_schema(
    user_extra: Sequence[Feature] = (), item_extra: Sequence[Feature] = ()
) -> Schema:
    """The book's features: user id, gender, age, occupation; movie id, genres, title.

    ``user_extra`` and ``item_extra`` append features read from further table columns
    (e.g. ``Categorical("zip_code", prefix=1)``, ``Numeric("year")``).
    """
    return Schema(
        user=(
            Categorical("user_id", dim=32, fc=32, id=True),
            Categorical("gender", dim=16, fc=16),
            Categorical("age", dim=16, fc=16),
            Categorical("occupation", dim=16, fc=16),
            *user_extra,
        ),
        item=(
            Categorical("movie_id", dim=32, fc=32, id=True),
            MultiCategorical("genres", dim=32),
            Text("title", dim=32, filters=32, window=3, max_words=15),
            *item_extra,
        ),
    )


def movielens_csv_schema(
    user_extra: Sequence[Feature] = (), item_extra: Sequence[Feature] = ()
) -> Schema:
    """The csv releases' features (ml-20m, ml-25m, ml-32m have no demographics): user id;
    movie id, genres, title, tags (each tag seen on at least two movies), year."""
    return Schema(
        user=(Categorical("user_id", dim=32, fc=32, id=True), *user_extra),
        item=(
            Categorical("movie_id", dim=32, fc=32, id=True),
            MultiCategorical("genres", dim=32),
            Text("title", dim=32, filters=32, window=3, max_words=15),
            MultiCategorical("tags", dim=32, min_count=2),
            Categorical("year", dim=16, fc=16),
            *item_extra,
        ),
    )


def default_schema(data: MovieLens) -> Schema:
    """The schema a data set trains with when none is given: by whether it has demographics."""
    return movielens_schema() if data.has_demographics else movielens_csv_schema()


def movielens_declared(data: MovieLens) -> dict[str, Sequence[Any]]:
    """Values a data set declares beyond its rows: the genre list (some may have no movie)."""
    return {"genres": data.genres}
