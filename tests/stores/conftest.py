"""Fixtures for the store tests: a Milvus standalone server for the milvus_server tests.

Where the server cannot start the tests are skipped, unless FUSIONREC_REQUIRE_MILVUS_SERVER=1
(as CI sets it), which turns that into a failure so a broken server never passes silently.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def milvus_server_uri() -> Iterator[str]:
    """Start a Milvus 2.3 standalone on 127.0.0.1 (PyPI package ``milvus``) for the session."""
    required = os.environ.get("FUSIONREC_REQUIRE_MILVUS_SERVER") == "1"
    try:
        import milvus
    except ImportError:
        reason = "the 'milvus' package (Milvus standalone for tests) is not installed"
        if required:
            pytest.fail(reason)
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="fusionrec-milvus-") as base:
        server = milvus.MilvusServer()
        server.set_base_dir(base)
        try:
            server.start()
        except Exception as exc:  # pragma: no cover - depends on the machine
            server.stop()
            if required:
                pytest.fail(f"Milvus server did not start: {exc}")
            pytest.skip(f"Milvus server did not start: {exc}")
        try:
            yield f"http://127.0.0.1:{server.listen_port}"
        finally:
            server.stop()
