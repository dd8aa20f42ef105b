"""Features: the schema, one module per feature kind, and the encoder.

A :class:`Schema` lists each side's features; every kind (:class:`Categorical`,
:class:`MultiCategorical`, :class:`Text`, :class:`Numeric`) holds its encoder state, its
Paddle layer, its numpy training forward/backward and its numpy serving forward. The
:class:`FeatureEncoder` fits the schema on tables and encodes them into :class:`Features`.
"""

from fusionrec.features.categorical import Categorical
from fusionrec.features.encoder import FORMAT_VERSION, FeatureEncoder, table_columns
from fusionrec.features.kind import Feature
from fusionrec.features.movielens import movielens_csv_schema, movielens_schema
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.numeric import Numeric
from fusionrec.features.schema import Features, Schema
from fusionrec.features.text import MAX_TOKEN_CHARS, Text, tokenize
from fusionrec.features.vocabulary import PAD, UNK, Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "MAX_TOKEN_CHARS",
    "PAD",
    "UNK",
    "Categorical",
    "Feature",
    "FeatureEncoder",
    "Features",
    "MultiCategorical",
    "Numeric",
    "Schema",
    "Text",
    "Vocabulary",
    "movielens_csv_schema",
    "movielens_schema",
    "table_columns",
    "tokenize",
]
