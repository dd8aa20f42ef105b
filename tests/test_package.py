from __future__ import annotations

import subprocess
import sys

import fusionrec


def test_every_public_name_resolves() -> None:
    for name in fusionrec.__all__:
        assert getattr(fusionrec, name) is not None, name


def test_errors_share_one_base() -> None:
    for name in fusionrec.__all__:
        obj = getattr(fusionrec, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, fusionrec.FusionrecError), name


def test_import_is_light() -> None:
    """``import fusionrec`` must not pull in Paddle, pymilvus or faiss (fast CLI start)."""
    code = (
        "import sys, fusionrec, fusionrec.recommender, fusionrec.cli; "
        "heavy = [m for m in ('paddle', 'pymilvus', 'faiss') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == ""
