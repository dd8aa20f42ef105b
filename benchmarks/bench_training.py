"""Training settings checked on validation data only: weight averaging and refit.

A nested split of ml-100k ``u1.base`` (never a test fold): 5% of it is a holdout (seed
``100 + seed``), the rest is split into a fit set and a 5% validation set (``seed``) for early
stopping. Each setting trains on fit (+ validation when it refits) and is scored by RMSE on
the holdout, which no setting sees. Several seeds, because one run moves by about 0.005.

Run: ``python benchmarks/bench_training.py [--data-dir DIR] [--seeds 0,1,2,3]``
Writes ``benchmarks/results/training_tuning.json`` and prints markdown.
"""

from __future__ import annotations

import argparse
import json
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
from bench_model import _evaluate

from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens, official_folds, random_split
from fusionrec.features import FeatureEncoder
from fusionrec.model import FusionModel
from fusionrec.train.trainer import Trainer

HOLDOUT_FRACTION = 0.05
VALIDATION_FRACTION = 0.05
PLAIN = {"weight_average": 0.0, "refit": False}
#: (preset, overrides): each preset without either setting, with averaging, with both
GRID: tuple[tuple[str, dict[str, Any]], ...] = (
    ("default", PLAIN),
    ("default", {"refit": False}),
    ("default", {}),
    ("rating", PLAIN),
    ("rating", {"refit": False}),
    ("rating", {}),
)


def holdout_rmse(config: ModelConfig, train: MovieLens, seed: int) -> dict[str, Any]:
    """Train ``config`` on the nested split of ``train``; RMSE on the untouched holdout."""
    rest, holdout = random_split(train, HOLDOUT_FRACTION, 100 + seed)
    fit, val = random_split(rest, VALIDATION_FRACTION / (1 - HOLDOUT_FRACTION), seed)
    encoder = FeatureEncoder.fit(train)
    model = FusionModel(config, encoder)
    start = time.perf_counter()
    history = Trainer(config, progress=False).fit(model, encoder, fit, val)
    return {
        "holdout_rmse": _evaluate(model, encoder, train, holdout)["rmse"],
        "val_rmse": history.best_val_rmse,
        "best_epoch": history.best_epoch,
        "train_seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds")
    parser.add_argument("--out", default="training_tuning", help="results name")
    args = parser.parse_args()
    path = resolve_ml100k(args.data_dir)
    seeds = [int(s) for s in args.seeds.split(",")]
    train, _ = official_folds(path)[0]
    runs: dict[str, dict[int, Any]] = {}
    for preset, overrides in GRID:
        key = f"{preset} {json.dumps(overrides, sort_keys=True)}"
        runs[key] = {}
        for seed in seeds:
            config = ModelConfig.preset(preset, seed=seed, **overrides)
            runs[key][seed] = holdout_rmse(config, train, seed)
            print(f"{key} seed {seed}: {runs[key][seed]}", flush=True)
    rows = [
        [
            key,
            *(f"{runs[key][s]['holdout_rmse']:.4f}" for s in seeds),
            f"{np.mean([runs[key][s]['holdout_rmse'] for s in seeds]):.4f}",
        ]
        for key in runs
    ]
    headers = ["setting", *(f"seed {s}" for s in seeds), "mean"]
    write_results(
        args.out,
        {"benchmark": "training_tuning", "machine": machine_info(), "seeds": seeds, "runs": runs},
    )
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
