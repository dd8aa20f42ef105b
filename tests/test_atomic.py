from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fusionrec import atomic
from fusionrec.atomic import (
    Version,
    current_version,
    load_directory,
    prune_directory,
    replace_directory,
    write_bytes_atomic,
)
from fusionrec.errors import ModelDirError

POINTER = "pointer.json"
HEADER = {"format": "test", "format_version": 1}


def _check_header(header: dict[str, Any], file: Path) -> None:
    if header.get("format_version") != 1:
        raise ModelDirError(f"{file}: format version {header.get('format_version')!r}")


def _read(version: Version) -> str:
    return (version.path / "data.txt").read_text()


def _save(root: Path, text: str) -> None:
    with replace_directory(root, POINTER, HEADER, legacy=("data.txt",)) as tmp:
        (tmp / "data.txt").write_text(text)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "more.bin").write_bytes(text.encode() * 3)


def _load(root: Path) -> str:
    return load_directory(root, POINTER, _check_header, _read, legacy=("data.txt",))


def _entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != ".lock")


def test_write_bytes_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_replace_directory_publishes_a_new_version_and_drops_the_old(tmp_path: Path) -> None:
    root = tmp_path / "model"
    _save(root, "one")
    first = current_version(root, POINTER)
    _save(root, "two")
    assert _load(root) == "two"
    assert not first.exists()
    assert _entries(root) == sorted([POINTER, current_version(root, POINTER).name])


def test_replace_directory_keeps_old_on_failure(tmp_path: Path) -> None:
    root = tmp_path / "model"
    _save(root, "old")
    with pytest.raises(RuntimeError), replace_directory(root, POINTER, HEADER) as tmp:
        (tmp / "data.txt").write_text("half")
        raise RuntimeError("crash while saving")
    assert _load(root) == "old"
    assert len(_entries(root)) == 2  # pointer and the one version: the temp folder is gone


