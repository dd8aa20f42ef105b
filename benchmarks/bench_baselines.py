"""Baselines on the five official ml-100k folds: rating error and popularity top-N.

Protocols (reported in the JSON with the figures):
- rating: train on uN.base, RMSE/MAE on every rating of uN.test;
- top-N: relevant = uN.test ratings >= 4; candidates = all catalog movies (1682) the user did
  not rate in uN.base; users with at least one relevant item; Recall/NDCG/HR at 10.

Run: python benchmarks/bench_baselines.py [--data-dir PATH]  -> benchmarks/results/baselines.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import (
    add_data_dir_argument,
    machine_info,
    markdown_table,
    resolve_ml100k,
    write_results,
)
from baselines import BiasBaseline, GlobalMean, Popularity

from fusionrec.data import official_folds
from fusionrec.data.tables import Ratings
from fusionrec.eval.metrics import (
    TopNResult,
    evaluate_topn,
    interaction_matrix,
    mae,
    relevant_from,
    rmse,
)

Fold = tuple[Ratings, Ratings]
K = 10


def load_folds(path: Path) -> tuple[list[Fold], npt.NDArray[np.int64], npt.NDArray[np.int64], str]:
    """The five (base, test) folds, user ids and catalog movie ids, read by fusionrec.data."""
    pairs = official_folds(path)
    train0 = pairs[0][0]
    return (
        [(tr.ratings, te.ratings) for tr, te in pairs],
        train0.users.user_id,
        train0.movies.movie_id,
        "fusionrec.data.official_folds",
    )


def _recall_min_k(result: TopNResult, relevant: npt.NDArray[np.bool_]) -> float:
    """Recall with denominator min(|relevant|, K), a convention some papers use."""
    n_rel = relevant[result.users].sum(axis=1)
    hits = np.rint(result.recall_per_user * n_rel)
    return float(np.mean(hits / np.minimum(n_rel, result.k)))


def run_fold(base: Ratings, test: Ratings, users: Any, movies: Any) -> dict[str, Any]:
    """All baselines on one fold."""
    out: dict[str, Any] = {}
    for name, model in (("global_mean", GlobalMean()), ("bias", BiasBaseline())):
        pred = model.fit(base).predict(test.user_id, test.movie_id)
        out[name] = {"rmse": rmse(test.rating, pred), "mae": mae(test.rating, pred)}
    seen = interaction_matrix(base, users, movies)
    relevant = relevant_from(test, users, movies, min_rating=4.0)
    rows = np.arange(users.size)
    not_in_base = ~np.isin(movies, base.movie_id)
    for name, min_rating in (("popularity", None), ("popularity_ge4", 4.0)):
        pop = Popularity(movies, min_rating=min_rating).fit(base)
        full = evaluate_topn(pop.score_fn, rows, seen, relevant, k=K)
        base_only = evaluate_topn(pop.score_fn, rows, seen | not_in_base, relevant, k=K)
        out[name] = {
            **full.summary(),
            "recall_min_k_denominator": _recall_min_k(full, relevant),
            "candidates_base_movies_only": base_only.summary(),
        }
    out["n_catalog_movies"] = int(movies.size)
    out["n_base_movies"] = int(np.unique(base.movie_id).size)
    out["n_relevant_not_in_base"] = int(relevant[:, not_in_base].sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    args = parser.parse_args()
    path = resolve_ml100k(args.data_dir)
    t0 = time.perf_counter()
    folds, users, movies, loader = load_folds(path)
    per_fold = {f"u{i}": run_fold(b, t, users, movies) for i, (b, t) in enumerate(folds, start=1)}
    keys = [("global_mean", "rmse"), ("global_mean", "mae"), ("bias", "rmse"), ("bias", "mae")]
    keys += [
        (p, m) for p in ("popularity", "popularity_ge4") for m in ("recall", "ndcg", "hit_rate")
    ]
    mean = {f"{a}.{b}": float(np.mean([f[a][b] for f in per_fold.values()])) for a, b in keys}
    payload = {
        "benchmark": "baselines",
        "data": str(path),
        "loader": loader,
        "protocol": {
            "rating": "train uN.base, RMSE/MAE over all uN.test ratings, N = 1..5",
            "topn": (
                f"relevant = uN.test ratings >= 4; candidates = all {movies.size} catalog movies "
                f"not rated by the user in uN.base; users with >= 1 relevant item; K = {K}; "
                "recall = hits / |relevant|; ties by movie index"
            ),
            "bias": "mu + b_u + b_i, reg_user 15, reg_movie 10, 10 alternating passes, clipped",
        },
        "machine": machine_info(),
        "seconds": round(time.perf_counter() - t0, 2),
        "folds": per_fold,
        "mean": mean,
    }
    target = write_results("baselines", payload)
    rows = [
        [
            name,
            f["global_mean"]["rmse"],
            f["global_mean"]["mae"],
            f["bias"]["rmse"],
            f["bias"]["mae"],
            f["popularity"]["recall"],
            f["popularity"]["ndcg"],
            f["popularity"]["hit_rate"],
            f["popularity"]["n_users"],
        ]
        for name, f in per_fold.items()
    ]
    rows.append(
        [
            "mean",
            *[mean[f"{a}.{b}"] for a, b in keys[:4]],
            mean["popularity.recall"],
            mean["popularity.ndcg"],
            mean["popularity.hit_rate"],
            "",
        ]
    )
    headers = [
        "fold",
        "GlobalMean RMSE",
        "GlobalMean MAE",
        "Bias RMSE",
        "Bias MAE",
        "Pop Recall@10",
        "Pop NDCG@10",
        "Pop HR@10",
        "users",
    ]
    print(markdown_table(headers, rows))
    print(f"\nwrote {target}")


if __name__ == "__main__":
    main()
