"""Fusion model quality and speed on MovieLens 100K.

* Rating prediction on the five official folds (u1..u5): test RMSE/MAE of the ``reference``,
  ``rating`` and ``default`` presets beside a global-mean and a user+item bias baseline. Epochs
  are chosen by early stopping on a validation split carved from each training fold (never the
  test fold).
* Cold start (fold u1): 10% of users held out whole; their u1.test ratings predicted from
  demographics only (no id), for the ``rating`` preset trained with and without user-id dropout,
  beside the known users' RMSE.
* Speed: training samples/s for one epoch of the reference architecture (numpy engine with one
  and two BLAS threads, Paddle autograd engine), and encoding throughput of the exported
  (numpy) towers.

Run: ``python benchmarks/bench_model.py [--data-dir DIR] [--folds 1,2,3,4,5]``
Writes ``benchmarks/results/model.json`` and prints markdown.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import (
    add_data_dir_argument,
    config_overrides,
    machine_info,
    markdown_table,
    resolve_ml100k,
    write_results,
)
from baselines import BiasBaseline, GlobalMean

from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens, official_folds, random_split
from fusionrec.features import FeatureEncoder
from fusionrec.model import FusionModel
from fusionrec.serve.bundle import ModelBundle
from fusionrec.train.trainer import History, Trainer

VALIDATION_FRACTION = 0.05
COLD_FRACTION = 0.10


def _rmse_mae(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    err = np.asarray(p, dtype=np.float64) - y
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def rating_rows(data: MovieLens, test: MovieLens) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each test rating's user and movie in ``data``'s user and movie tables."""
    uo = np.argsort(data.users.user_id)
    mo = np.argsort(data.movies.movie_id)
    urow = uo[np.searchsorted(data.users.user_id[uo], test.ratings.user_id)]
    mrow = mo[np.searchsorted(data.movies.movie_id[mo], test.ratings.movie_id)]
    return urow, mrow


def _train(
    config: ModelConfig, train: MovieLens, engine: str = "numpy", threads: int = 1
) -> tuple[FusionModel, FeatureEncoder, History, float]:
    fit, val = random_split(train, VALIDATION_FRACTION, config.seed)
    encoder = FeatureEncoder.fit(train)
    model = FusionModel(config, encoder)
    start = time.perf_counter()
    trainer = Trainer(config, progress=False, engine=engine, threads=threads)
    history = trainer.fit(model, encoder, fit, val)
    return model, encoder, history, time.perf_counter() - start


def _evaluate(
    model: FusionModel, encoder: FeatureEncoder, data: MovieLens, test: MovieLens
) -> dict[str, float]:
    urow, mrow = rating_rows(data, test)
    uf, mf = encoder.encode_users(data.users), encoder.encode_movies(data.movies)
    return _rmse_mae(test.ratings.rating, model.predict(uf, mf, urow, mrow))


