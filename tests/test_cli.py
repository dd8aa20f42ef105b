"""The reference workflow through the command line: train -> index -> recommend."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusionrec import FaissStore, FusionRecommender, __version__
from fusionrec.atomic import current_version
from fusionrec.cli import main
from fusionrec.data import MovieLens, write_movielens


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory, small_data: MovieLens) -> dict[str, Path]:
    """Data written in ml-1m format and a model trained on it through ``fusionrec train``."""
    root = tmp_path_factory.mktemp("cli")
    data_dir = root / "ml-1m"
    write_movielens(small_data, data_dir, format="ml-1m")
    model_dir = root / "model"
    code = main(
        ["train", "--data-dir", str(data_dir), "--model-dir", str(model_dir), "--epochs", "2", "-q"]
    )
    assert code == 0
    return {"root": root, "data": data_dir, "model": model_dir}


def _json_out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("store", ["milvus", "faiss"])
def test_train_index_recommend(
    workflow: dict[str, Path], store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(workflow["model"])
    uri = str(workflow["root"] / ("m.db" if store == "milvus" else "movies.faiss"))
    assert main(["index", "--model-dir", model, "--store", store, "--uri", uri, "-q"]) == 0
    assert "indexed" in capsys.readouterr().out

    recs = _json_out(
        capsys,
        ["recommend", "--model-dir", model, "-a", "25", "-g", "F", "-j", "4", "-k", "5", "--json"],
    )
    assert len(recs) == 5
    assert set(recs[0]) == {"item_id", "movie_id", "title", "genres", "year", "score", "rating"}
    scores = [float(r["score"]) for r in recs]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True)  # the score the list is ranked by
    ratings = [float(r["rating"]) for r in recs]  # type: ignore[arg-type]
    dim = FusionRecommender.load(model).bundle.dim
    rec = FusionRecommender.load(model, store=FaissStore(dim=dim))
    ids = [int(r["movie_id"]) for r in recs]  # type: ignore[call-overload]
    expected = rec.predict({"age": 25, "gender": "F", "occupation": 4}, ids)
    np.testing.assert_allclose(ratings, expected, atol=1e-3)  # the predicted ratings

    drama = _json_out(
        capsys,
        ["recommend", "--model-dir", model, "-u", "1", "--genre", "Drama", "-k", "3", "--json"],
    )
    assert len(drama) == 3 and all("Drama" in r["genres"] for r in drama)  # type: ignore[operator]
    expr = "year >= 1990 and not genres contains_any ['Drama', 'Comedy']"
    recent = _json_out(
        capsys,
        ["recommend", "--model-dir", model, "-u", "1", "--filter", expr, "-k", "4", "--json"],
    )
    assert len(recent) == 4
    for row in recent:
        assert int(row["year"]) >= 1990  # type: ignore[call-overload]
        assert not {"Drama", "Comedy"} & set(row["genres"])  # type: ignore[call-overload]
    both = ["--genre", "Drama", "--filter", "year < 1990"]
    old = _json_out(
        capsys, ["recommend", "--model-dir", model, "-u", "1", *both, "-k", "2", "--json"]
    )
    assert old and all("Drama" in r["genres"] and int(r["year"]) < 1990 for r in old)  # type: ignore[operator, call-overload]
    capsys.readouterr()
    bad = ["recommend", "--model-dir", model, "-u", "1", "--filter", "price < 20"]
    assert main(bad) == 1
    assert "unknown field 'price'" in capsys.readouterr().err
    assert main([*bad[:-1], "year <"]) == 1
    assert "position 6" in capsys.readouterr().err

    assert main(["recommend", "--model-dir", model, "-a", "30", "-g", "M", "-j", "programmer"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["rank", "movie", "id"] and len(table) == 6
    assert table[0].split()[-2:] == ["score", "rating"]
    assert all(
        float(row.split()[-2]) <= float(above.split()[-2])
        for above, row in itertools.pairwise(table[1:])
    )

    similar = _json_out(
        capsys,
        ["similar", "--model-dir", model, "-m", str(recs[0]["movie_id"]), "-k", "4", "--json"],
    )
    assert len(similar) == 4 and recs[0]["movie_id"] not in [r["movie_id"] for r in similar]
    assert all(r["rating"] is None for r in similar)
    assert main(["similar", "--model-dir", model, "-m", str(recs[0]["movie_id"]), "-k", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[-1] == "score"  # no rating column


def test_evaluate_prints_rmse_and_top_n(
    workflow: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = ["evaluate", "--model-dir", str(workflow["model"]), "--data-dir", str(workflow["data"])]
    assert main([*argv, "-k", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 < result["rmse"] < 1.5 and result["k"] == 10 and 0 <= result["ndcg"] <= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["recommend", "--model-dir", "{root}/nope", "-a", "25", "-g", "F", "-j", "1"],
            "no such model directory",
        ),
        (["recommend", "--model-dir", "{model}", "-a", "25", "-g", "F"], "-a AGE -g GENDER -j"),
        (["recommend", "--model-dir", "{model}", "-a", "25", "-g", "Q", "-j", "1"], "'M' or 'F'"),
        (["train", "--data-dir", "{root}/missing", "--model-dir", "{root}/m2"], "missing"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(
    workflow: dict[str, Path], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    filled = [a.format(root=workflow["root"], model=workflow["model"]) for a in argv]
    assert main(filled) == 1
    err = capsys.readouterr().err
    assert err.startswith("fusionrec: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors_exit_2_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["recommend"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and __version__ in capsys.readouterr().out


def test_fresh_process_recommend(workflow: dict[str, Path]) -> None:
    """The console entry point as a new process: no Paddle import, output on stdout."""
    uri = str(workflow["root"] / "fresh.faiss")
    model = str(workflow["model"])
    assert main(["index", "--model-dir", model, "--store", "faiss", "--uri", uri, "-q"]) == 0
    code = (
        "import sys; from fusionrec.cli import main; rc = main(sys.argv[1:]); "
        "assert 'paddle' not in sys.modules, 'serving imported paddle'; raise SystemExit(rc)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "recommend",
            "--model-dir",
            model,
            "--store",
            "faiss",
            "--uri",
            uri,
            "-a",
            "40",
            "-g",
            "M",
            "-j",
            "7",
            "-k",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 3


def test_quickstart_synthetic_runs_the_whole_workflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["quickstart", "--synthetic", "--workdir", str(tmp_path), "--epochs", "1"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "[4/4] top 5 for 2 new users" in out and "timings:" in out
    # one progress line per epoch (training, then refit) although stderr is no terminal here
    assert [line.split(":")[0] for line in captured.err.splitlines() if "epoch" in line] == [
        "epoch 1/1",
        "refit epoch 1/1",
    ]
    young = out.split("age 25, gender F, occupation 4")[1].split("age 56")[0]
    old = out.split("age 56, gender M, occupation 13")[1].split("timings:")[0]
    young_ids, old_ids = _ranked_ids(young), _ranked_ids(old)
    assert len(young_ids) == len(old_ids) == 5
    assert young_ids != old_ids  # demographics alone change the recommendations
    assert "then refit on all" in out  # the default preset trains again on every rating
    assert (tmp_path / "model" / "recommender.json").exists()
    assert (tmp_path / "fusionrec.db").exists()
    assert (
        main(
            [
                "recommend",
                "--model-dir",
                str(tmp_path / "model"),
                "-a",
                "25",
                "-g",
                "F",
                "-j",
                "4",
                "--json",
            ]
        )
        == 0
    )
    assert len(json.loads(capsys.readouterr().out)) == 5


class _Stop(Exception):
    """Ends a quickstart at its first fit."""


@pytest.mark.parametrize(("epochs", "demo"), [([], True), (["--epochs", "2"], False)])
def test_quickstart_demo_schedule_trains_256_row_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, epochs: list[str], demo: bool
) -> None:
    seen: dict[str, object] = {}

    def fit(self: FusionRecommender, data: MovieLens, **options: object) -> None:
        seen.update(options)
        raise _Stop

    monkeypatch.setattr(FusionRecommender, "fit", fit)
    with pytest.raises(_Stop):
        main(["quickstart", "--synthetic", "--workdir", str(tmp_path), "--quiet", *epochs])
    # the default preset's 1024-row steps left both demo profiles one top 5 after 5 epochs
    assert (seen.get("batch_size"), seen.get("softmax_block")) == (
        (256, 0) if demo else (None, None)
    )
    assert seen["epochs"] == (5 if demo else 2)


def _ranked_ids(table: str) -> list[int]:
    """The movie ids of a printed recommendation table, in rank order."""
    rows = [line.split() for line in table.splitlines()]
    return [int(row[1]) for row in rows if len(row) > 2 and row[0].isdigit()]


def test_quickstart_without_network_names_the_alternatives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fusionrec.data import download

    unreachable = download.RemoteArchive(url="http://127.0.0.1:9/ml-1m.zip", sha256="0" * 64)
    monkeypatch.setitem(download.DATASETS, "ml-1m", unreachable)
    code = main(["quickstart", "--workdir", str(tmp_path / "w"), "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "--data-dir" in err and "--synthetic" in err and "Traceback" not in err


_KILL_AFTER_TWO_BATCHES = """
import os, signal, sys
from fusionrec.stores import milvus
original = milvus.MilvusStore.upsert
calls = []
def upsert(self, *args, **kwargs):
    calls.append(1)
    if len(calls) > 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args, **kwargs)
