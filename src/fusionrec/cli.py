"""The ``fusionrec`` command line: train, index, recommend, similar, evaluate, serve, quickstart.

It covers the reference workflow's three scripts (train; load movie vectors into Milvus;
recommend for a user given by age, gender and job). Heavy modules are imported inside each
command, so ``fusionrec recommend`` does not pay for Paddle. User errors print one line on
stderr and exit with status 1; usage errors exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrec import __version__
from fusionrec.errors import ConfigError, FusionrecError, ValidationError

if TYPE_CHECKING:
    from fusionrec.data import Dataset, MovieLens
    from fusionrec.recommender import FusionRecommender, Recommendation
    from fusionrec.stores import MetadataField, VectorStore

#: The new user the quickstart recommends for: 25-34, female, occupation 4
#: (college/grad student in ml-1m, engineer in ml-100k).
SAMPLE_AGE, SAMPLE_GENDER, SAMPLE_OCCUPATION = 25, "F", 4
#: The quickstart's second new user, to show that demographics change the list: 56+, male,
#: occupation 13 (retired in ml-1m, "other" in ml-100k).
OTHER_AGE, OTHER_GENDER, OTHER_OCCUPATION = 56, "M", 13
#: The quickstart's demo schedule on synthetic data when --epochs is not given: the synthetic
#: set's validation RMSE is within 0.02 of its 12-epoch figure by then, and the run fits in
#: about a minute on a 2-core machine (the presets train up to 40 epochs).
SYNTHETIC_DEMO_EPOCHS = 5
#: A short schedule's steps: the 256-row schedule the presets had before the default preset's
#: 1024-row steps (issue 15), whose few epochs leave the two demo profiles' lists apart.
_DEMO_BATCH: dict[str, Any] = {
    "batch_size": 256,
    "softmax_block": 0,
    "learning_rate": 1e-3,
    "weight_average": 0.999,
}
DEFAULT_FAISS_PATH = "./fusionrec.faiss"
#: Mirrors fusionrec.config.PRESETS, kept here so --help does not import the model side.
PRESETS = ("default", "rating", "retrieval", "reference")
DEFAULT_PRESET = "default"
PRESET_HELP = (
    f"model preset (default {DEFAULT_PRESET!r}: ratings and top-N in one model; "
    "'rating' is rating-only)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fusionrec`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except FusionrecError as exc:
        print(f"fusionrec: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fusionrec: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="fusionrec",
        description="Two-tower fusion recommender with movie vectors in Milvus or Faiss.",
    )
    parser.add_argument("--version", action="version", version=f"fusionrec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train the model and save a model directory",
        description="Train on a MovieLens release (--data-dir), synthetic data, or your own "
        "CSV/Parquet files (--interactions, with optional --users and --items tables).",
    )
    _add_data_source(train, own_files=True)
    _add_own_data_options(train)
    train.add_argument("--model-dir", type=Path, help="where to save the model (required)")
    train.add_argument(
        "--preset",
        choices=PRESETS,
        help=PRESET_HELP + "; default: 'retrieval' for data without ratings",
    )
    train.add_argument("--epochs", type=int, help="maximum number of epochs")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--seed", type=int)
    _add_quiet(train)
    train.set_defaults(handler=cmd_train)

    index = commands.add_parser("index", help="load every movie vector into the vector store")
    index.add_argument("--model-dir", required=True, type=Path)
    source = index.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, help="MovieLens directory or zip to index")
    source.add_argument("--movies", type=Path, help="a movies.dat or u.item file to index")
    _add_store_options(index)
    index.add_argument("--replace", action="store_true", help="swap the whole catalog atomically")
    index.add_argument("--batch-size", type=int, default=1024, help="movies per upsert")
    _add_quiet(index)
    index.set_defaults(handler=cmd_index)

    rec = commands.add_parser("recommend", help="top items for a known or a new user")
    rec.add_argument("--model-dir", required=True, type=Path)
    _add_store_options(rec, default_store=None)
    rec.add_argument(
        "-u", "--user-id", type=_entity_id, help="a user id from the training data (int or str)"
    )
    rec.add_argument(
        "-f",
        "--feature",
        action="append",
        type=_feature,
        metavar="NAME=VALUE",
        help="a new user's feature, e.g. country=DE (repeatable; a value is read as a number "
        "where the training column holds numbers)",
    )
    rec.add_argument("-a", "--age", type=int, help="age in years or ml-1m bucket")
    rec.add_argument("-g", "--gender", help="M or F")
    rec.add_argument("-j", "--occupation", help="occupation id or name")
    rec.add_argument("-k", type=int, default=5, help="how many movies (default 5)")
    rec.add_argument("--genre", action="append", help="only these genres (repeatable)")
    rec.add_argument("--filter", metavar="EXPR", help=_FILTER_HELP)
    rec.add_argument("--include-seen", action="store_true", help="keep movies the user rated")
    rec.add_argument("--json", action="store_true", help="print a JSON list")
    rec.set_defaults(handler=cmd_recommend)

    similar = commands.add_parser("similar", help="items similar to an item")
    similar.add_argument("--model-dir", required=True, type=Path)
    _add_store_options(similar, default_store=None)
    similar.add_argument(
        "-i", "--item-id", "-m", "--movie-id", dest="item_id", type=_entity_id, required=True
    )
    similar.add_argument("-k", type=int, default=5)
    similar.add_argument("--genre", action="append")
    similar.add_argument("--filter", metavar="EXPR", help=_FILTER_HELP)
    similar.add_argument("--json", action="store_true")
    similar.set_defaults(handler=cmd_similar)

    evaluate = commands.add_parser("evaluate", help="RMSE/MAE (and top-N) on a data set")
    evaluate.add_argument("--model-dir", required=True, type=Path)
    evaluate.add_argument("--data-dir", required=True, type=Path)
    evaluate.add_argument("-k", type=int, help="also compute Recall/NDCG/HR at k")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=cmd_evaluate)

    serve = commands.add_parser(
        "serve", help="serve the JSON API and web page over HTTP (needs fusionrec[serve])"
    )
    serve.add_argument("--model-dir", required=True, type=Path)
    _add_store_options(serve, default_store=None)
    serve.add_argument(
        "--writable",
        action="store_true",
        help="open the store for writing, so POST /api/items can add items (default read-only)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default info)",
    )
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.set_defaults(handler=cmd_serve)

    quick = commands.add_parser(
        "quickstart", help="download or take data, train, index into Milvus Lite, recommend"
    )
    _add_data_source(quick, required=False)
    quick.add_argument("--workdir", type=Path, default=Path("fusionrec-quickstart"))
    quick.add_argument(
        "--epochs",
        type=int,
        help="maximum number of epochs (default: the preset's; "
        f"{SYNTHETIC_DEMO_EPOCHS} with --synthetic)",
    )
    quick.add_argument("--preset", default=DEFAULT_PRESET, choices=PRESETS, help=PRESET_HELP)
    quick.add_argument("--cache-dir", type=Path, help="where downloads are kept")
    _add_quiet(quick)
    quick.set_defaults(handler=cmd_quickstart)
    return parser


def _add_data_source(
    parser: argparse.ArgumentParser, *, required: bool = True, own_files: bool = False
) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--data-dir", type=Path, help="MovieLens directory or zip (any release, e.g. ml-1m)"
    )
    group.add_argument(
        "--synthetic", action="store_true", help="generate a synthetic MovieLens-like data set"
    )
    if own_files:
        group.add_argument(
            "--interactions",
            type=Path,
            metavar="FILE",
            help="your interactions, CSV or Parquet: a user id and an item id per row, "
            "optionally a rating, weight and timestamp",
        )


def _add_own_data_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``train --interactions``: the other tables, column names and the schema."""
    own = parser.add_argument_group("your own data (with --interactions)")
    own.add_argument("--users", type=Path, metavar="FILE", help="a users table (one row a user)")
    own.add_argument("--items", type=Path, metavar="FILE", help="an items table (one row an item)")
    own.add_argument(
        "--schema",
        type=Path,
        metavar="FILE",
        help="the features as schema JSON (default: inferred from the columns; see --print-schema)",
    )
    own.add_argument("--user-col", default="user_id", help="user id column (default user_id)")
    own.add_argument("--item-col", default="item_id", help="item id column (default item_id)")
    own.add_argument("--rating-col", help="rating column (none: implicit feedback)")
    own.add_argument("--weight-col", help="weight column, e.g. play counts")
    own.add_argument("--timestamp-col", help="timestamp column (unix seconds or dates)")
    own.add_argument(
        "--list-column",
        action="append",
        default=[],
        metavar="NAME",
        help="a CSV column of lists separated by '|' (repeatable)",
    )
    own.add_argument(
        "--print-schema",
        action="store_true",
        help="print the schema (inferred or given) as Python and JSON, then exit",
    )


