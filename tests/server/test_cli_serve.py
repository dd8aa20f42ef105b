"""``fusionrec serve`` as a user runs it: a process that serves, then stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fusionrec import FaissStore
from fusionrec.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fusionrec serve exited early:\n{process.communicate()[1]}")
        try:
            if httpx2.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("fusionrec serve did not become ready")


def _serve(model_files: Any, faiss_path: Path, *extra: str) -> tuple[str, subprocess.Popen[str]]:
    """Start ``fusionrec serve`` on a free port over ``faiss_path``; return its URL and process."""
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "fusionrec.cli",
        "serve",
        "--model-dir",
        str(model_files.model_dir),
        "--store",
        "faiss",
        "--uri",
        str(faiss_path),
        "--port",
        str(port),
        "--no-access-log",
        *extra,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    return f"http://127.0.0.1:{port}", process


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, wait for a clean exit and return stderr (the process is killed if it hangs)."""
    try:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # uvicorn re-raises the signal once shut down, so the process ends "killed by SIGTERM"
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Shutting down" in stderr and "Application shutdown complete" in stderr
    assert "Traceback" not in stderr
    return stderr


NEW_ITEM = {"items": [{"movie_id": 90_001, "title": "Night Train", "genres": ["Drama"]}]}


@pytest.mark.slow
def test_serve_answers_then_shuts_down_gracefully_on_sigterm(model_files: Any) -> None:
    before = model_files.faiss_path.read_bytes()
    url, process = _serve(model_files, model_files.faiss_path)
    try:
        _wait_ready(url, process)
        body = {"age": 30, "gender": "M", "occupation": 2, "k": 3}
        response = httpx2.post(f"{url}/api/recommend", json=body, timeout=10)
        assert response.status_code == 200 and len(response.json()["items"]) == 3
        refused = httpx2.post(f"{url}/api/items", json=NEW_ITEM, timeout=10)
        assert refused.status_code == 409 and "--writable" in refused.json()["detail"]
    finally:
        _stop(process)
    assert model_files.faiss_path.read_bytes() == before  # a read-only server writes nothing


@pytest.mark.slow
def test_serve_writable_adds_items_and_saves_them_on_shutdown(
    model_files: Any, tmp_path: Path
) -> None:
    path = tmp_path / "writable.faiss"
    path.write_bytes(model_files.faiss_path.read_bytes())
    url, process = _serve(model_files, path, "--writable")
    try:
        _wait_ready(url, process)
        added = httpx2.post(f"{url}/api/items", json=NEW_ITEM, timeout=30)
        assert added.status_code == 200, added.text
        assert httpx2.get(f"{url}/api/items/90001", timeout=10).json()["title"] == "Night Train"
    finally:
        _stop(process)
    assert 90_001 in {item.id for item in FaissStore.load(path).get([90_001])}


def test_serve_without_the_extra_says_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert main(["serve", "--model-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'fusionrec[serve]'" in err


def test_serve_refuses_a_missing_model_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["serve", "--model-dir", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fusionrec: error:") and err.count("\n") == 0


def test_serve_checks_the_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model-dir", str(tmp_path), "--port", "70000"])
    assert exit_info.value.code == 2
    assert "port must be 0-65535" in capsys.readouterr().err
