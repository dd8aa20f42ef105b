"""The reference workflow in Python: train, load movie vectors into Milvus Lite, recommend.

Run: python examples/quickstart.py [path/to/ml-100k-or-ml-1m]   (synthetic data without a path)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from fusionrec import FusionRecommender, MilvusStore, ModelConfig, random_split
from fusionrec.data import load_movielens, synthetic_movielens


def main() -> None:
    if len(sys.argv) > 1:
        data = load_movielens(sys.argv[1])
    else:
        data = synthetic_movielens(n_users=1000, n_movies=500, n_ratings=60_000, seed=0)
    train, test = random_split(data, test_fraction=0.1, seed=0)
    workdir = Path(tempfile.mkdtemp(prefix="fusionrec-example-"))

    # 1. train the fusion model (early stopping on a validation slice of train)
    rec = FusionRecommender(ModelConfig.preset("rating"), progress=False)
    rec.fit(train, epochs=10)
    print("test:", rec.evaluate(test, k=10))

    # 2. load every movie vector into Milvus Lite (an embedded file, no server)
    rec.store = MilvusStore(uri=str(workdir / "movies.db"), collection="movies", dim=rec.bundle.dim)
    rec.index_movies()

    # 3. recommend for a new user known only by age, gender and occupation
    for r in rec.recommend(age=25, gender="F", occupation=4, k=5):
        print(f"{r.movie_id:>6}  {r.title} ({r.year})  score {r.score:.3f}  rating {r.rating:.2f}")

    rec.save(workdir / "model")
    rec.close()
    print("saved to", workdir / "model")


if __name__ == "__main__":
    main()