def _add_store_options(
    parser: argparse.ArgumentParser, *, default_store: str | None = "milvus"
) -> None:
    parser.add_argument(
        "--store",
        choices=["milvus", "faiss"],
        default=default_store,
        help="vector store backend" + (" (default milvus)" if default_store else ""),
    )
    parser.add_argument(
        "--uri",
        help="Milvus Lite file, http://host:19530 for a Milvus server, or the Faiss index file",
    )
    parser.add_argument("--token", help="Milvus server token (user:password)")
    parser.add_argument("--collection", default="movies", help="Milvus collection name")


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


# ---------------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    """``fusionrec train``: fit on a data set and save the model directory."""
    from fusionrec.config import ModelConfig
    from fusionrec.data.dataset import as_dataset
    from fusionrec.recommender import FusionRecommender

    if args.interactions is None:
        extra = [f"--{o.replace('_', '-')}" for o in _OWN_DATA_OPTIONS if getattr(args, o)]
        if extra:
            raise ConfigError(f"{', '.join(extra)} need(s) --interactions FILE")
    if args.model_dir is None and not args.print_schema:
        raise ConfigError("--model-dir is required (where to save the model)")
    raw = _train_data(args)  # a MovieLens stays one for fit: its demographics normalize
    data = as_dataset(raw)
    if args.print_schema:
        _print_schema(data)
        return 0
    options = {
        name: value
        for name, value in (
            ("epochs", args.epochs),
            ("batch_size", args.batch_size),
            ("learning_rate", args.learning_rate),
            ("seed", args.seed),
        )
        if value is not None
    }
    config = None
    if args.preset is not None:
        scale = data.rating_scale or (1.0, 5.0)
        config = ModelConfig.preset(args.preset, rating_min=scale[0], rating_max=scale[1])
    elif data.implicit:
        print("no ratings: training the 'retrieval' preset on the interactions", file=sys.stderr)
    rec = FusionRecommender(config, progress=not args.quiet)
    started = time.perf_counter()
    rec.fit(raw, **options)
    rec.save(args.model_dir)
    what = "ratings" if not data.implicit else "interactions"
    print(
        f"trained on {len(data.interactions):,} {what} in "
        f"{time.perf_counter() - started:.1f} s; {_history_summary(rec)}; "
        f"model saved to {args.model_dir}"
    )
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """``fusionrec index``: encode every movie and upsert it into the store."""
    from fusionrec.recommender import FusionRecommender

    rec = FusionRecommender.load(args.model_dir, progress=not args.quiet)
    store = _open_store(args, rec.bundle.dim, fields=rec.fields)
    rec.store = store
    movies = None
    if args.data_dir is not None:
        movies = _load_movielens(args.data_dir).movies
    elif args.movies is not None:
        from fusionrec.data import load_movies_file

        movies = load_movies_file(args.movies)
    started = time.perf_counter()
    count = rec.index_movies(movies, replace=args.replace, batch_size=args.batch_size)
    _persist_store(args, store)
    rec.save(args.model_dir)
    print(
        f"indexed {count:,} movies into {_describe_store(args)} "
        f"in {time.perf_counter() - started:.1f} s ({store.count():,} in the store)"
    )
    rec.close()
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    """``fusionrec recommend``: top-k for ``-u USER``, ``--feature NAME=VALUE`` (repeatable)
    or, for MovieLens, ``-a AGE -g GENDER -j OCCUPATION``."""
    features: dict[str, str] = dict(args.feature or [])
    demographics = {"age": args.age, "gender": args.gender, "occupation": args.occupation}
    given = {name: value for name, value in demographics.items() if value is not None}
    if given and len(given) < len(demographics) and args.user_id is None:
        raise ValidationError(
            "pass -u USER_ID for a known user, or all of -a AGE -g GENDER -j OCCUPATION"
        )
    if args.user_id is None and not given and not features:
        raise ValidationError(
            "pass -u USER_ID for a known user, or a new user's --feature NAME=VALUE "
            "(MovieLens: -a AGE -g GENDER -j OCCUPATION)"
        )
    occupation = given.get("occupation")
    if isinstance(occupation, str) and occupation.strip().isdigit():
        given["occupation"] = int(occupation)
    rec = _load_for_serving(args)
    with rec:
        results = rec.recommend(
            _id_of(args.user_id, string_ids=rec.users.string_ids),
            k=args.k,
            exclude_seen=not args.include_seen,
            filter=_filter(args.genre, args.filter),
            **{**_typed(features, rec.users), **given},
        )
    _print_recommendations(results, as_json=args.json)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    """``fusionrec similar``: items closest to ``-i ITEM_ID`` (``-m MOVIE_ID``)."""
    rec = _load_for_serving(args)
    with rec:
        flt = _filter(args.genre, args.filter)
        item = _id_of(args.item_id, string_ids=rec.items.string_ids)
        assert item is not None  # --item-id is required
        results = rec.similar_items(item, k=args.k, filter=flt)
    _print_recommendations(results, as_json=args.json)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``fusionrec evaluate``: rating error (and top-N with ``-k``) on a data set."""
    from fusionrec.recommender import FusionRecommender

    rec = FusionRecommender.load(args.model_dir)
    result = rec.evaluate(_load_movielens(args.data_dir), k=args.k)
    if args.json:
        print(json.dumps({k: v for k, v in vars(result).items() if v is not None}))
    else:
        line = (
            f"RMSE {result.rmse:.4f}  MAE {result.mae:.4f}  ({result.n_ratings:,} ratings)"
            if result.rmse is not None and result.mae is not None
            else f"no ratings to predict ({result.n_ratings:,} interactions)"
        )
        if result.k is not None:
            line += (
                f"\nRecall@{result.k} {result.recall:.4f}  NDCG@{result.k} {result.ndcg:.4f}  "
                f"HR@{result.k} {result.hit_rate:.4f}  ({result.n_users:,} users)"
            )
        print(line)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``fusionrec serve``: the HTTP API and web page until SIGINT/SIGTERM, then a clean exit."""
    try:
        import uvicorn

        from fusionrec.server import create_app
    except ImportError as exc:
        raise ConfigError(
            f"fusionrec serve needs the serve extra ({exc.name} is missing): "
            "pip install 'fusionrec[serve]'"
        ) from None
    rec = _load_for_serving(args, writable=args.writable)
    with rec:  # closes the store if startup fails; on shutdown the app's lifespan closes it
        count = rec.store.count()  # open the store now: a missing or locked one fails here
        print(
            f"serving {count:,} items from {rec.store.backend} on http://{args.host}:{args.port}/ "
            "(API docs at /docs; Ctrl-C stops)",
            file=sys.stderr,
        )
        # uvicorn finishes in-flight requests and runs the lifespan shutdown on SIGINT/SIGTERM,
        # then re-raises the signal, so the process ends as the signal asked
        uvicorn.run(
            create_app(rec),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=not args.no_access_log,
            timeout_graceful_shutdown=30,
        )
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    """``fusionrec quickstart``: the whole reference workflow on Milvus Lite, with timings."""
    from fusionrec.config import ModelConfig
    from fusionrec.recommender import FusionRecommender
    from fusionrec.stores import MilvusStore

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    data = _quickstart_data(args)
    timings["load data"] = time.perf_counter() - started
    print(f"[1/4] data: {data!r}", flush=True)

    started = time.perf_counter()
    config = ModelConfig.preset(args.preset)
    epochs = args.epochs
    demo = epochs is None and args.synthetic
    if demo:
        epochs = SYNTHETIC_DEMO_EPOCHS
        print(
            f"      demo schedule: at most {epochs} epochs on synthetic data (the preset "
            f"trains up to {config.epochs}; pass --epochs to change)",
            flush=True,
        )
    # a short schedule refits from scratch, as before the default preset's warm refit: after a
    # few epochs that keeps the two demo profiles' lists apart (a warm refit gave both one top 5)
    options: dict[str, Any] = {} if epochs is None else {"epochs": epochs, "warm_refit_epochs": 0}
    if demo and config.batch_size > _DEMO_BATCH["batch_size"]:
        options.update(_DEMO_BATCH)  # 5 epochs of 1024-row steps gave both profiles one top 5
    rec = FusionRecommender(config, progress=not args.quiet)
    rec.fit(data, **options)
    timings["train"] = time.perf_counter() - started
    print(f"[2/4] trained the {args.preset!r} preset: {_history_summary(rec)}", flush=True)

    started = time.perf_counter()
    uri = str((workdir / "fusionrec.db").absolute())
    store = MilvusStore(uri=uri, collection="movies", dim=rec.bundle.dim)
    rec.store = store
    count = rec.index_movies()
    model_dir = rec.save(workdir / "model")
    timings["index into Milvus Lite"] = time.perf_counter() - started
    print(
        f"[3/4] indexed {count:,} movies into Milvus Lite at {uri}; model in {model_dir}",
        flush=True,
    )

    profiles = [
        (SAMPLE_AGE, SAMPLE_GENDER, SAMPLE_OCCUPATION),
        (OTHER_AGE, OTHER_GENDER, OTHER_OCCUPATION),
    ]
    print(f"[4/4] top 5 for {len(profiles)} new users, from their demographics alone")
    started = time.perf_counter()
    for age, gender, occupation in profiles:
        results = rec.recommend(age=age, gender=gender, occupation=occupation, k=5)
        print(
            f"age {age}, gender {gender}, occupation {occupation} ({rec.occupations[occupation]}):"
        )
        _print_recommendations(results, as_json=False)
    timings["recommend"] = time.perf_counter() - started
    rec.close()
    print("timings: " + ", ".join(f"{name} {sec:.2f} s" for name, sec in timings.items()))
    print(f"next: fusionrec recommend --model-dir {model_dir} -a 35 -g M -j 12 -k 10")
    return 0


