"""Features: the schema, one module per feature kind, and the encoders.

``fusionrec.features`` re-exports the MovieLens encoder (:mod:`fusionrec.features.encoder`)
and the schema's kinds.
"""

from fusionrec.features.categorical import Categorical
from fusionrec.features.encoder import (
    FORMAT_VERSION,
    PAD,
    UNK,
    FeatureEncoder,
    MovieFeatures,
    UserFeatures,
    tokenize,
)
from fusionrec.features.kind import Feature
from fusionrec.features.multi_categorical import MultiCategorical
from fusionrec.features.numeric import Numeric
from fusionrec.features.schema import Features, Schema, SchemaEncoder
from fusionrec.features.text import Text
from fusionrec.features.vocabulary import Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "PAD",
    "UNK",
    "Categorical",
    "Feature",
    "FeatureEncoder",
    "Features",
    "MovieFeatures",
    "MultiCategorical",
    "Numeric",
    "Schema",
    "SchemaEncoder",
    "Text",
    "UserFeatures",
    "Vocabulary",
    "tokenize",
]
