"""MilvusStore specifics on real Milvus Lite: index read-back, locks, pointers, errors."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fusionrec.errors import (
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    StoreError,
    StoreInUseError,
)
from fusionrec.stores import Eq, Filter, Ids, MetadataField, MilvusStore, Not, Or, parse_filter
from fusionrec.stores.milvus import _flatten_index, filter_expression
from fusionrec.testing import hit_ids, random_items, random_queries


def test_filter_expression_translation() -> None:
    flt = Filter(genres_any=["Sci-Fi", 'Kid"s'], year_between=(1990, 1999), ids=[3, 4])
    assert filter_expression(flt) == (
        'ARRAY_CONTAINS_ANY(genres, ["Sci-Fi", "Kid\\"s"]) and '
        "(year >= 1990 and year <= 1999) and id in [3, 4]"
    )
    assert filter_expression(None) == ""


def test_negation_is_compiled_down_to_the_leaves() -> None:
    fields = (
        MetadataField("tags", "list[str]", max_items=2),
        MetadataField("n", "int"),
        MetadataField("x", "float"),
        MetadataField("s", "str"),
    )
    cases = {
        "not (s = 'a' or n in [1, 2])": 's != "a" and n not in [1, 2]',
        "not (x >= 1 and x < 2.5)": "x < 1 or x >= 2.5",
        "not (x >= 1 and x < 2.5) and s = 'é'": '(x < 1 or x >= 2.5) and s == "é"',
        "not tags contains_any ['a']": 'tags[0] not in ["a"] and tags[1] not in ["a"]',
        "n > 1.5 and n <= 7.9 or not n < -0.5": "(n >= 2 and n <= 7) or n > -1",
        "not id in [1, 2]": "id not in [1, 2]",
        "not (id in [1] or s = 'q\"')": 'id not in [1] and s != "q\\""',
    }
    for text, want in cases.items():
        assert filter_expression(parse_filter(text), fields) == want, text
    assert filter_expression(Not(Ids([])), fields) == "(id < 0 or id >= 0)"
    assert filter_expression(Ids([]), fields) == "(id < 0 and id > 0)"
    long = filter_expression(Or(*(Eq("n", i) for i in range(20))), fields)
    assert long.count("(") == long.count(")") > 0 and long.count(" or ") == 19


def test_index_description_is_flattened() -> None:
    nested = {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 100}}
    as_json = {"index_type": "HNSW", "params": json.dumps({"M": 16})}
    flat = {"index_type": "HNSW", "M": "16"}
    assert _flatten_index(nested) == {"index_type": "HNSW", "M": "16", "efConstruction": "100"}
    assert _flatten_index(as_json) == _flatten_index(flat) == {"index_type": "HNSW", "M": "16"}


def test_index_params_are_read_back(tmp_path: Path) -> None:
    uri = str(tmp_path / "ivf.db")
    with MilvusStore(uri, dim=8, index="IVF_FLAT", index_params={"nlist": 32}) as store:
        assert not store.exact and store.index_type == "IVF_FLAT"
        store.upsert(*random_items(100, 8))
        assert len(store.search(random_queries(1, 8), 5)[0]) == 5
        settings = store.settings()
    assert settings["index_params"] == {"nlist": 32}
    with MilvusStore(uri) as again:
        assert again.index_type == "IVF_FLAT" and again.dim == 8 and again.count() == 100
        assert again.settings() == settings


def test_search_params_change_without_rebuild(tmp_path: Path) -> None:
    ids, vectors, meta = random_items(300, 8)
    queries = random_queries(10, 8)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    uri = str(tmp_path / "ivf.db")
    ivf = {"nlist": 16}
    with MilvusStore(uri, dim=8, index="IVF_FLAT", index_params=ivf) as store:
        store.upsert(ids, vectors, meta)
        store.set_search_params(nprobe=16)  # every list probed: exact
        assert store.settings()["search_params"]["nprobe"] == 16
        got = [[h.id for h in row] for row in store.search(queries, 5)]
        assert got == ids[exact].tolist()
        with pytest.raises(ConfigError, match="positive"):
            store.set_search_params(nprobe=0)


def test_lite_refuses_server_only_index(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HNSW"):
        MilvusStore(str(tmp_path / "h.db"), dim=8, index="HNSW")
    with pytest.raises(ConfigError, match=r"\.db"):
        MilvusStore(str(tmp_path / "no_suffix"), dim=8)


def test_open_checks_dimension_and_existence(tmp_path: Path) -> None:
    uri = str(tmp_path / "d.db")
    with pytest.raises(CollectionNotFoundError, match="pass dim"):
        MilvusStore(uri, collection="missing")
    MilvusStore(uri, dim=8).close()
    with pytest.raises(DimensionMismatchError, match="dimension 8, not 4"):
        MilvusStore(uri, dim=4)
    with MilvusStore(uri) as store:
        assert store.dim == 8


def test_search_on_dropped_collection(tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    uri = str(tmp_path / "drop.db")
    with MilvusStore(uri, dim=8) as store:
        store.upsert(*random_items(10, 8))
        client = MilvusClient(uri=uri)
        client.drop_collection(store.physical_collection)
        client.close()
        with pytest.raises(CollectionNotFoundError):
            store.search(random_queries(1, 8), 3)


def test_replace_all_switches_pointer_and_drops_old(tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    uri = str(tmp_path / "r.db")
    with MilvusStore(uri, dim=8) as store:
        store.upsert(*random_items(20, 8))
        assert store.physical_collection == "movies__v1"
        store.replace_all(*random_items(5, 8, seed=3, first_id=50))
        assert store.physical_collection == "movies__v2"
        assert store.count() == 5
    pointers = json.loads((tmp_path / ".r.db.collections.json").read_text())
    assert pointers == {"collections": {"movies": "movies__v2"}}
    client = MilvusClient(uri=uri)
    assert client.list_collections() == ["movies__v2"]
    client.create_collection("movies__v7", dimension=8)  # an interrupted reindex's leftover
    client.close()
    with MilvusStore(uri) as store:
        assert store.count() == 5
    client = MilvusClient(uri=uri)
    assert client.list_collections() == ["movies__v2"]
    client.close()


class _UnroutedClient:
    """A MilvusClient proxy whose first ``failures`` reads fail as a server fails while it
    cannot route them to a collection's shards yet (during a load or a release)."""

    def __init__(self, client: Any, failures: int, message: str) -> None:
        self._client = client
        self.failures = failures
        self._message = message
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in ("search", "query"):
            return attr

        def read(*args: Any, **kwargs: Any) -> Any:
            from pymilvus import MilvusException

            self.reads += 1
            if self.failures:
                self.failures -= 1
                raise MilvusException(65535, self._message)
            return attr(*args, **kwargs)

        return read