# ---------------------------------------------------------------------------- helpers


def _history_summary(rec: FusionRecommender) -> str:
    """Which epoch was kept, its validation figures (RMSE, and NDCG@10 when measured), refit."""
    history = rec.history_
    if history is None:
        return "no training history"
    text = f"kept epoch {history.best_epoch}: validation RMSE {history.best_val_rmse:.4f}"
    if history.best_val_ndcg == history.best_val_ndcg:  # not NaN
        text += f", NDCG@10 {history.best_val_ndcg:.4f}"
    text += f" (selected on {history.selected_on})"
    if history.refit_epochs:
        text += f", then refit on all {history.n_refit:,} ratings"
    return text


#: ``train`` options that only mean something with ``--interactions``
_OWN_DATA_OPTIONS = ("users", "items", "schema", "rating_col", "weight_col", "timestamp_col")


def _train_data(args: argparse.Namespace) -> MovieLens | Dataset:
    """What ``train`` trains on: a MovieLens release, synthetic data, or the user's files."""
    if args.interactions is None:
        return _load_data(args)
    from fusionrec.data.frames import read_dataset
    from fusionrec.features import Schema

    data = read_dataset(
        args.interactions,
        args.users,
        args.items,
        user=args.user_col,
        item=args.item_col,
        rating=args.rating_col,
        weight=args.weight_col,
        timestamp=args.timestamp_col,
        schema=Schema.load(args.schema) if args.schema is not None else None,
        list_columns=tuple(args.list_column),
    )
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    return data


