"""The bundle's one-user forms give the general forms' floats, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fusionrec import FusionRecommender, ModelConfig
from fusionrec.data import MovieLens
from fusionrec.model.layout import normalize
from fusionrec.serve.bundle import normalize_row


def test_normalize_row_is_normalize_of_one_row() -> None:
    rng = np.random.default_rng(0)
    rows = [
        rng.standard_normal((1, d)).astype(np.float32) * s
        for d in (1, 7, 32, 232)
        for s in (1e-30, 1e-3, 1.0, 1e15)
    ]
    rows += [np.zeros((1, 8), np.float32), np.full((1, 3), 1e-25, np.float32)]
    rows += [np.array([[np.nan, 1.0]], np.float32), np.array([[3.0, 4.0]], np.float32)]
    for x in rows:
        got, expected = normalize_row(x), normalize(x)
        assert got.dtype == np.float32 and got.shape == x.shape
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("preset", ["rating", "default", "retrieval"])
def test_user_serving_one_and_ratings_one_match_the_batch_forms(
    tiny_data: MovieLens, preset: str
) -> None:
    rec = FusionRecommender(ModelConfig.preset(preset, epochs=1, seed=0), progress=False)
    rec.fit(tiny_data)
    bundle = rec.bundle
    for age, gender, occupation in [(1, "F", 0), (25, "M", 4), (56, "F", 20)]:
        values = {"age": age, "gender": gender, "occupation": occupation}
        one = bundle.user_serving_one(values)
        features = bundle.encoder.encode_users({k: [v] for k, v in values.items()})
        query, rating = bundle.user_serving_vectors(features)
        assert one.query.tobytes() == query.tobytes()
        assert one.rating.tobytes() == rating.tobytes()
        ip = np.linspace(-1, 1, 9, dtype=np.float32)
        assert (
            bundle.ratings_one(ip, one).tobytes() == bundle.ratings(ip[None], features)[0].tobytes()
        )
