"""Property-based fuzzing of saved model directories: damage any file, then load.

Expected: a FusionrecError, or a load whose answers are exactly the original's (a damaged
byte that still loads, e.g. JSON whitespace). With the checksums recomputed (a crafted
directory), a load may succeed with other answers, but using it never raises anything but a
FusionrecError. Budget: about 30 s on a loaded 2-core machine.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionrec import FusionRecommender, ModelConfig
from fusionrec.data import MovieLens
from fusionrec.errors import FusionrecError

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
POINTER = "recommender.json"
Reseal = Callable[[Path, str], Path]


@pytest.fixture(scope="module")
def saved(tiny_data: MovieLens, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = FusionRecommender(ModelConfig.preset("rating", epochs=1, seed=0), progress=False)
    rec.fit(tiny_data)
    return rec.save(tmp_path_factory.mktemp("fuzz") / "model")


@pytest.fixture(scope="module")
def files(saved: Path) -> list[str]:
    """Every file of the saved directory, the pointer included, relative to it."""
    return sorted(
        p.relative_to(saved).as_posix()
        for p in saved.rglob("*")
        if p.is_file() and p.name != ".lock"
    )


def answers(rec: FusionRecommender) -> dict[str, Any]:
    """What a loaded recommender says: predictions, seen items, catalog, demographics."""
    users = list(rec.bundle.encoder.states["user"]["user_id"].values[:4])
    movies = rec.movies.movie_id[:6].tolist()
    seen = rec._seen
    assert seen is not None
    return {
        "predict": [rec.predict(u, movies).tolist() for u in users],
        "cold": rec.predict({"age": 25, "gender": "F", "occupation": 3}, movies).tolist(),
        "seen": [seen.of(u).tolist() for u in users],
        "titles": rec.movies.title.tolist(),
        "genres": [list(g) for g in rec.movies.genres],
        "users": [rec.users.ids.tolist(), [str(g) for g in rec.users.columns["gender"]]],
        "occupations": list(rec.occupations),
        "config": rec.config.to_dict(),
    }


@pytest.fixture(scope="module")
def expected(saved: Path) -> dict[str, Any]:
    return answers(FusionRecommender.load(saved))


def _damage(raw: bytes, data: st.DataObject) -> bytes:
    if not raw:
        return b"x"
    if data.draw(st.booleans(), label="truncate"):
        return raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    out = bytearray(raw)
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    out[at] ^= data.draw(st.integers(1, 255), label="xor")
    return bytes(out)


def _copy(saved: Path, folder: str) -> Path:
    return Path(shutil.copytree(saved, Path(folder) / "model"))


def _use(root: Path) -> None:
    """Load and use; only a FusionrecError may escape."""
    try:
        rec = FusionRecommender.load(root)
        answers(rec)
    except FusionrecError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(data=st.data())
def test_a_damaged_file_is_detected_or_harmless(
    saved: Path, files: list[str], expected: dict[str, Any], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(files), label="file")
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(saved, folder)
        path = root / name
        path.write_bytes(_damage(path.read_bytes(), data))
        try:
            rec = FusionRecommender.load(root)
        except FusionrecError as exc:
            assert "\n" not in str(exc)
            return
        assert answers(rec) == expected, f"{name} damaged, loaded with other answers"


@FUZZ
@given(data=st.data())
def test_a_crafted_file_never_raises_a_traceback(
    saved: Path, files: list[str], reseal: Reseal, data: st.DataObject
) -> None:
    """The same damage with the checksums recomputed, so the validators see it."""
    name = data.draw(st.sampled_from([f for f in files if f != POINTER]), label="file")
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(saved, folder)
        path = root / name
        path.write_bytes(_damage(path.read_bytes(), data))
        reseal(root, POINTER)
        _use(root)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@FUZZ
@given(data=st.data())
def test_random_field_values_never_raise_a_traceback(
    saved: Path, files: list[str], reseal: Reseal, data: st.DataObject
) -> None:
    """Replace one field (or one element of a list field) of a JSON file by a random value."""
    json_files = [f for f in files if f.endswith(".json") and f != POINTER]
    name = data.draw(st.sampled_from(json_files), label="file")
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(saved, folder)
        path = root / name
        document = json.loads(path.read_text(encoding="utf-8"))
        key = data.draw(st.sampled_from(sorted(document)), label="key")
        value = data.draw(json_values, label="value")
        field = document[key]
        if isinstance(field, list) and field and data.draw(st.booleans(), label="element"):
            field[data.draw(st.integers(0, len(field) - 1), label="index")] = value
        else:
            document[key] = value
        path.write_text(json.dumps(document), encoding="utf-8")
        reseal(root, POINTER)
        _use(root)


@FUZZ
@given(data=st.data())
def test_random_npz_arrays_never_raise_a_traceback(
    saved: Path, files: list[str], reseal: Reseal, data: st.DataObject
) -> None:
    """Replace one array of an .npz by one of another dtype, shape or content."""
    npz_files = [f for f in files if f.endswith(".npz")]
    name = data.draw(st.sampled_from(npz_files), label="file")
    with tempfile.TemporaryDirectory() as folder:
        root = _copy(saved, folder)
        path = root / name
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        key = data.draw(st.sampled_from(sorted(arrays)), label="array")
        old = arrays[key]
        dtype = data.draw(st.sampled_from([old.dtype, np.int64, np.float32, np.uint8, np.int32]))
        size = data.draw(st.sampled_from([old.size, max(old.size - 1, 0), old.size + 1, 0]))
        flat = data.draw(
            st.lists(st.integers(-(2**31), 2**31), min_size=min(size, 3), max_size=min(size, 3))
        )
        new = np.resize(np.asarray(old.ravel(), dtype=np.float64), size)
        new[: len(flat)] = flat
        shaped = new.reshape(old.shape) if size == old.size else new
        with np.errstate(invalid="ignore"):  # NaN or out-of-range values cast on purpose
            arrays[key] = shaped.astype(dtype)
        np.savez(path, **arrays)
        reseal(root, POINTER)
        _use(root)
