"""MovieLens data: the table schema, readers for ml-1m and ml-100k, downloads, synthetic data, splits."""

from fusionrec.data.tables import (
    AGE_BUCKETS,
    ML1M_GENRES,
    ML1M_OCCUPATIONS,
    ML100K_OCCUPATIONS,
    UNKNOWN_YEAR,
    MovieLens,
    Movies,
    Ratings,
    Users,
    age_to_bucket,
)

__all__ = [
    "AGE_BUCKETS",
    "ML100K_OCCUPATIONS",
    "ML1M_GENRES",
    "ML1M_OCCUPATIONS",
    "UNKNOWN_YEAR",
    "MovieLens",
    "Movies",
    "Ratings",
    "Users",
    "age_to_bucket",
]