milvus.MilvusStore.upsert = upsert
from fusionrec.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_index_killed_half_way_then_rerun_is_complete_without_duplicates(
    workflow: dict[str, Path], small_data: MovieLens
) -> None:
    """SIGKILL during ``fusionrec index`` (after two batches), then run it again."""
    from fusionrec.stores import MilvusStore

    uri = str(workflow["root"] / "killed.db")
    argv = [
        "index",
        "--model-dir",
        str(workflow["model"]),
        "--uri",
        uri,
        "--collection",
        "k",
        "--batch-size",
        "50",
        "-q",
    ]
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_TWO_BATCHES, *argv],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9
    with MilvusStore(uri=uri, collection="k") as partial:
        assert 0 < partial.count() < len(small_data.movies)
    assert main(argv) == 0
    with MilvusStore(uri=uri, collection="k") as store:
        ids = small_data.movies.movie_id.tolist()
        assert store.count() == len(ids)
        assert sorted(item.id for item in store.get(ids)) == sorted(ids)


def test_cli_presets_mirror_the_config() -> None:
    from fusionrec import cli
    from fusionrec.config import PRESETS

    assert set(cli.PRESETS) == set(PRESETS)
    assert cli.DEFAULT_PRESET in PRESETS


def test_indexing_the_same_faiss_file_twice_keeps_the_link(
    workflow: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 4: a second ``index --store faiss --uri F`` saved the store path as null."""
    model = tmp_path / "model"
    shutil.copytree(workflow["model"], model)
    uri = tmp_path / "twice.faiss"
    for _ in range(2):
        assert (
            main(["index", "--model-dir", str(model), "--store", "faiss", "--uri", str(uri), "-q"])
            == 0
        )
    state_file = current_version(model, "recommender.json") / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    assert state["store"]["path"] == str(uri)
    before = uri.stat()
    argv = ["recommend", "--model-dir", str(model), "-a", "25", "-g", "F", "-j", "4", "--json"]
    assert len(_json_out(capsys, argv)) == 5
    after = uri.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_token_needs_a_uri_in_the_same_command(
    workflow: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 2: ``recommend --token`` sent the token to the URI a model directory named."""
    model = tmp_path / "crafted"
    shutil.copytree(workflow["model"], model)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.setblocking(False)
        state_file = model / "recommender.json"
        state = json.loads(state_file.read_text(encoding="utf-8"))
        port = server.getsockname()[1]
        state["store"] = {"backend": "milvus", "uri": f"http://127.0.0.1:{port}", "dim": 8}
        state_file.write_text(json.dumps(state), encoding="utf-8")
        capsys.readouterr()
        argv = ["recommend", "--model-dir", str(model), "-u", "1", "--token", "user:password"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "pass --uri with --token" in err and err.count("\n") == 1
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def test_feature_flags_match_the_demographic_ones(
    workflow: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(workflow["model"])
    uri = str(tmp_path / "features.faiss")
    assert main(["index", "--model-dir", model, "--store", "faiss", "--uri", uri, "-q"]) == 0
    base = ["recommend", "--model-dir", model, "--store", "faiss", "--uri", uri, "--json"]
    flags = _json_out(capsys, [*base, "-a", "25", "-g", "F", "-j", "4"])
    features = ["--feature", "age=25", "--feature", "gender=F", "--feature", "occupation=4"]
    assert _json_out(capsys, [*base, *features]) == flags
    by_id = _json_out(capsys, [*base, "-u", "3"])
    assert len(by_id) == 5 and all(isinstance(r["item_id"], int) for r in by_id)


def test_train_takes_a_half_star_release_without_a_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ml-25m-format ratings go down to 0.5: the data's scale sets the config's."""
    from fusionrec.data import synthetic_csv_release

    data_dir = tmp_path / "ml-25m"
    write_movielens(
        synthetic_csv_release(n_users=40, n_movies=30, n_ratings=600), data_dir, format="ml-25m"
    )
    model = tmp_path / "model"
    assert (
        main(
            ["train", "--data-dir", str(data_dir), "--model-dir", str(model), "--epochs", "1", "-q"]
        )
        == 0
    )
    assert "trained on 600 ratings" in capsys.readouterr().out
    assert FusionRecommender.load(model).config.rating_min == 0.5
    args = ["train", "--data-dir", str(data_dir), "--model-dir", str(model), "--epochs", "1"]
    assert main([*args, "--preset", "rating", "-q"]) == 0  # a preset takes the data's scale too
