"""Training throughput of every preset, this checkout against another one, interleaved.

Each (preset, checkout) pair trains 3 epochs (no early stopping) on ml-100k u1.base minus a 5%
validation split in its own process, through the public API only; the rounds alternate the two
checkouts so both see the same machine load. Reported: the best epoch's samples/s per run and
the best over the rounds.

``--variant default:lazy_adam=true`` adds a preset with config overrides, run on this
checkout only (the other may not know the field). Each checkout's figures are also reported
as ratios to its own reference preset from the same run.

Run: cd benchmarks && python bench_throughput.py --other-src /path/to/other/checkout/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    add_data_dir_argument,
    alternate_checkouts,
    machine_info,
    preset_variant,
    resolve_ml100k,
    write_results,
)

PRESETS = ("reference", "rating", "default", "retrieval")
_CHILD = """
import json, sys
from fusionrec import FeatureEncoder, FusionModel, ModelConfig, Trainer
from fusionrec.data import official_folds, random_split
train, _ = official_folds(sys.argv[1])[0]
fit, val = random_split(train, test_fraction=0.05, seed=0)
overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
config = ModelConfig.preset(sys.argv[2], epochs=3, patience=0, refit=False, **overrides)
encoder = FeatureEncoder.fit(train)
history = Trainer(config, progress=False).fit(FusionModel(config, encoder), encoder, fit, val)
print(json.dumps(max(e.samples_per_second for e in history.epochs)))
"""


def _run(src: Path | None, path: Path, preset: str) -> float:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    name, overrides = preset_variant(preset)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), name, json.dumps(overrides)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--other-src", required=True, help="the other checkout's src directory")
    parser.add_argument("--other-name", default="other", help="label of the other checkout")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="throughput")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="PRESET:FIELD=JSON[,FIELD=JSON]: a preset with overrides, this checkout only",
    )
    args = parser.parse_args()
    path = resolve_ml100k(args.data_dir)
    here = Path(__file__).resolve().parents[1] / "src"
    checkouts = {"this": here, args.other_name: Path(args.other_src).resolve()}
    start = time.perf_counter()
    runs, best = alternate_checkouts(
        [*args.presets.split(","), *args.variant],
        checkouts,
        args.rounds,
        lambda src, preset: _run(src, path, preset),
        float,
        this_only=lambda preset: ":" in preset,
    )
    if "reference" in best:
        for b in best.values():
            for name in checkouts:
                if name in b:
                    b[f"{name}_to_reference"] = b[name] / best["reference"][name]
    write_results(
        args.out,
        {
            "benchmark": "throughput",
            "data": str(path),
            "protocol": "best epoch of 3 on u1.base minus a 5% validation split, numpy engine, "
            "1 BLAS thread, each run in its own process, checkouts alternating",
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
