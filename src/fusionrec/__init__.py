"""fusionrec: a two-tower fusion recommender whose movie vectors live in a vector database.

Public names are importable from here. Heavy parts (Paddle, pymilvus, faiss) load on first use,
so ``import fusionrec`` and the serving path stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fusionrec._version import __version__
from fusionrec.errors import (
    CollectionNotFoundError,
    ConfigError,
    DataFormatError,
    DataIntegrityError,
    DimensionMismatchError,
    DownloadError,
    FilterError,
    FusionrecError,
    ModelDirError,
    NotFittedError,
    ReadOnlyStoreError,
    StoreError,
    StoreInUseError,
    UnknownBackendError,
    ValidationError,
)

if TYPE_CHECKING:
    from fusionrec.config import ModelConfig
    from fusionrec.data import (
        Dataset,
        Interactions,
        MovieLens,
        Table,
        download_movielens,
        from_frames,
        infer_schema,
        leave_last_out,
        load_movielens,
        official_folds,
        random_split,
        read_dataset,
        schema_source,
        synthetic_movielens,
        write_movielens,
    )
    from fusionrec.features import (
        Categorical,
        FeatureEncoder,
        Features,
        MultiCategorical,
        Numeric,
        Schema,
        Text,
        movielens_csv_schema,
        movielens_schema,
    )
    from fusionrec.model import FusionModel, MovieTower, UserTower
    from fusionrec.recommender import EvaluationResult, FusionRecommender, Recommendation
    from fusionrec.serve.bundle import ModelBundle
    from fusionrec.serve.model_dir import load_model_dir, save_model_dir
    from fusionrec.stores import (
        And,
        ContainsAny,
        Eq,
        FaissStore,
        Filter,
        Hit,
        Ids,
        MetadataField,
        MilvusStore,
        Not,
        OneOf,
        Or,
        Predicate,
        Range,
        StoredItem,
        VectorStore,
        parse_filter,
    )
    from fusionrec.train.trainer import History, Trainer

_LAZY = {
    "ModelConfig": "fusionrec.config",
    "Dataset": "fusionrec.data",
    "Interactions": "fusionrec.data",
    "MovieLens": "fusionrec.data",
    "Table": "fusionrec.data",
    "download_movielens": "fusionrec.data",
    "from_frames": "fusionrec.data",
    "infer_schema": "fusionrec.data",
    "leave_last_out": "fusionrec.data",
    "load_movielens": "fusionrec.data",
    "official_folds": "fusionrec.data",
    "random_split": "fusionrec.data",
    "read_dataset": "fusionrec.data",
    "schema_source": "fusionrec.data",
    "synthetic_movielens": "fusionrec.data",
    "write_movielens": "fusionrec.data",
    "ModelBundle": "fusionrec.serve.bundle",
    "load_model_dir": "fusionrec.serve.model_dir",
    "save_model_dir": "fusionrec.serve.model_dir",
    "Categorical": "fusionrec.features",
    "FeatureEncoder": "fusionrec.features",
    "Features": "fusionrec.features",
    "MultiCategorical": "fusionrec.features",
    "Numeric": "fusionrec.features",
    "Schema": "fusionrec.features",
    "Text": "fusionrec.features",
    "movielens_csv_schema": "fusionrec.features",
    "movielens_schema": "fusionrec.features",
    "FusionModel": "fusionrec.model",
    "MovieTower": "fusionrec.model",
    "UserTower": "fusionrec.model",
    "EvaluationResult": "fusionrec.recommender",
    "FusionRecommender": "fusionrec.recommender",
    "Recommendation": "fusionrec.recommender",
    "FaissStore": "fusionrec.stores",
    "Filter": "fusionrec.stores",
    "Hit": "fusionrec.stores",
    "MilvusStore": "fusionrec.stores",
    "StoredItem": "fusionrec.stores",
    "VectorStore": "fusionrec.stores",
    "And": "fusionrec.stores",
    "ContainsAny": "fusionrec.stores",
    "Eq": "fusionrec.stores",
    "Ids": "fusionrec.stores",
    "MetadataField": "fusionrec.stores",
    "Not": "fusionrec.stores",
    "OneOf": "fusionrec.stores",
    "Or": "fusionrec.stores",
    "Predicate": "fusionrec.stores",
    "Range": "fusionrec.stores",
    "parse_filter": "fusionrec.stores",
    "History": "fusionrec.train.trainer",
    "Trainer": "fusionrec.train.trainer",
}


def __getattr__(name: str) -> Any:
    """Import public names on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fusionrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "And",
    "Categorical",
    "CollectionNotFoundError",
    "ConfigError",
    "ContainsAny",
    "DataFormatError",
    "DataIntegrityError",
    "Dataset",
    "DimensionMismatchError",
    "DownloadError",
    "Eq",
    "EvaluationResult",
    "FaissStore",
    "FeatureEncoder",
    "Features",
    "Filter",
    "FilterError",
    "FusionModel",
    "FusionRecommender",
    "FusionrecError",
    "History",
    "Hit",
    "Ids",
    "Interactions",
    "MetadataField",
    "MilvusStore",
    "ModelBundle",
    "ModelConfig",
    "ModelDirError",
    "MovieLens",
    "MovieTower",
    "MultiCategorical",
    "Not",
    "NotFittedError",
    "Numeric",
    "OneOf",
    "Or",
    "Predicate",
    "Range",
    "ReadOnlyStoreError",
    "Recommendation",
    "Schema",
    "StoreError",
    "StoreInUseError",
    "StoredItem",
    "Table",
    "Text",
    "Trainer",
    "UnknownBackendError",
    "UserTower",
    "ValidationError",
    "VectorStore",
    "__version__",
    "download_movielens",
    "from_frames",
    "infer_schema",
    "leave_last_out",
    "load_model_dir",
    "load_movielens",
    "movielens_csv_schema",
    "movielens_schema",
    "official_folds",
    "parse_filter",
    "random_split",
    "read_dataset",
    "save_model_dir",
    "schema_source",
    "synthetic_movielens",
    "write_movielens",
]