def _print_schema(data: Dataset) -> None:
    """The data set's schema as Python (to adjust in code) and as JSON (for --schema)."""
    from fusionrec.data.inference import schema_source

    assert data.schema is not None
    kinds = sorted(
        {type(f).__name__ for side in (data.schema.user, data.schema.item) for f in side}
    )
    print("# Python")
    print(f"from fusionrec import {', '.join([*kinds, 'Schema'])}")
    print(f"schema = {schema_source(data.schema)}")
    print("# JSON: save as schema.json and pass --schema schema.json")
    print(json.dumps(data.schema.to_dict(), indent=2))


def _load_movielens(path: Path) -> MovieLens:
    from fusionrec.data import load_movielens

    return load_movielens(path)


def _load_data(args: argparse.Namespace) -> MovieLens:
    if getattr(args, "synthetic", False):
        from fusionrec.data import synthetic_movielens

        return synthetic_movielens(n_users=2000, n_movies=1000, n_ratings=200_000, seed=0)
    return _load_movielens(args.data_dir)


def _quickstart_data(args: argparse.Namespace) -> MovieLens:
    if args.synthetic or args.data_dir is not None:
        return _load_data(args)
    from fusionrec.data import download_movielens
    from fusionrec.errors import DownloadError

    cache = args.cache_dir or Path.home() / ".cache" / "fusionrec"
    try:
        archive = download_movielens("ml-1m", cache)
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}. No network? Run with --data-dir DIR (an ml-1m or ml-100k directory) "
            "or --synthetic instead"
        ) from exc
    return _load_movielens(archive)


