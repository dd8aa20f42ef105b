"""MovieLens as a schema: the book's user and movie features, and the tables' columns.

The only module besides the kinds' own tests that names MovieLens fields. The sizes come from
:class:`~fusionrec.config.ModelConfig` (the presets are expressed against this schema).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from fusionrec.config import ModelConfig
from fusionrec.data.tables import MovieLens
from fusionrec.features.categorical import Categorical
from fusionrec.features.kind import Feature
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.schema import Schema
from fusionrec.features.text import Text


def movielens_schema(
    config: ModelConfig | None = None,
    user_extra: Sequence[Feature] = (),
    item_extra: Sequence[Feature] = (),
) -> Schema:
    """The book's features: user id, gender, age, occupation; movie id, genres, title.

    ``user_extra`` and ``item_extra`` append features read from further table columns.
    """
    c = config or ModelConfig()
    return Schema(
        user=(
            Categorical("user_id", dim=c.user_id_dim, fc=c.user_id_fc, id=True),
            Categorical("gender", dim=c.gender_dim, fc=c.gender_fc),
            Categorical("age", dim=c.age_dim, fc=c.age_fc),
            Categorical("occupation", dim=c.occupation_dim, fc=c.occupation_fc),
            *user_extra,
        ),
        item=(
            Categorical("movie_id", dim=c.movie_id_dim, fc=c.movie_id_fc, id=True),
            MultiCategorical("genres", dim=c.genre_dim),
            Text(
                "title",
                dim=c.title_dim,
                filters=c.title_filters,
                window=c.title_window,
                max_words=c.max_title_words,
            ),
            *item_extra,
        ),
    )


def table_columns(table: Any) -> dict[str, Any]:
    """A table dataclass (Users, Movies) as columns keyed by field name."""
    return {f.name: getattr(table, f.name) for f in dataclasses.fields(table)}


def movielens_declared(data: MovieLens) -> dict[str, Sequence[Any]]:
    """Values a data set declares beyond its rows: the genre list (some may have no movie)."""
    return {"genres": data.genres}
