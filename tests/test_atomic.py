from __future__ import annotations

from pathlib import Path

import pytest

from fusionrec.atomic import replace_directory, write_bytes_atomic


def test_write_bytes_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_replace_directory_swaps_on_success(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "a").write_text("old")
    with replace_directory(target) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_replace_directory_keeps_old_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "a").write_text("old")
    with pytest.raises(RuntimeError), replace_directory(target) as tmp:
        (tmp / "b").write_text("half")
        raise RuntimeError("crash while saving")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