def _open_store(
    args: argparse.Namespace,
    dim: int,
    *,
    read_only: bool = False,
    fields: Sequence[MetadataField] | None = None,
) -> VectorStore:
    """The store the command line names; an existing Faiss file keeps its path and kind.

    ``fields``: the metadata a store created here keeps (the model's display fields).
    """
    from fusionrec.stores import FaissStore, MilvusStore

    if args.store == "faiss":
        path = Path(args.uri or DEFAULT_FAISS_PATH).absolute()
        return FaissStore(dim=dim, path=path, read_only=read_only, fields=fields)
    uri = args.uri or "./fusionrec.db"
    if "://" not in uri:
        uri = str(Path(uri).absolute())
    return MilvusStore(
        uri=uri,
        collection=args.collection,
        dim=dim,
        token=args.token,
        read_only=read_only,
        fields=fields,
    )


def _persist_store(args: argparse.Namespace, store: VectorStore) -> None:
    from fusionrec.stores import FaissStore

    if isinstance(store, FaissStore):
        store.save(Path(args.uri or DEFAULT_FAISS_PATH).absolute())


def _describe_store(args: argparse.Namespace) -> str:
    if args.store == "faiss":
        return f"Faiss ({args.uri or DEFAULT_FAISS_PATH})"
    uri = args.uri or "./fusionrec.db"
    return f"Milvus ({uri}, collection {args.collection!r})"


