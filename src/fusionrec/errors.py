"""The exceptions fusionrec raises for problems a user can cause and fix.

Every error derives from :class:`FusionrecError`, so callers (and the CLI) can catch one
type; each message says what is wrong and where (file and line, argument, directory).
"""

from __future__ import annotations


class FusionrecError(Exception):
    """Base class of every error fusionrec raises on purpose."""


class DataFormatError(FusionrecError):
    """A data file is malformed; the message names the file, the line and the reason."""


class DataIntegrityError(FusionrecError):
    """Tables disagree, e.g. a rating names a user or movie missing from the other files."""


class DownloadError(FusionrecError):
    """A download failed or did not match its published checksum."""


class ConfigError(FusionrecError):
    """A configuration value or argument is invalid."""


class ValidationError(FusionrecError, ValueError):
    """An argument passed to a public function is invalid (wrong value, type or shape)."""


class NotFittedError(FusionrecError):
    """A method needs a trained model (or an indexed store) that is not there yet."""


class ModelDirError(FusionrecError):
    """A model directory is missing, partial, or from an incompatible version."""


class StoreError(FusionrecError):
    """A vector store operation failed."""


class UnknownBackendError(StoreError):
    """No vector store backend is registered under the requested name."""


class DimensionMismatchError(StoreError):
    """Vectors or queries do not have the store's dimension."""


class CollectionNotFoundError(StoreError):
    """The collection (or index) to search or open does not exist."""


class FilterError(StoreError):
    """A filter is malformed or cannot be translated by the backend."""


class StoreInUseError(StoreError):
    """The store's file is locked by another process."""


class ReadOnlyStoreError(StoreError):
    """A write was asked of a store opened read-only (as a loaded model's store is)."""


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
    "ReadOnlyStoreError",
    "StoreError",
    "StoreInUseError",
    "UnknownBackendError",
    "ValidationError",
]
