"""Developer sessions: tests, lint, typecheck, docs, bench (``nox -s NAME``)."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ML100K = os.environ.get("FUSIONREC_ML100K", "../shared/data/ml-100k")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (the same command README and CI run)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[lint]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML docs with warnings as errors."""
    session.install("-e", ".[docs]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks behind the issues' targets (ml-100k from $FUSIONREC_ML100K).

    The 1M-vector HNSW sweep (``benchmarks/bench_hnsw.py``) runs on its own: it takes longer
    than all of these together; so does ``bench_throughput.py``, which compares this checkout's
    training speed with another checkout's (``--other-src``).
    """
    session.install("-e", ".[bench,serve]")
    env = {"FUSIONREC_ML100K": os.path.abspath(ML100K)}
    scripts = (
        "bench_load.py",
        "bench_load_25m.py",
        "bench_reliability.py",
        "bench_stores.py",
        "bench_model.py",
        "bench_fit_ml1m.py",
        "bench_scale_25m.py",
        "bench_retrieval.py",
        "bench_implicit.py",
        "bench_recommend.py",
        "bench_serving_path.py",
        "bench_serve.py",
    )
    for script in scripts:
        session.run("python", f"benchmarks/{script}", *session.posargs, env=env)
