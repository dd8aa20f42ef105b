"""Wall time of ``FusionRecommender().fit`` on an ml-1m-sized synthetic data set.

Generates 1,000,209 ratings of 6,040 users on 3,706 movies (ml-1m's counts) with
``synthetic_movielens`` and fits the default preset with its default schedule (early
stopping on a 5% validation split, then the preset's refit), as a user's first fit would.
Reports the fit's wall time, the epochs of each phase, the training seconds per epoch and
what validation and the rest cost, and the fit's CPU time (one BLAS thread: about the
wall time of a quiet machine, for runs on a busy one). Writes benchmarks/results/<out>.json.

    python benchmarks/bench_fit_ml1m.py [--preset default] [--set key=value ...] [--out fit_ml1m]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from _common import machine_info, write_results

from fusionrec import FusionRecommender, ModelConfig
from fusionrec.data import synthetic_movielens

ML1M_USERS, ML1M_MOVIES, ML1M_RATINGS = 6_040, 3_706, 1_000_209
TARGET_SECONDS = 300.0


def _overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` strings -> config overrides (values read as JSON, else as text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _phase(records: list[Any]) -> dict[str, Any]:
    seconds = [r.seconds for r in records]
    return {
        "epochs": len(records),
        "train_seconds": sum(seconds),
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
        "samples_per_second": [r.samples_per_second for r in records],
        "val_rmse": [r.val_rmse for r in records],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--out", default="fit_ml1m")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    data = synthetic_movielens(ML1M_USERS, ML1M_MOVIES, ML1M_RATINGS, seed=args.seed)
    generated = time.perf_counter() - start

    config = ModelConfig.preset(args.preset, **_overrides(args.set))
    rec = FusionRecommender(config)
    start, cpu = time.perf_counter(), time.process_time()
    rec.fit(data)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    history = rec.history_
    assert history is not None
    search, refit = _phase(history.epochs), _phase(history.refit_epochs)
    training = search["train_seconds"] + refit["train_seconds"]
    payload = {
        "machine": machine_info(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "data": {"users": ML1M_USERS, "movies": ML1M_MOVIES, "ratings": ML1M_RATINGS},
        "generate_seconds": generated,
        "config": config.to_dict(),
        "fit_seconds": wall,
        "fit_cpu_seconds": cpu,
        "target_seconds": TARGET_SECONDS,
        "met": wall <= TARGET_SECONDS,
        "best_epoch": history.best_epoch,
        "best_val_rmse": history.best_val_rmse,
        "stopped_early": history.stopped_early,
        "early_stopping_run": search,
        "refit": refit,
        "validation_and_other_seconds": wall - training,
    }
    path = write_results(args.out, payload)
    print(
        f"fit {wall:.1f} s, CPU {cpu:.1f} s (target {TARGET_SECONDS:.0f} s): "
        f"{search['epochs']} epochs "
        f"(best {history.best_epoch}, val RMSE {history.best_val_rmse:.4f}) + "
        f"{refit['epochs']} refit epochs; training {training:.1f} s, validation and the "
        f"rest {wall - training:.1f} s; load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
