"""Training step cost at ml-25m's table sizes, this checkout against another one, interleaved.

A stand-in for the 25M-rating epoch that takes minutes instead of hours: the users and movies
of ``bench_load_25m``'s generator (162,541 users, 62,423 movies with titles, genres, tags and
years: ~10.2M trained parameters in the csv schema) but only ``--ratings`` ratings trained for
one epoch (default 51,200: 200 steps of 256), so each step's cost shows what scales with the
tables rather than the batch: dense gradient tables, the optimizer's pass over every row, the
weight average. Each (variant, checkout) pair runs in its own process, checkouts alternating;
reported: the epoch's samples/s (validation excluded) per run and the best over the rounds.

Run: cd benchmarks && python bench_table_scale.py --other-src /path/to/other/checkout/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import alternate_checkouts, machine_info, preset_variant, write_results

VARIANTS = ("default", "default:lazy_adam=true", "reference")
_CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from bench_load_25m import generate
from fusionrec import FeatureEncoder, FusionModel, ModelConfig, Trainer
from fusionrec.data.dataset import as_dataset
from fusionrec.features.movielens import movielens_csv_schema
n_train, preset, overrides = int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
data = as_dataset(generate(300_000, 162_541, 62_423, 1_093_360, 0))
rows = np.random.default_rng(0).permutation(len(data.interactions))
fit = data.with_interactions(data.interactions.take(np.sort(rows[:n_train])))
val = data.with_interactions(data.interactions.take(np.sort(rows[n_train : n_train + 2_000])))
config = ModelConfig.preset(preset, epochs=1, patience=0, refit=False, rating_min=0.5, **overrides)
encoder = FeatureEncoder.fit(data, schema=movielens_csv_schema())
model = FusionModel(config, encoder)
history = Trainer(config, progress=False).fit(model, encoder, fit, val)
trained = sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)
print(json.dumps({"samples_per_second": history.epochs[0].samples_per_second,
                  "val_rmse": history.epochs[0].val_rmse, "trained_parameters": trained}))
"""


def _run(src: Path, n_train: int, spec: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(src))
    preset, overrides = preset_variant(spec)
    here = str(Path(__file__).resolve().parent)
    args = [sys.executable, "-c", _CHILD, here, str(n_train), preset, json.dumps(overrides)]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True, cwd="/")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-src", required=True, help="the other checkout's src directory")
    parser.add_argument("--other-name", default="other", help="label of the other checkout")
    parser.add_argument("--variants", default=";".join(VARIANTS), help="variants, ;-separated")
    parser.add_argument("--ratings", type=int, default=51_200, help="ratings trained")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="table_scale")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1] / "src"
    checkouts = {"this": here, args.other_name: Path(args.other_src).resolve()}
    start = time.perf_counter()
    runs, best = alternate_checkouts(
        args.variants.split(";"),
        checkouts,
        args.rounds,
        lambda src, spec: _run(src, args.ratings, spec),
        lambda result: float(result["samples_per_second"]),
    )
    write_results(
        args.out,
        {
            "benchmark": "table_scale",
            "protocol": f"one epoch of {args.ratings} ratings with ml-25m-sized tables (csv "
            "schema), numpy engine, 1 BLAS thread, each run in its own process, checkouts "
            "alternating; samples/s of the epoch, validation excluded",
            "checkouts": {k: str(v) for k, v in checkouts.items()},
            "machine": machine_info(),
            "runs": runs,
            "best": best,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
    print(json.dumps(best, indent=1))


if __name__ == "__main__":
    main()
