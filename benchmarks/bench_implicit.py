"""Implicit feedback on ml-100k: the ratings dropped, with and without weights, vs popularity.

Protocol (official folds, K = 10): train on uN.base turned into clicks (the ratings removed;
the ``weighted`` variant keeps each rating as the click's weight), the ``retrieval`` preset
(a seeded 5% of the training clicks held out for early stopping on NDCG@10, every held-out
click relevant); candidates = the catalog movies the user did not rate in uN.base, full
ranking by the store-side vectors' inner product; relevant = every uN.test rating ("any") or
those >= 4 ("liked"). Popularity ranks by uN.base counts.

Run: python benchmarks/bench_implicit.py [--data-dir PATH] [--folds 1 2 ...] [--seed 0]
     -> benchmarks/results/implicit.json
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import (
    add_data_dir_argument,
    machine_info,
    markdown_table,
    resolve_ml100k,
    write_results,
)

from fusionrec.config import ModelConfig
from fusionrec.data import Dataset, Interactions, official_folds
from fusionrec.eval.metrics import TopNResult, evaluate_split
from fusionrec.features import FeatureEncoder
from fusionrec.model import FusionModel
from fusionrec.train.trainer import Trainer

K = 10
RELEVANCE = {"any": None, "liked": 4.0}


def clicks(data: Dataset, weighted: bool) -> Dataset:
    """``data``'s interactions without ratings; with ``weighted``, each rating as the weight."""
    r = data.interactions
    assert r.rating is not None
    weight = r.rating.astype(np.float32) if weighted else None
    return data.with_interactions(Interactions(r.user_id, r.item_id, None, weight, r.timestamp))


def train_implicit(train: Dataset, seed: int) -> tuple[Any, Any, dict[str, Any]]:
    """User and item vectors of the retrieval preset trained on ``train``, and its history."""
    config = ModelConfig.preset("retrieval", seed=seed)
    encoder = FeatureEncoder.fit(train)
    model = FusionModel(config, encoder)
    start = time.perf_counter()
    history = Trainer(config, progress=False).fit(model, encoder, train)
    seconds = time.perf_counter() - start
    users = model.encode_users(encoder.encode_users(train.users.as_columns()))
    items = model.encode_movies(encoder.encode_items(train.items.as_columns()))
    info = {
        "best_epoch": history.best_epoch,
        "best_val_ndcg": history.best_val_ndcg,
        "epochs_run": len(history.epochs),
        "seconds": seconds,
    }
    return users, items, info


def figures(result: TopNResult) -> dict[str, float]:
    return {"recall": result.recall, "ndcg": result.ndcg, "hit_rate": result.hit_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pairs = official_folds(resolve_ml100k(args.data_dir))
    per_fold: list[dict[str, Any]] = []
    for fold in args.folds:
        base, test = (Dataset.from_movielens(d) for d in pairs[fold - 1])
        row: dict[str, Any] = {"fold": fold}
        counts = np.bincount(
            base.items.rows(base.interactions.item_id), minlength=len(base.items)
        ).astype(np.float64)
        for name, min_rating in RELEVANCE.items():
            popular = evaluate_split(
                base,
                test,
                score_fn=lambda rows, c=counts: np.tile(c, (len(rows), 1)),
                k=K,
                min_rating=min_rating,
            )
            row[f"popularity/{name}"] = figures(popular)
        for variant in ("unweighted", "weighted"):
            train = clicks(base, weighted=variant == "weighted")
            users, items, info = train_implicit(train, args.seed)
            row[f"{variant}/training"] = info
            for name, min_rating in RELEVANCE.items():
                got = evaluate_split(
                    train, test, user_vectors=users, item_vectors=items, k=K, min_rating=min_rating
                )
                row[f"{variant}/{name}"] = figures(got)
        per_fold.append(row)
        print(f"fold {fold} done", flush=True)

    methods = ("popularity", "unweighted", "weighted")
    mean = {
        f"{m}/{rel}": {
            metric: float(np.mean([f[f"{m}/{rel}"][metric] for f in per_fold]))
            for metric in ("recall", "ndcg", "hit_rate")
        }
        for m in methods
        for rel in RELEVANCE
    }
    rows = [
        [m, rel, mean[f"{m}/{rel}"]["recall"], mean[f"{m}/{rel}"]["ndcg"]]
        for rel in RELEVANCE
        for m in methods
    ]
    print(markdown_table(["method", "relevant", f"Recall@{K}", f"NDCG@{K}"], rows))
    write_results(
        "implicit",
        {
            "protocol": __doc__,
            "machine": machine_info(),
            "folds": args.folds,
            "seed": args.seed,
            "mean": mean,
            "per_fold": per_fold,
        },
    )


if __name__ == "__main__":
    main()