_UNROUTED = (
    "failed to get delegator -1 for channel by-dev-rootcoord-dml_0_1v0: "
    "can not find client of node -1"
)


def test_reads_the_server_cannot_route_yet_are_tried_again(tmp_path: Path) -> None:
    with MilvusStore(str(tmp_path / "u.db"), dim=8) as store:
        ids, vectors, meta = random_items(20, 8)
        store.upsert(ids, vectors, meta)
        want = hit_ids(store.search(vectors[:2], 3))
        client = store._client
        flaky = _UnroutedClient(client, failures=3, message=_UNROUTED)
        store._client = flaky
        assert hit_ids(store.search(vectors[:2], 3)) == want  # the fourth try answers
        assert flaky.reads == 4
        flaky.failures = 3
        assert store.count() == 20
        flaky.failures = 3
        assert [item.id for item in store.get([int(ids[0])])] == [int(ids[0])]
        flaky.failures = 4  # as many as the tries: the error stands
        with pytest.raises(StoreError, match="failed to get delegator"):
            store.search(vectors[:1], 3)
        other = _UnroutedClient(client, failures=1, message="some other failure")
        store._client = other
        with pytest.raises(StoreError, match="some other failure"):
            store.search(vectors[:1], 3)
        assert other.reads == 1  # not tried again
        store._client = client


