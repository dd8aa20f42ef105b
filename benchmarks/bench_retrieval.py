"""Top-N retrieval quality on MovieLens 100K: popularity vs the rating, retrieval, default presets.

Protocols (each reported in the JSON with split, seed and candidate set):

* ``folds``: official ml-100k folds u1..u5; train on uN.base (a seeded 5% of it carved out as
  validation for early stopping; the test fold is never used for choices); relevant = uN.test
  ratings >= 4; candidates = every catalog movie the user did not rate in uN.base; full
  ranking; Recall@10, NDCG@10, HR@10; plus test RMSE/MAE of each model's displayed rating.
  The same metrics are recomputed from the ids that Faiss (flat) and Milvus Lite (FLAT)
  return when searched with each user's seen movies excluded (``exclude_ids``).
* ``leave_last_out``: the whole ml-100k ``u.data``; per user the latest rating (timestamp) is
  the test item (relevant whatever its rating); candidates = every movie not in the user's
  training ratings; HR@10 and NDCG@10, full ranking.
* ``cold_start``: fold u1; a seeded 10% of users removed from training entirely; each is
  ranked from gender, age and occupation only (unknown user id) over the whole catalog;
  relevant = their u1.base + u1.test ratings >= 4; compared with global popularity and
  popularity within the user's demographic group (gender x age bucket, and occupation).

Run: ``python benchmarks/bench_retrieval.py [--data-dir DIR] [--folds 1,2,3,4,5]``
(``--tune`` instead runs the validation-only settings search on u1.base).
Writes ``benchmarks/results/retrieval.json`` (or ``retrieval_tuning.json``), prints markdown.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import (
    add_data_dir_argument,
    config_overrides,
    machine_info,
    markdown_table,
    resolve_ml100k,
    write_results,
)
from baselines import DemographicPopularity, Popularity
from bench_model import VALIDATION_FRACTION, rating_rows

from fusionrec.config import ModelConfig
from fusionrec.data import (
    MovieLens,
    leave_last_out,
    load_movielens,
    official_folds,
    random_split,
)
from fusionrec.eval.metrics import (
    TopNResult,
    evaluate_ranked,
    evaluate_topn,
    interaction_matrix,
    mae,
    ranked_positions,
    relevant_from,
    rmse,
    topn_masks,
)
from fusionrec.features import FeatureEncoder
from fusionrec.model import FusionModel
from fusionrec.serve.bundle import ModelBundle
from fusionrec.stores import FaissStore, MilvusStore, VectorStore
from fusionrec.train.trainer import History, Trainer

K = 10
COLD_FRACTION = 0.10
MODELS = ("rating", "retrieval", "default")
FloatMatrix = npt.NDArray[np.float32]


def train_model(
    config: ModelConfig, train: MovieLens
) -> tuple[FusionModel, ModelBundle, History, float]:
    """Train on ``train`` minus a carved validation split; early stopping on that split.

    Presets with ``refit`` then train again on all of ``train`` for the kept epoch count.
    """
    fit, val = random_split(train, VALIDATION_FRACTION, config.seed)
    encoder = FeatureEncoder.fit(train)
    model = FusionModel(config, encoder)
    start = time.perf_counter()
    history = Trainer(config, progress=False).fit(model, encoder, fit, val)
    seconds = time.perf_counter() - start
    return model, ModelBundle.from_model(model, encoder, config), history, seconds


def vectors(bundle: ModelBundle, data: MovieLens) -> tuple[FloatMatrix, FloatMatrix]:
    """Store-side user and movie vectors over the data set's user and movie tables."""
    enc = bundle.encoder
    return (
        bundle.user_vectors(enc.encode_users(data.users)),
        bundle.movie_vectors(enc.encode_movies(data.movies)),
    )


def _summary(result: TopNResult) -> dict[str, Any]:
    return result.summary()


def rating_error(model: FusionModel, bundle: ModelBundle, data: MovieLens, test: MovieLens) -> Any:
    """Test RMSE/MAE of the displayed rating."""
    enc = bundle.encoder
    urow, mrow = rating_rows(data, test)
    pred = model.predict(enc.encode_users(data.users), enc.encode_movies(data.movies), urow, mrow)
    return {"rmse": rmse(test.ratings.rating, pred), "mae": mae(test.ratings.rating, pred)}


