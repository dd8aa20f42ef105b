"""Data: the generic Dataset (also read from DataFrames, CSV or Parquet, with an inferred
schema), and MovieLens readers and writers (ml-100k, ml-1m, ml-20m/25m/32m), downloads,
synthetic data, splits."""

from fusionrec.data.dataset import Dataset, Interactions, Table
from fusionrec.data.download import DATASETS, RemoteArchive, download_movielens
from fusionrec.data.frames import DroppedRowsWarning, from_frames, read_dataset
from fusionrec.data.inference import SkippedColumnWarning, infer_schema, schema_source
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
    "DroppedRowsWarning",
    "DuplicateRatingsWarning",
    "Interactions",
    "MovieLens",
    "Movies",
    "OrphanRatingsWarning",
    "Ratings",
    "RemoteArchive",
    "SkippedColumnWarning",
    "Table",
    "Users",
    "age_to_bucket",
    "download_movielens",
    "from_frames",
    "infer_schema",
    "leave_last_out",
    "load_movielens",
    "load_movies_file",
    "official_folds",
    "random_split",
    "read_dataset",
    "schema_source",
    "synthetic_csv_release",
    "synthetic_movielens",
    "write_movielens",
]