def _load_for_serving(args: argparse.Namespace, *, writable: bool = False) -> FusionRecommender:
    """Load the model directory; the store is the saved one unless --store/--uri name another.

    Either way it is opened read-only unless ``writable`` (``serve --writable``); --token goes
    only to the --uri of the same command, never to a URI the model directory names.
    """
    from fusionrec.errors import ConfigError
    from fusionrec.recommender import FusionRecommender

    if args.token and args.uri is None:
        raise ConfigError(
            "--token is sent only to a server named in the same command: pass --uri with "
            "--token (the model directory's saved URI is not trusted with credentials)"
        )
    options = {"read_only": False} if writable else None
    rec = FusionRecommender.load(args.model_dir, progress=False, store_options=options)
    if args.store is not None or args.uri is not None:
        args.store = args.store or "milvus"
        rec.store = _open_store(args, rec.bundle.dim, read_only=not writable, fields=rec.fields)
    return rec


def _entity_id(text: str) -> str:
    """A user or item id from the command line, kept as text until the model says its kind."""
    if not text:
        raise argparse.ArgumentTypeError("an id must not be empty")
    return text


def _id_of(text: str | None, *, string_ids: bool) -> int | str | None:
    """``text`` as the model's kind of id: the string itself (an SKU such as "00123" keeps
    its zeros), or an int when the ids are ints and it reads as one."""
    if text is None or string_ids:
        return text
    try:
        return int(text)
    except ValueError:
        return text  # not an int: the model reports it as an unknown id


