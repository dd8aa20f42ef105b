"""The fusion model in Paddle: towers assembled from a schema, heads and the vector layout."""

from fusionrec.model.fusion import (
    FusionModel,
    MovieTower,
    MovieVectorLayer,
    UserTower,
    UserVectorLayer,
    describe,
    l2_normalize,
    pack_titles,
)

__all__ = [
    "FusionModel",
    "MovieTower",
    "MovieVectorLayer",
    "UserTower",
    "UserVectorLayer",
    "describe",
    "l2_normalize",
    "pack_titles",
]