@pytest.mark.parametrize("step", ["manifest", "rename", "pointer", "prune"])
def test_a_crash_at_every_step_leaves_the_old_or_the_new_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Crash (an exception that skips all cleanup, like a kill) at each step of a save."""
    root = tmp_path / "model"
    _save(root, "old")

    class Crash(BaseException):
        pass

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    real_replace = os.replace
    if step == "manifest":
        monkeypatch.setattr(atomic, "_manifest", crash)
    elif step == "rename":  # the version is renamed in, the pointer not yet replaced
        monkeypatch.setattr(
            atomic.os,
            "replace",
            lambda a, b: (real_replace(a, b), crash()),  # type: ignore[func-returns-value]
        )
    elif step == "pointer":
        monkeypatch.setattr(atomic, "write_bytes_atomic", crash)
    else:  # the pointer names the new version; the old one is not removed yet
        monkeypatch.setattr(atomic, "_prune", crash)
    # a killed process runs no cleanup handler: make rmtree a no-op to leave what a kill leaves
    monkeypatch.setattr(atomic.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(Crash):
        _save(root, "new")
    monkeypatch.undo()
    assert _load(root) == ("new" if step == "prune" else "old")
    # the load removed the leftovers: only the pointer and the current version remain
    assert _entries(root) == sorted([POINTER, current_version(root, POINTER).name])
    _save(root, "newer")
    assert _load(root) == "newer"
    assert len(_entries(root)) == 2


def test_kill_9_mid_save_leaves_a_loadable_version(tmp_path: Path) -> None:
    """A real SIGKILL of a process saving in a loop, at several moments."""
    root = tmp_path / "model"
    _save(root, "0")
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from fusionrec.atomic import replace_directory
        root = Path({str(root)!r})
        i = int(sys.argv[1])
        print("ready", flush=True)
        while True:
            i += 1
            with replace_directory(root, {POINTER!r}, {HEADER!r}) as tmp:
                for j in range(20):
                    (tmp / f"f{{j}}.bin").write_bytes(bytes(2000))
                (tmp / "data.txt").write_text(str(i))
        """
    )
    values = []
    for delay in (0.05, 0.13, 0.21, 0.34):
        start = str(values[-1] if values else 0)
        proc = subprocess.Popen([sys.executable, "-c", script, start], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        values.append(int(_load(root)))  # loads, whatever moment the kill hit
        assert len(_entries(root)) == 2  # and the load cleaned up after the killed save
    assert values == sorted(values)  # each process counts on from the last loaded value


def test_a_non_empty_directory_that_is_no_model_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    (tmp_path / "data.txt").write_text("a legacy name, but no pointer beside it")
    with pytest.raises(ModelDirError, match="refusing to overwrite"):
        _save(tmp_path, "x")
    assert _entries(tmp_path) == ["data.txt", "precious.txt"]


def test_a_file_in_the_way_is_a_model_dir_error(tmp_path: Path) -> None:
    (tmp_path / "model").write_text("not a directory")
    with pytest.raises(ModelDirError, match="not a directory"):
        _save(tmp_path / "model", "x")


def test_a_legacy_flat_directory_is_replaced_and_its_files_removed(tmp_path: Path) -> None:
    root = tmp_path / "model"
    root.mkdir()
    (root / POINTER).write_text('{"format_version": 0}')  # an older layout had it too
    (root / "data.txt").write_text("flat layout")
    _save(root, "versioned")
    assert _load(root) == "versioned"
    assert not (root / "data.txt").exists()


def test_damage_is_detected_and_named(tmp_path: Path) -> None:
    root = tmp_path / "model"
    _save(root, "abc")
    version = current_version(root, POINTER)
    (version / "sub" / "more.bin").write_bytes(b"abcabcabd")  # same size, one byte differs
    with pytest.raises(ModelDirError, match=r"more\.bin: size or checksum differs"):
        _load(root)
    _save(root, "abc")
    version = current_version(root, POINTER)
    (version / "extra").write_text("")
    with pytest.raises(ModelDirError, match="extra: not listed"):
        _load(root)
    (version / "extra").unlink()
    (version / "data.txt").unlink()
    with pytest.raises(ModelDirError, match=r"data\.txt: missing"):
        _load(root)


@pytest.mark.parametrize(
    "pointer",
    [
        b"",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"format_version": 1, "version": "../../etc", "files": {}}',
        b'{"format_version": 1, "version": "v-0000000000000000", "files": {}}',
        b'{"format_version": 1, "version": "VERSION", "files": []}',
        b"[" * 100_000,
    ],
)
def test_a_bad_pointer_is_a_model_dir_error(tmp_path: Path, pointer: bytes) -> None:
    root = tmp_path / "model"
    _save(root, "x")
    name = current_version(root, POINTER).name
    (root / POINTER).write_bytes(pointer.replace(b"VERSION", name.encode()))
    with pytest.raises(ModelDirError, match=POINTER.replace(".", r"\.") + "|version"):
        _load(root)


def test_a_symlink_in_a_version_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "model"
    with replace_directory(root, POINTER, HEADER) as tmp:
        (tmp / "data.txt").write_text("x")
    version = current_version(root, POINTER)
    (version / "data.txt").unlink()
    (version / "data.txt").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ModelDirError, match="symbolic link"):
        _load(root)


def test_a_reader_retries_when_a_writer_replaced_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "model"
    _save(root, "one")
    calls = []

    def read(version: Version) -> str:
        calls.append(version.header["version"])
        if len(calls) == 1:  # a writer publishes and prunes while this reader is mid-load
            _save(root, "two")
        return _read(version)

    assert load_directory(root, POINTER, _check_header, read) == "two"
    assert len(calls) == 2


def test_prune_skips_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "model"
    _save(root, "one")
    leftover = root / ".tmp-0123456789abcdef"
    leftover.mkdir()
    with atomic._locked(root, blocking=True):
        prune_directory(root, POINTER)
        assert leftover.exists()  # may be a running save's folder
    prune_directory(root, POINTER)
    assert not leftover.exists()


def test_modes_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        root = tmp_path / "model"
        _save(root, "x")
    finally:
        os.umask(old)
    version = current_version(root, POINTER)
    for path in (root, version, version / "sub"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
    assert stat.S_IMODE((version / "data.txt").stat().st_mode) == 0o644
    assert json.loads((root / POINTER).read_text())["format"] == "test"


def test_concurrent_saves_are_serialized(tmp_path: Path) -> None:
    root = tmp_path / "model"
    _save(root, "start")
    errors: list[BaseException] = []

    def saves(tag: str) -> None:
        try:
            for i in range(8):
                _save(root, f"{tag}{i}")
                assert _load(root)[0] in "ab"
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=saves, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _load(root) in ("a7", "b7")
    assert len(_entries(root)) == 2