def _feature(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` as (name, value text)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), raw


def _typed(features: dict[str, str], users: Any) -> dict[str, Any]:
    """Feature values as the training column's kind: numbers where it holds numbers, else text
    (a zip code "00123" stays text)."""
    from fusionrec.catalog import column_kind

    out: dict[str, Any] = {}
    for name, raw in features.items():
        column = users.columns.get(name)
        kind = column_kind(column) if column is not None else None
        value: Any = raw
        if kind in ("int", "float", "bool"):
            for parse in (int, float):
                try:
                    value = parse(raw)
                    break
                except ValueError:
                    continue
        out[name] = value
    return out


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


_FILTER_HELP = (
    'only items matching a filter expression, e.g. "year >= 1990 and genres contains_any '
    "['Comedy']\" (docs/stores.md); combined with --genre by AND"
)


def _filter(genres: list[str] | None, expr: str | None) -> Any:
    """The search filter of ``--genre`` (any of them) and ``--filter EXPR``, ANDed."""
    from fusionrec.stores import Filter, Predicate, parse_filter

    parts: list[Predicate] = [Filter(genres_any=list(genres))] if genres else []
    if expr is not None:
        parts.append(parse_filter(expr))
    if len(parts) < 2:
        return parts[0] if parts else None
    return parts[0] & parts[1]


def _print_recommendations(results: list[Recommendation], *, as_json: bool) -> None:
    """A ranked table (or JSON): the ranking score, and the predicted rating where there is one."""
    if as_json:
        print(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return
    if not results:
        print("(no items matched)")
        return
    titles = [_label(r) for r in results]
    width = max(len("title"), *(len(t) for t in titles))
    ids = [str(r.item_id) for r in results]
    id_width = max(8, *(len(i) for i in ids))
    rated = any(r.rating is not None for r in results)
    movies = all("title" in r.metadata for r in results)
    header = f"{'rank':>4}  {'movie id' if movies else 'item id':>{id_width}}  "
    header += f"{'title' if movies else 'item':<{width}}  {'score':>6}"
    print(header + (f"  {'rating':>6}" if rated else ""))
    for rank, (r, item, title) in enumerate(zip(results, ids, titles, strict=True), start=1):
        line = f"{rank:>4}  {item:>{id_width}}  {title:<{width}}  {r.score:6.3f}"
        if rated:
            line += "  " + ("     -" if r.rating is None else f"{r.rating:6.2f}")
        print(line)


def _label(r: Recommendation) -> str:
    """A movie's title (year); another item's display fields as ``name=value`` pairs."""
    if "title" in r.metadata:
        return f"{r.title} ({r.year})" if r.year else r.title
    return ", ".join(f"{k}={_shown(v)}" for k, v in r.metadata.items())


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "|".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
