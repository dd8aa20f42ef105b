"""Shared helpers of the benchmark scripts: machine description, results JSON, tables, data path."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: Where every benchmark writes ``<name>.json``.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Environment variable naming the ml-100k directory.
ML100K_ENV = "FUSIONREC_ML100K"
#: Default ml-100k location on the development machine (never assumed to exist).
ML100K_DEFAULT = Path("/work/shared/data/ml-100k")

_PACKAGES = ("numpy", "paddle", "pymilvus", "faiss", "fusionrec")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # an absent or broken optional package is reported, not fatal
        return None
    return str(getattr(mod, "__version__", "unknown"))


def machine_info(packages: Sequence[str] = _PACKAGES) -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and package versions (None if not importable)."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cores": len(cores) if cores is not None else os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in packages},
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_results(name: str, payload: Mapping[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``payload`` as ``<results_dir>/<name>.json`` atomically (temp file + rename).

    A ``name`` with a folder in it, or ending in ``.json``, is a path of its own (``.json``
    added if missing), so ``--out /tmp/run1`` writes ``/tmp/run1.json`` rather than failing
    after the run.
    """
    target = _results_target(name, results_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=False, default=_jsonable)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _results_target(name: str, results_dir: Path) -> Path:
    """Where :func:`write_results` writes ``name``."""
    path = Path(name).expanduser()
    if len(path.parts) == 1 and path.suffix != ".json":
        return results_dir / f"{name}.json"
    return path if path.suffix == ".json" else path.with_name(f"{path.name}.json")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> str:
    """A GitHub markdown table; floats are rounded to ``digits`` places."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def config_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``FIELD=JSON`` strings (``--set`` arguments) -> ModelConfig overrides."""
    return {key: json.loads(value) for key, _, value in (item.partition("=") for item in items)}


def preset_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """``PRESET:FIELD=JSON,...`` -> the preset and its overrides."""
    preset, _, rest = spec.partition(":")
    return preset, config_overrides(filter(None, rest.split(",")))


def alternate_checkouts(
    specs: Sequence[str],
    checkouts: Mapping[str, Path],
    rounds: int,
    run: Callable[[Path, str], Any],
    samples_per_second: Callable[[Any], float],
    this_only: Callable[[str], bool] = lambda spec: False,
) -> tuple[dict[str, dict[str, list[Any]]], dict[str, dict[str, float]]]:
    """Run each spec ``rounds`` times per checkout, the checkouts alternating so both see the
    same load: every run's result, and per spec the best samples/s per checkout.

    ``checkouts`` maps labels to ``src`` directories, ``"this"`` first; a spec for which
    ``this_only`` holds runs on ``"this"`` only. With both, the best figures get ``ratio``
    (this / the other).
    """
    runs: dict[str, dict[str, list[Any]]] = {}
    for spec in specs:
        where = {"this": checkouts["this"]} if this_only(spec) else checkouts
        runs[spec] = {name: [] for name in where}
        for _ in range(rounds):
            for name, src in where.items():
                result = run(src, spec)
                runs[spec][name].append(result)
                print(spec, name, f"{samples_per_second(result):,.0f} samples/s", flush=True)
    best: dict[str, dict[str, float]] = {}
    other = [name for name in checkouts if name != "this"]
    for spec, by_name in runs.items():
        best[spec] = {n: max(samples_per_second(r) for r in rs) for n, rs in by_name.items()}
        if other and other[0] in best[spec]:
            best[spec]["ratio"] = best[spec]["this"] / best[spec][other[0]]
    return runs, best


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` (ml-100k directory) to a benchmark's argument parser."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"ml-100k directory (default: ${ML100K_ENV}, else {ML100K_DEFAULT})",
    )


def resolve_ml100k(data_dir: Path | str | None = None) -> Path:
    """The ml-100k directory from ``--data-dir``, ``$FUSIONREC_ML100K`` or the default.

    Exits with a one-line message (no traceback) when the directory or its files are missing.
    """
    if data_dir is not None:
        path, origin = Path(data_dir), "--data-dir"
    elif os.environ.get(ML100K_ENV):
        path, origin = Path(os.environ[ML100K_ENV]), f"${ML100K_ENV}"
    else:
        path, origin = ML100K_DEFAULT, "the default path"
    if not (path / "u.data").is_file():
        raise SystemExit(
            f"error: no MovieLens 100K at {path} (from {origin}): expected {path / 'u.data'}. "
            f"Download ml-100k from https://grouplens.org/datasets/movielens/100k/ and pass "
            f"--data-dir or set {ML100K_ENV}."
        )
    return path


@contextmanager
def milvus_server() -> Iterator[str]:
    """Start a Milvus standalone (PyPI package ``milvus``) on 127.0.0.1 for the run."""
    from milvus import MilvusServer

    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as base:
        server = MilvusServer()
        server.set_base_dir(base)
        server.start()
        try:
            yield f"http://127.0.0.1:{server.listen_port}"
        finally:
            server.stop()
