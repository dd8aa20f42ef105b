"""Data: the generic Dataset, and MovieLens readers and writers (ml-100k, ml-1m,
ml-20m/25m/32m), downloads, synthetic data, splits."""

from fusionrec.data.dataset import Dataset, Interactions, Table
from fusionrec.data.download import DATASETS, RemoteArchive, download_movielens
from fusionrec.data.movielens import (
    ML100K_GENRES,
    DuplicateRatingsWarning,
    OrphanRatingsWarning,
    load_movielens,
    load_movies_file,
)
from fusionrec.data.splits import leave_last_out, official_folds, random_split
from fusionrec.data.synthetic import synthetic_csv_release, synthetic_movielens
from fusionrec.data.tables import (
    AGE_BUCKETS,
    CSV_GENRES,
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
from fusionrec.data.writer import write_movielens

__all__ = [
    "AGE_BUCKETS",
    "CSV_GENRES",
    "DATASETS",
    "ML1M_GENRES",
    "ML1M_OCCUPATIONS",
    "ML100K_GENRES",
    "ML100K_OCCUPATIONS",
    "UNKNOWN_YEAR",
    "Dataset",
    "DuplicateRatingsWarning",
    "Interactions",
    "MovieLens",
    "Movies",
    "OrphanRatingsWarning",
    "Ratings",
    "RemoteArchive",
    "Table",
    "Users",
    "age_to_bucket",
    "download_movielens",
    "leave_last_out",
    "load_movielens",
    "load_movies_file",
    "official_folds",
    "random_split",
    "synthetic_csv_release",
    "synthetic_movielens",
    "write_movielens",
]