def test_reads_mark_their_collection_in_use_under_the_switch_lock(tmp_path: Path) -> None:
    """replace_all waits for reads of the old collection to end; a read must be counted
    before the switch lock is free again, or a switch in between can drop its collection."""
    with MilvusStore(str(tmp_path / "s.db"), dim=8) as store:
        ids, vectors, meta = random_items(10, 8)
        store.upsert(ids, vectors, meta)
        using = store._in_flight.using
        marked: list[tuple[str, bool]] = []

        def checked(name: str) -> Any:
            marked.append((name, store._switch_lock.locked()))
            return using(name)

        store._in_flight.using = checked  # type: ignore[method-assign]
        store.search(vectors[:1], 3)
        store.count()
        store.get([int(ids[0])])
        assert marked == [(store.physical_collection, True)] * 3
        assert store._in_flight.wait_idle(store.physical_collection, timeout=0.0)


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from fusionrec.stores import MilvusStore
    try:
        with MilvusStore(sys.argv[1]) as store:
            print("count", store.count())
    except Exception as exc:
        print(type(exc).__name__, exc)
    """
)


def _other_process(uri: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, uri], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


def test_lock_held_until_close_then_released(tmp_path: Path) -> None:
    uri = str(tmp_path / "lock.db")
    store = MilvusStore(uri, dim=8)
    store.upsert(*random_items(7, 8))
    out = _other_process(uri)
    assert out.startswith(StoreInUseError.__name__), out
    assert "store in use by another process" in out
    store.close()
    assert _other_process(uri) == "count 7"


_LOG_CHECK = textwrap.dedent(
    """
    import sys
    import numpy as np
    from fusionrec.stores import Eq, Filter, Ids, MetadataField, MilvusStore, Not, Or, parse_filter
    from fusionrec.testing import hit_ids, random_items, random_queries
    with MilvusStore(sys.argv[1], dim=8, index=sys.argv[2]) as store:
        store.upsert(*random_items(300, 8))
        store.upsert(*random_items(10, 8, seed=2))
        store.search(random_queries(5, 8), 5, filter=Filter(genres_any=["Drama"]),
                     exclude_ids=[[7], [14], [21], [28], [35]])
        store.replace_all(*random_items(50, 8, seed=4))
        store.delete([7])
        print("ok", store.count())
    """
)


@pytest.mark.parametrize("index", ["FLAT", "IVF_FLAT"])
def test_no_error_lines_in_milvus_lite_logs(tmp_path: Path, index: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOG_CHECK, str(tmp_path / "log.db"), index],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "ok 49", done.stderr
    logged = done.stdout + done.stderr
    assert "ERROR" not in logged and "not implemented" not in logged.lower(), logged


def test_batched_upsert_over_batch_size(tmp_path: Path) -> None:
    ids, vectors, meta = random_items(250, 8)
    with MilvusStore(str(tmp_path / "b.db"), dim=8, batch_size=64) as store:
        store.upsert(ids, vectors, meta)
        assert store.count() == 250
        got = store.get(ids[::-1])
        assert [g.id for g in got] == ids[::-1].tolist()
        np.testing.assert_allclose(got[0].vector, vectors[-1], atol=1e-6)


def test_two_stores_share_one_lite_file(tmp_path: Path) -> None:
    uri = str(tmp_path / "shared.db")
    first = MilvusStore(uri, collection="a", dim=8)
    second = MilvusStore(uri, collection="b", dim=4)
    first.upsert(*random_items(5, 8))
    second.upsert(*random_items(3, 4))
    first.close()
    assert second.count() == 3
    second.close()
    assert _other_process(uri).startswith("CollectionNotFoundError")


@pytest.mark.milvus_server
def test_server_flush_builds_the_index(milvus_server_uri: str) -> None:
    from pymilvus import MilvusClient

    store = MilvusStore(
        milvus_server_uri, collection="flushed", dim=8, index="HNSW", index_params={"M": 8}
    )
    with store:
        store.upsert(*random_items(500, 8))
        store.flush()
        client = MilvusClient(uri=milvus_server_uri)
        info = client.describe_index(store.physical_collection, "vector")
        client.close()
        assert int(info["indexed_rows"]) == int(info["total_rows"]) == 500
        assert store.settings()["index_params"] == {"M": 8, "efConstruction": 200}


def test_read_only_creates_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(CollectionNotFoundError, match="does not exist"):
        MilvusStore(str(missing), dim=8, read_only=True)
    assert list(tmp_path.iterdir()) == []
    uri = str(tmp_path / "ro.db")
    with MilvusStore(uri, collection="movies", dim=8) as writer:
        writer.upsert(*random_items(6, 8))
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    with pytest.raises(CollectionNotFoundError, match="read-only store never creates"):
        MilvusStore(uri, collection="other", dim=8, read_only=True)
    with MilvusStore(uri, collection="movies", read_only=True) as reader:
        assert reader.read_only and reader.count() == 6
        assert len(reader.search(random_queries(2, 8), 3)[0]) == 3
        for write in (
            lambda: reader.upsert(*random_items(2, 8, seed=5)),
            lambda: reader.delete([7]),
            lambda: reader.replace_all(*random_items(2, 8, seed=5)),
            reader.flush,
        ):
            with pytest.raises(StoreError, match="read-only"):
                write()
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == before
    with MilvusStore(uri, collection="movies") as writer:
        assert writer.count() == 6
        assert json.loads((tmp_path / ".ro.db.collections.json").read_text()) == {
            "collections": {"movies": "movies__v1"}
        }


def test_deleted_lite_file_is_a_clear_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Finding 8: writes after the file was deleted failed with "internal error" and a
    logged pymilvus traceback."""
    path = tmp_path / "gone.db"
    store = MilvusStore(str(path), dim=8)
    try:
        store.upsert(*random_items(5, 8))
        path.unlink()
        capfd.readouterr()
        with pytest.raises(StoreError, match=f"{path} was deleted or replaced"):
            store.upsert(*random_items(5, 8, seed=3))
        with pytest.raises(StoreError, match="was deleted or replaced"):
            store.delete([7])
        logged = capfd.readouterr()
        assert "Traceback" not in logged.out + logged.err
    finally:
        store.close()


