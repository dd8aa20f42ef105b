"""fusionrec: a two-tower fusion recommender whose movie vectors live in a vector database."""

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
    StoreError,
    StoreInUseError,
    UnknownBackendError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "CollectionNotFoundError",
    "ConfigError",
    "DataFormatError",
    "DataIntegrityError",
    "DimensionMismatchError",
    "DownloadError",
    "FilterError",
    "FusionrecError",
    "ModelDirError",
    "NotFittedError",
    "StoreError",
    "StoreInUseError",
    "UnknownBackendError",
    "ValidationError",
    "__version__",
]