def serving(
    users: FloatMatrix,
    movies: FloatMatrix,
    movie_ids: npt.NDArray[np.int64],
    seen: npt.NDArray[np.bool_],
    relevant: npt.NDArray[np.bool_],
    rows: npt.NDArray[np.int64],
    memory: TopNResult,
    workdir: Path,
) -> dict[str, Any]:
    """Metrics from the ids Faiss and Milvus Lite return, and whether they equal memory's."""
    out: dict[str, Any] = {}
    excludes = [movie_ids[seen[r]].tolist() for r in rows]
    stores: list[tuple[str, VectorStore]] = [
        ("faiss_flat", FaissStore(dim=movies.shape[1])),
        (
            "milvus_lite_flat",
            MilvusStore(
                uri=str(workdir / f"lite-{time.monotonic_ns()}.db"),
                collection="movies",
                dim=movies.shape[1],
                index="FLAT",
            ),
        ),
    ]
    for name, store in stores:
        start = time.perf_counter()
        with store:
            store.upsert(movie_ids, movies, None)
            hits = store.search(users[rows], K, exclude_ids=excludes)
        ranked = ranked_positions([[h.id for h in row] for row in hits], movie_ids, K)
        result = evaluate_ranked(ranked, rows, relevant, k=K)
        out[name] = {
            **result.summary(),
            "equals_in_memory": result.summary() == memory.summary(),
            "seconds": round(time.perf_counter() - start, 2),
        }
    return out


def topn_task(train: MovieLens, held_out: MovieLens) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Protocol (a)'s task: seen and relevant (held-out rating >= 4) masks over the users and
    movies, the user rows to rank for, and the popularity baseline's figures on it."""
    users, movies = train.users.user_id, train.movies.movie_id
    seen, relevant = topn_masks(train.ratings, held_out.ratings, users, movies, min_rating=4.0)
    rows = np.arange(users.size)
    pop = Popularity(movies).fit(train.ratings)
    return seen, relevant, rows, _summary(evaluate_topn(pop.score_fn, rows, seen, relevant, k=K))