def test_id_lists_match_the_lowest_int64(tmp_path: Path) -> None:
    vectors = random_queries(3, 8)
    with MilvusStore(str(tmp_path / "edge.db"), dim=8) as store:
        store.upsert([-(2**63), 2**63 - 1, 5], vectors)
        assert [item.id for item in store.get([-(2**63)])] == [-(2**63)]
        hits = store.search(vectors[0], 3, filter=Filter(ids=[-(2**63), 5]))[0]
        assert sorted(h.id for h in hits) == [-(2**63), 5]
        store.delete([-(2**63)])
        assert store.count() == 2


def test_read_only_leaves_a_foreign_sqlite_file_alone(tmp_path: Path) -> None:
    """Milvus Lite writes its tables into any SQLite file it opens: a model directory could
    otherwise point a read-only store at another application's database."""
    path = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (x)")
        db.commit()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a Milvus Lite file"):
        MilvusStore(str(path), read_only=True)
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a Milvus Lite file"):
        MilvusStore(str(tmp_path / "junk.db"), read_only=True)
    assert path.read_bytes() == before


@pytest.mark.parametrize("n_excluded", [0, 2, 40])
def test_exclusion_strategies_agree_with_brute_force(tmp_path: Path, n_excluded: int) -> None:
    """Short shared lists are over-fetched, long ones go into the expression: same hits."""
    from fusionrec.stores import milvus

    ids, vectors, meta = random_items(120, 8)
    query = random_queries(1, 8)
    excluded = np.argsort(-(vectors @ query[0]))[:n_excluded].tolist()  # the best ones
    expected = [i for i in np.argsort(-(vectors @ query[0])).tolist() if i not in excluded][:10]
    with MilvusStore(str(tmp_path / "x.db"), dim=8) as store:
        store.upsert(ids, vectors, meta)
        assert (n_excluded > milvus.EXCLUDE_OVERFETCH_MAX) == (n_excluded == 40)
        hits = store.search(query, 10, exclude_ids=[ids[excluded].tolist()])[0]
        assert [h.id for h in hits] == ids[expected].tolist()
        # k near Milvus's 16,384 cap with a short list: the expression, not an endless split
        many = store.search(query, 16_384, exclude_ids=[ids[:2].tolist()])[0]
        assert len(many) == 118 and not {h.id for h in many} & set(ids[:2].tolist())