def rating_folds(
    path: Any,
    presets: list[str],
    folds: list[int],
    seed: int,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Per-fold test RMSE/MAE of the presets (with config ``overrides``) and both baselines."""
    out: dict[str, Any] = {}
    all_folds = official_folds(path)
    for k in folds:
        train, test = all_folds[k - 1]
        y = test.ratings.rating
        r = test.ratings
        row: dict[str, Any] = {
            "global_mean": _rmse_mae(
                y, GlobalMean().fit(train.ratings).predict(r.user_id, r.movie_id)
            ),
            "bias": _rmse_mae(y, BiasBaseline().fit(train.ratings).predict(r.user_id, r.movie_id)),
        }
        for name in presets:
            config = ModelConfig.preset(name, seed=seed, **(overrides or {}))
            model, encoder, history, seconds = _train(config, train)
            row[name] = {
                **_evaluate(model, encoder, train, test),
                "best_epoch": history.best_epoch,
                "epochs_run": len(history.epochs),
                "val_rmse": history.best_val_rmse,
                "train_seconds": round(seconds, 1),
            }
            print(f"u{k} {name}: {row[name]}", flush=True)
        out[f"u{k}"] = row
    return out


#: (preset, user_id_dropout) pairs of the cold-start comparison
COLD_START_MODELS = (("rating", 0.0), ("rating", 0.1), ("rating", 0.2), ("default", 0.1))


def cold_start(path: Any, seed: int) -> dict[str, Any]:
    """Held-out users (fold u1) predicted from demographics only, with/without id dropout."""
    train, test = official_folds(path)[0]
    users = np.unique(train.ratings.user_id)
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(users, size=round(len(users) * COLD_FRACTION), replace=False))
    warm_train = train.with_ratings(train.ratings.take(~np.isin(train.ratings.user_id, cold)))
    is_cold = np.isin(test.ratings.user_id, cold)
    cold_test = test.with_ratings(test.ratings.take(is_cold))
    warm_test = test.with_ratings(test.ratings.take(~is_cold))
    out: dict[str, Any] = {
        "held_out_users": len(cold),
        "cold_test_ratings": len(cold_test.ratings),
        "global_mean_cold": _rmse_mae(
            cold_test.ratings.rating,
            np.full(len(cold_test.ratings), float(warm_train.ratings.rating.mean())),
        ),
    }
    for preset, dropout in COLD_START_MODELS:
        config = ModelConfig.preset(preset, seed=seed, user_id_dropout=dropout)
        model, encoder, _, _ = _train(config, warm_train)
        urow, mrow = rating_rows(train, cold_test)
        u = train.users
        demo = encoder.encode_users({"gender": u.gender, "age": u.age, "occupation": u.occupation})
        mf = encoder.encode_movies(train.movies)
        cold_res = _rmse_mae(cold_test.ratings.rating, model.predict(demo, mf, urow, mrow))
        key = f"{preset}, user_id_dropout={dropout}"
        out[key] = {
            "cold_users": cold_res,
            "known_users": _evaluate(model, encoder, train, warm_test),
        }
        print(f"cold start {key}: {out[key]}", flush=True)
    return out


def speed(path: Any, seed: int) -> dict[str, Any]:
    """Training samples/s (one epoch, reference preset) and encoding throughput."""
    train, _ = official_folds(path)[0]
    out: dict[str, Any] = {"train_ratings": len(train.ratings)}
    runs = {"numpy": ("numpy", 1), "numpy_2_threads": ("numpy", 2), "paddle": ("paddle", 1)}
    for key, (engine, threads) in runs.items():
        config = ModelConfig.preset("reference", seed=seed, epochs=3, patience=0)
        _, _, history, _ = _train(config, train, engine=engine, threads=threads)
        out[f"train_samples_per_s_{key}"] = max(e.samples_per_second for e in history.epochs)
    config = ModelConfig.preset("rating", seed=seed, epochs=1)
    model, encoder, _, _ = _train(config, train)
    bundle = ModelBundle.from_model(model, encoder, config)
    mf = encoder.encode_movies(train.movies)
    catalog = mf.take(np.arange(3883) % len(mf))  # an ml-1m-sized catalog
    uf = encoder.encode_users(train.users)
    out["movie_catalog_3883_ms"] = _best_ms(lambda: bundle.movie_vectors(catalog), 20)
    out["movies_per_s"] = 3883 / (out["movie_catalog_3883_ms"] / 1000)
    out["users_943_ms"] = _best_ms(lambda: bundle.user_vectors(uf), 20)
    out["users_per_s"] = len(uf) / (out["users_943_ms"] / 1000)
    one = encoder.encode_users({"gender": ["F"], "age": [25], "occupation": [4]})
    out["single_user_p50_ms"] = _p50_ms(lambda: bundle.user_vectors(one), 2000)
    one_known = uf.take([0])
    out["single_known_user_p50_ms"] = _p50_ms(lambda: bundle.user_vectors(one_known), 2000)
    out["encode_users_from_raw_p50_ms"] = _p50_ms(
        lambda: bundle.user_vectors(
            encoder.encode_users({"user_id": [1], "gender": ["F"], "age": [25], "occupation": [4]})
        ),
        2000,
    )
    return out


def _best_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def _p50_ms(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def _markdown(results: dict[str, Any], presets: list[str]) -> str:
    folds = results["folds"]
    names = ["global_mean", "bias", *presets]
    rows = []
    for fold, row in folds.items():
        rows.append([fold, *(f"{row[n]['rmse']:.4f} / {row[n]['mae']:.4f}" for n in names)])
    means = {
        n: {m: float(np.mean([r[n][m] for r in folds.values()])) for m in ("rmse", "mae")}
        for n in names
    }
    rows.append(
        ["**mean**", *(f"**{means[n]['rmse']:.4f} / {means[n]['mae']:.4f}**" for n in names)]
    )
    parts = [
        "Test RMSE / MAE, official ml-100k folds (epochs by early stopping on 5% of each "
        "training fold):",
        "",
        markdown_table(["fold", "global mean", "user+item bias", *presets], rows),
    ]
    results["mean"] = means
    if "cold_start" in results:
        cs = results["cold_start"]
        crow = [["global mean", f"{cs['global_mean_cold']['rmse']:.4f}", "-"]]
        for key, val in cs.items():
            if "user_id_dropout" in key:
                crow.append(
                    [
                        key,
                        f"{val['cold_users']['rmse']:.4f}",
                        f"{val['known_users']['rmse']:.4f}",
                    ]
                )
        parts += [
            "",
            f"Cold start (u1; {cs['held_out_users']} users held out whole, "
            f"{cs['cold_test_ratings']} test ratings, predicted from gender/age/occupation):",
            "",
            markdown_table(["model", "cold-user RMSE", "known-user RMSE"], crow),
        ]
    if "speed" in results:
        s = results["speed"]
        parts += [
            "",
            markdown_table(
                ["speed (2-core CPU)", "value"],
                [
                    [
                        "training, reference architecture, numpy engine, 1 BLAS thread (samples/s)",
                        f"{s['train_samples_per_s_numpy']:,.0f}",
                    ],
                    [
                        "same, 2 BLAS threads (`Trainer(threads=2)`; idle machine only)",
                        f"{s['train_samples_per_s_numpy_2_threads']:,.0f}",
                    ],
                    [
                        "training, reference architecture, Paddle autograd (samples/s)",
                        f"{s['train_samples_per_s_paddle']:,.0f}",
                    ],
                    ["3,883-movie catalog encode (ms)", f"{s['movie_catalog_3883_ms']:.2f}"],
                    ["movies/s", f"{s['movies_per_s']:,.0f}"],
                    ["users/s (batch of 943)", f"{s['users_per_s']:,.0f}"],
                    ["one cold-start user vector, p50 (ms)", f"{s['single_user_p50_ms']:.4f}"],
                    [
                        "one user from raw values (encode + vector), p50 (ms)",
                        f"{s['encode_users_from_raw_p50_ms']:.4f}",
                    ],
                ],
            ),
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--folds", default="1,2,3,4,5", help="comma-separated fold numbers")
    parser.add_argument("--presets", default="reference,rating,default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--out", default="model", help="results name (benchmarks/results/NAME.json)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="a config override for every preset's fold runs, e.g. lazy_adam=true",
    )
    args = parser.parse_args()
    overrides = config_overrides(args.set)
    path = resolve_ml100k(args.data_dir)
    presets = args.presets.split(",")
    folds = [int(x) for x in args.folds.split(",")]
    start = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "model",
        "data": str(path),
        "protocol": {
            "rating": "train uN.base minus a 5% validation split (seeded) used for early "
            "stopping; RMSE/MAE over all uN.test ratings; predictions clipped to [1, 5] "
            "where the preset clips",
            "cold_start": "fold u1; 10% of users (seeded) removed from training; their u1.test "
            "ratings predicted with the unknown user id",
            "speed": "best epoch of 2 on u1.base minus validation, batch 256",
        },
        "presets": {
            n: ModelConfig.preset(n, seed=args.seed, **overrides).to_dict() for n in presets
        },
        "machine": machine_info(),
        "folds": rating_folds(path, presets, folds, args.seed, overrides),
    }
    if not args.skip_cold:
        results["cold_start"] = cold_start(path, args.seed)
    if not args.skip_speed:
        results["speed"] = speed(path, args.seed)
    text = _markdown(results, presets)
    results["seconds"] = round(time.perf_counter() - start, 1)
    write_results(args.out, results)
    print(text)


if __name__ == "__main__":
    main()
