"""Fixtures for the store tests: a Milvus standalone server for the milvus_server tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def milvus_server_uri() -> Iterator[str]:
    """Start a Milvus 2.3 standalone on 127.0.0.1 (PyPI package ``milvus``) for the session."""
    milvus = pytest.importorskip(
        "milvus", reason="the 'milvus' package (Milvus standalone for tests) is not installed"
    )
    with tempfile.TemporaryDirectory(prefix="fusionrec-milvus-") as base:
        server = milvus.MilvusServer()
        server.set_base_dir(base)
        try:
            server.start()
        except Exception as exc:  # pragma: no cover - depends on the machine
            server.stop()
            pytest.skip(f"Milvus server did not start: {exc}")
        try:
            yield f"http://127.0.0.1:{server.listen_port}"
        finally:
            server.stop()
