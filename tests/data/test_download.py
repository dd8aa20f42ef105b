"""download_movielens against a local HTTP server: verify, cache, reject and clean up."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fusionrec.data import (
    DATASETS,
    MovieLens,
    RemoteArchive,
    download_movielens,
    load_movielens,
    synthetic_csv_release,
    write_movielens,
)
from fusionrec.errors import DownloadError, ValidationError


@dataclass
class Server:
    """A local server: ``files`` maps URL paths to bytes; ``hits`` lists requested paths."""

    base: str
    files: dict[str, bytes]
    hits: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture
def server() -> Iterator[Server]:
    files: dict[str, bytes] = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            name = self.path.lstrip("/")
            if name == "truncated.zip":
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"PK" * 10)
                self.close_connection = True
                return
            if name not in files:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(files[name])))
            self.end_headers()
            self.wfile.write(files[name])

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", files, hits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def archive(tmp_path_factory: pytest.TempPathFactory, small: MovieLens) -> bytes:
    folder = tmp_path_factory.mktemp("zip")
    return write_movielens(small, folder / "ml-1m.zip", "ml-1m").read_bytes()


def _publish(monkeypatch: pytest.MonkeyPatch, server: Server, payload: bytes, sha: str) -> str:
    server.files["ml-1m.zip"] = payload
    url = server.url("ml-1m.zip")
    monkeypatch.setitem(DATASETS, "ml-1m", RemoteArchive(url=url, sha256=sha))
    return url


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def test_download_verify_and_cache_hit(
    tmp_path: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch, small
) -> None:
    _publish(monkeypatch, server, archive, _sha(archive))
    path = download_movielens("ml-1m", tmp_path / "cache")
    assert path == tmp_path / "cache" / "ml-1m.zip"
    assert path.read_bytes() == archive
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["ml-1m.zip"]
    assert len(load_movielens(path).ratings) == len(small.ratings)
    assert server.hits == ["/ml-1m.zip"]
    assert download_movielens("ml-1m", tmp_path / "cache") == path
    assert server.hits == ["/ml-1m.zip"]  # the cache hit did not touch the network


def test_checksum_mismatch_leaves_nothing(
    tmp_path: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupted = archive[:-10] + b"0123456789"
    url = _publish(monkeypatch, server, corrupted, _sha(archive))
    with pytest.raises(DownloadError, match="SHA-256 mismatch") as info:
        download_movielens("ml-1m", tmp_path / "cache")
    assert url in str(info.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_cache_is_replaced(
    tmp_path: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(monkeypatch, server, archive, _sha(archive))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-1m.zip").write_bytes(b"half a download")
    path = download_movielens("ml-1m", cache)
    assert path.read_bytes() == archive
    assert server.hits == ["/ml-1m.zip"]


def test_corrupt_cache_removed_even_if_download_fails(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DATASETS, "ml-1m", RemoteArchive(server.url("missing.zip"), "0" * 64))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "missing.zip").write_bytes(b"junk")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_movielens("ml-1m", cache)
    assert list(cache.iterdir()) == []


def test_truncated_transfer(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.url("truncated.zip")
    monkeypatch.setitem(DATASETS, "ml-100k", RemoteArchive(url, "0" * 64))
    with pytest.raises(DownloadError, match=r"truncated\.zip"):
        download_movielens("ml-100k", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ml-100k.zip"
    monkeypatch.setitem(DATASETS, "ml-100k", RemoteArchive(url, "0" * 64))
    with pytest.raises(DownloadError, match=f"{url}: "):
        download_movielens("ml-100k", tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_and_published_table(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown data set 'ml-10m'"):
        download_movielens("ml-10m", tmp_path)
    assert DATASETS["ml-1m"].url == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert DATASETS["ml-100k"].filename == "ml-100k.zip"
    assert sorted(DATASETS) == ["ml-100k", "ml-1m", "ml-20m", "ml-25m", "ml-32m"]
    for name, archive in DATASETS.items():
        assert archive.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        pinned = archive.sha256
        assert pinned is None or re.fullmatch("[0-9a-f]{64}", pinned), name
    assert DATASETS["ml-32m"].sha256 is None  # no public source pins it: never invented
    assert DATASETS["ml-32m"].checksum == ("md5", "d472be332d4daa821edc399621853b57")
    assert DATASETS["ml-25m"].checksum == ("sha256", DATASETS["ml-25m"].sha256)


def test_release_verified_by_the_published_md5(
    tmp_path: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ml-32m: GroupLens's own MD5 where no SHA-256 is pinned; a mismatch keeps nothing."""
    server.files["ml-32m.zip"] = archive
    md5 = hashlib.md5(archive, usedforsecurity=False).hexdigest()
    release = RemoteArchive(server.url("ml-32m.zip"), None, md5)
    monkeypatch.setitem(DATASETS, "ml-32m", release)
    path = download_movielens("ml-32m", tmp_path / "cache")
    assert path.read_bytes() == archive and len(server.hits) == 1
    assert download_movielens("ml-32m", tmp_path / "cache") == path  # cached: MD5 checked
    assert len(server.hits) == 1
    wrong = RemoteArchive(server.url("ml-32m.zip"), None, "0" * 32)
    monkeypatch.setitem(DATASETS, "ml-32m", wrong)
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        download_movielens("ml-32m", tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []


def test_release_without_pinned_hash_needs_one(
    tmp_path: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["ml-32m.zip"] = archive
    monkeypatch.setitem(DATASETS, "ml-32m", RemoteArchive(server.url("ml-32m.zip"), None))
    with pytest.raises(ValidationError, match=r"ml-32m has no pinned checksum.*pass sha256="):
        download_movielens("ml-32m", tmp_path / "cache")
    assert server.hits == []  # refused before any network access
    with pytest.raises(ValidationError, match="64 hexadecimal digits"):
        download_movielens("ml-32m", tmp_path / "cache", sha256="abc")
    path = download_movielens("ml-32m", tmp_path / "cache", sha256=_sha(archive).upper())
    assert path.read_bytes() == archive
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        download_movielens("ml-32m", tmp_path / "other", sha256="0" * 64)
    assert list((tmp_path / "other").iterdir()) == []


def test_csv_release_downloads_and_loads(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic_csv_release(n_users=20, n_movies=15, n_ratings=120, seed=3)
    payload = write_movielens(data, tmp_path / "src" / "ml-25m.zip", "ml-25m").read_bytes()
    server.files["ml-25m.zip"] = payload
    monkeypatch.setitem(DATASETS, "ml-25m", RemoteArchive(server.url("ml-25m.zip"), _sha(payload)))
    loaded = load_movielens(download_movielens("ml-25m", tmp_path / "cache"))
    assert len(loaded.ratings) == 120 and loaded.notes[0] == "format: ml-25m"


def test_default_cache_dir_from_env(
    tmp_path: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(monkeypatch, server, archive, _sha(archive))
    monkeypatch.setenv("FUSIONREC_CACHE", str(tmp_path / "env-cache"))
    assert download_movielens("ml-1m") == tmp_path / "env-cache" / "ml-1m.zip"


def test_cache_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="cannot create the cache folder"):
        download_movielens("ml-100k", blocker / "sub")