def protocol_folds(
    path: Path,
    folds: list[int],
    seed: int,
    with_serving: bool,
    workdir: Path,
    models: tuple[str, ...] = MODELS,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Protocol (a): official folds, relevant >= 4, candidates = movies unseen in uN.base."""
    out: dict[str, Any] = {}
    pairs = official_folds(path)
    for k in folds:
        train, test = pairs[k - 1]
        movies = train.movies.movie_id
        seen, relevant, rows, popularity = topn_task(train, test)
        row: dict[str, Any] = {"popularity": popularity}
        for name in models:
            config = ModelConfig.preset(name, seed=seed, **(overrides or {}))
            model, bundle, history, seconds = train_model(config, train)
            u, m = vectors(bundle, train)
            memory = evaluate_topn(u @ m.T, rows, seen, relevant, k=K)
            row[name] = {
                **memory.summary(),
                **rating_error(model, bundle, train, test),
                "best_epoch": history.best_epoch,
                "selected_on": history.selected_on,
                "val_rmse": history.best_val_rmse,
                "val_ndcg": history.best_val_ndcg,
                "train_seconds": round(seconds, 1),
            }
            if with_serving:
                row[name]["serving"] = serving(u, m, movies, seen, relevant, rows, memory, workdir)
            print(f"u{k} {name}: {json.dumps(row[name], default=str)}", flush=True)
        out[f"u{k}"] = row
    return out


def protocol_leave_last_out(
    path: Path,
    seed: int,
    models: tuple[str, ...] = MODELS,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Protocol (b): per-user temporal leave-last-out on u.data, HR@10 / NDCG@10."""
    data = load_movielens(path)
    train, test = leave_last_out(data, n=1)
    users, movies = data.users.user_id, data.movies.movie_id
    seen = interaction_matrix(train.ratings, users, movies)
    relevant = relevant_from(test.ratings, users, movies, min_rating=None)
    rows = np.arange(users.size)
    pop = Popularity(movies).fit(train.ratings)
    out: dict[str, Any] = {
        "n_test_users": len(test.ratings),
        "popularity": _summary(evaluate_topn(pop.score_fn, rows, seen, relevant, k=K)),
    }
    for name in models:
        config = ModelConfig.preset(name, seed=seed, **(overrides or {}))
        _, bundle, history, seconds = train_model(config, train)
        u, m = vectors(bundle, train)
        out[name] = {
            **evaluate_topn(u @ m.T, rows, seen, relevant, k=K).summary(),
            "best_epoch": history.best_epoch,
            "train_seconds": round(seconds, 1),
        }
        print(f"leave-last-out {name}: {out[name]}", flush=True)
    return out


def protocol_cold_start(
    path: Path,
    seed: int,
    models: tuple[str, ...] = MODELS,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Protocol (c): users held out of training, ranked from demographics only."""
    train, test = official_folds(path)[0]
    all_users = np.unique(train.ratings.user_id)
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(all_users, size=round(all_users.size * COLD_FRACTION), replace=False))
    warm = train.with_ratings(train.ratings.take(~np.isin(train.ratings.user_id, cold)))
    r_base, r_test = train.ratings, test.ratings
    pick_b = np.isin(r_base.user_id, cold)
    pick_t = np.isin(r_test.user_id, cold)
    cold_users = train.users.take(np.isin(train.users.user_id, cold))
    movies = train.movies.movie_id
    rel_parts = [
        relevant_from(r.take(p), cold_users.user_id, movies, min_rating=4.0)
        for r, p in ((r_base, pick_b), (r_test, pick_t))
    ]
    relevant = rel_parts[0] | rel_parts[1]
    seen = np.zeros_like(relevant)
    rows = np.arange(cold_users.user_id.size)
    out: dict[str, Any] = {"held_out_users": int(cold.size)}
    pop = Popularity(movies).fit(warm.ratings)
    out["popularity"] = _summary(evaluate_topn(pop.score_fn, rows, seen, relevant, k=K))
    for by in ("gender_age", "occupation"):
        demo = DemographicPopularity(movies, by=by).fit(warm.ratings, train.users)
        res = evaluate_topn(demo.score_fn(cold_users), rows, seen, relevant, k=K)
        out[f"demographic_popularity_{by}"] = _summary(res)
    for name in models:
        config = ModelConfig.preset(name, seed=seed, **(overrides or {}))
        _, bundle, history, _ = train_model(config, warm)
        enc = bundle.encoder
        demo_features = enc.encode_users(
            {
                "gender": cold_users.gender,
                "age": cold_users.age,
                "occupation": cold_users.occupation,
            }
        )
        u = bundle.user_vectors(demo_features)
        m = bundle.movie_vectors(enc.encode_movies(train.movies))
        out[name] = {
            **evaluate_topn(u @ m.T, rows, seen, relevant, k=K).summary(),
            "best_epoch": history.best_epoch,
        }
        print(f"cold start {name}: {out[name]}", flush=True)
    return out


#: The chosen presets and the ablations of the sampled softmax's corrections (the wider
#: temperature / weight search is tabulated in docs/retrieval.md).
TUNING_GRID: tuple[tuple[str, dict[str, Any]], ...] = (
    ("rating", {}),
    ("retrieval", {}),
    ("retrieval", {"logq_correction": False}),
    ("retrieval", {"mask_accidental_hits": False}),
    ("default", {"retrieval_hidden": 0, "positives": "liked"}),
    ("default", {"positives": "liked"}),
    ("default", {"retrieval_hidden": 16}),
    ("default", {}),
    ("default", {"retrieval_hidden": 64}),
    ("default", {"temperature": 0.1}),
    ("default", {"joint_weight": 0.0}),
)


def tune(path: Path, seed: int) -> dict[str, Any]:
    """Validation-only settings search: u1.base split into fit + 5% validation."""
    train, _ = official_folds(path)[0]
    fit, val = random_split(train, VALIDATION_FRACTION, seed)
    seen, relevant, rows, popularity = topn_task(fit, val)
    out: dict[str, Any] = {"popularity": popularity}
    for preset, overrides in TUNING_GRID:
        config = ModelConfig.preset(preset, seed=seed, **overrides)
        model, bundle, history, seconds = train_model(config, fit)
        u, m = vectors(bundle, fit)
        key = f"{preset} {json.dumps(overrides, sort_keys=True)}"
        out[key] = {
            **evaluate_topn(u @ m.T, rows, seen, relevant, k=K).summary(),
            **rating_error(model, bundle, fit, val),
            "best_epoch": history.best_epoch,
            "train_seconds": round(seconds, 1),
        }
        print(f"{key}: {out[key]}", flush=True)
    return out


def _mean(per_fold: dict[str, Any], model: str, metric: str) -> float:
    return float(np.mean([f[model][metric] for f in per_fold.values()]))


def markdown(results: dict[str, Any], models: tuple[str, ...] = MODELS) -> str:
    """The side-by-side table and the per-fold and serving tables."""
    names = ["popularity", *models]
    folds = results.get("folds", {})
    llo = results.get("leave_last_out", {})
    cold = results.get("cold_start", {})
    rows = []
    for n in names:
        row: list[Any] = [n]
        if folds:
            row += [_mean(folds, n, "recall"), _mean(folds, n, "ndcg")]
            row += [_mean(folds, n, "rmse") if n != "popularity" else "-"]
        if llo:
            row += [llo[n]["hit_rate"], llo[n]["ndcg"]]
        if cold:
            row += [cold[n]["recall"], cold[n]["ndcg"]]
        rows.append(row)
    headers = ["model"]
    if folds:
        headers += ["(a) Recall@10", "(a) NDCG@10", "(a) RMSE"]
    if llo:
        headers += ["(b) HR@10", "(b) NDCG@10"]
    if cold:
        headers += ["(c) Recall@10", "(c) NDCG@10"]
        for by in ("gender_age", "occupation"):
            key = f"demographic_popularity_{by}"
            rows.append(
                [f"popularity within {by.replace('_', ' x ')}"]
                + ["-"] * (len(headers) - 3)
                + [cold[key]["recall"], cold[key]["ndcg"]]
            )
    parts = [markdown_table(headers, rows)]
    if folds:
        frows = []
        for fold, f in folds.items():
            frows.append(
                [fold]
                + [f"{f[n]['recall']:.4f} / {f[n]['ndcg']:.4f}" for n in names]
                + [f"{f[n]['rmse']:.4f}" for n in models]
            )
        parts += [
            "",
            markdown_table(
                ["fold", *(f"{n} R@10 / NDCG@10" for n in names), *(f"{n} RMSE" for n in models)],
                frows,
            ),
        ]
        srows = []
        for n in models:
            for store in ("faiss_flat", "milvus_lite_flat"):
                per = [f[n].get("serving", {}).get(store) for f in folds.values()]
                if all(per):
                    srows.append(
                        [
                            n,
                            store,
                            float(np.mean([p["recall"] for p in per])),
                            float(np.mean([p["ndcg"] for p in per])),
                            "yes" if all(p["equals_in_memory"] for p in per) else "NO",
                        ]
                    )
        if srows:
            parts += [
                "",
                markdown_table(
                    ["model", "store", "Recall@10", "NDCG@10", "identical to in-memory (5 folds)"],
                    srows,
                    digits=4,
                ),
            ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--skip-llo", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--tune", action="store_true", help="validation-only settings search")
    parser.add_argument("--models", default=",".join(MODELS), help="presets to train")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a config override for every preset, e.g. warm_refit_epochs=2",
    )
    parser.add_argument("--out", default="retrieval", help="results file name (no .json)")
    args = parser.parse_args()
    models = tuple(args.models.split(","))
    overrides = config_overrides(args.set)
    path = resolve_ml100k(args.data_dir)
    start = time.perf_counter()
    base: dict[str, Any] = {"data": str(path), "seed": args.seed, "machine": machine_info()}
    if args.tune:
        results = {"benchmark": "retrieval_tuning", **base, "validation": tune(path, args.seed)}
        results["protocol"] = (
            "u1.base minus a seeded 5% validation split; relevant = validation ratings >= 4; "
            "candidates = movies not rated in the fit part; K = 10"
        )
        results["seconds"] = round(time.perf_counter() - start, 1)
        write_results("retrieval_tuning", results)
        rows = [
            [k, v["recall"], v["ndcg"], v.get("rmse", "-")]
            for k, v in results["validation"].items()
        ]
        print(markdown_table(["setting", "val Recall@10", "val NDCG@10", "val RMSE"], rows))
        return
    folds = [int(x) for x in args.folds.split(",")]
    results = {
        "benchmark": "retrieval",
        **base,
        "presets": {
            n: ModelConfig.preset(n, seed=args.seed, **overrides).to_dict() for n in models
        },
        "protocol": {
            "folds": "official ml-100k uN.base/uN.test; training minus a seeded 5% validation "
            "split (early stopping); relevant = uN.test ratings >= 4; candidates = all 1682 "
            "catalog movies not rated in uN.base; users with >= 1 relevant; full ranking; K = 10",
            "serving": "movie vectors upserted into FaissStore(index='flat') and MilvusStore "
            "(Milvus Lite, index='FLAT'); search(user vectors, k=10, exclude_ids=uN.base "
            "movies of each user); metrics from the returned ids",
            "leave_last_out": "u.data; per user the latest rating by timestamp is the test item "
            "(relevant regardless of rating); candidates = movies not in the user's training "
            "ratings; HR@10 / NDCG@10; seeded 5% of training carved for validation",
            "cold_start": f"fold u1; seeded {COLD_FRACTION:.0%} of users removed from training; "
            "ranked with the unknown user id from gender/age/occupation; candidates = whole "
            "catalog; relevant = their u1.base + u1.test ratings >= 4",
        },
    }
    with tempfile.TemporaryDirectory(prefix="fusionrec-bench-") as tmp:
        results["folds"] = protocol_folds(
            path, folds, args.seed, not args.skip_serving, Path(tmp), models, overrides
        )
    if not args.skip_llo:
        results["leave_last_out"] = protocol_leave_last_out(path, args.seed, models, overrides)
    if not args.skip_cold:
        results["cold_start"] = protocol_cold_start(path, args.seed, models, overrides)
    text = markdown(results, models)
    results["seconds"] = round(time.perf_counter() - start, 1)
    write_results(args.out, results)
    print(text)


if __name__ == "__main__":
    main()
