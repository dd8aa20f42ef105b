"""Model directories: round trip, paddle-free loading, standalone towers, atomicity, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fusionrec.config import ModelConfig
from fusionrec.data import MovieLens
from fusionrec.errors import ModelDirError, ValidationError
from fusionrec.features import FeatureEncoder, Features
from fusionrec.model import FusionModel
from fusionrec.serve.bundle import ModelBundle
from fusionrec.serve.model_dir import load_model_dir, save_model_dir
from fusionrec.train.trainer import Trainer

_VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "reference": ("reference", {}),
    "rating": ("rating", {}),
    "biased": ("rating", {"use_biases": True, "learn_scale": True}),
    "split": ("default", {"retrieval_hidden": 8}),
}


@pytest.fixture(scope="module", params=sorted(_VARIANTS))
def trained(
    request: pytest.FixtureRequest, tiny_data: MovieLens
) -> tuple[FusionModel, FeatureEncoder, ModelConfig]:
    preset, extra = _VARIANTS[request.param]
    config = ModelConfig.preset(preset, epochs=1, user_hidden=32, movie_hidden=32, **extra)
    encoder = FeatureEncoder.fit(tiny_data)
    model = FusionModel(config, encoder)
    Trainer(config, progress=False).fit(model, encoder, tiny_data)
    return model, encoder, config


def test_round_trip_matches_paddle(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tiny_data: MovieLens, tmp_path: Path
) -> None:
    model, encoder, config = trained
    save_model_dir(tmp_path / "m", model, encoder, config, extra={"note": "x"})
    bundle = load_model_dir(tmp_path / "m")
    assert bundle.extra == {"note": "x"} and bundle.config == config and bundle.encoder == encoder
    uf, mf = encoder.encode_users(tiny_data.users), encoder.encode_movies(tiny_data.movies)
    np.testing.assert_allclose(bundle.user_vectors(uf), model.encode_users(uf), atol=1e-5)
    np.testing.assert_allclose(bundle.movie_vectors(mf), model.encode_movies(mf), atol=1e-5)
    assert bundle.dim == model.dim
    live = ModelBundle.from_model(model, encoder, config)
    np.testing.assert_array_equal(live.user_vectors(uf), bundle.user_vectors(uf))


def test_ratings_match_the_model(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tiny_data: MovieLens
) -> None:
    model, encoder, config = trained
    bundle = ModelBundle.from_model(model, encoder, config)
    uf, mf = encoder.encode_users(tiny_data.users), encoder.encode_movies(tiny_data.movies)
    scores = bundle.user_rating_vectors(uf) @ bundle.movie_rating_vectors(mf).T
    ratings = bundle.ratings(scores, uf)
    n_u, n_m = scores.shape
    rows = np.repeat(np.arange(n_u), n_m)
    cols = np.tile(np.arange(n_m), n_u)
    expected = model.predict(uf, mf, rows, cols).reshape(n_u, n_m)
    np.testing.assert_allclose(ratings, expected, atol=1e-4)
    np.testing.assert_allclose(bundle.predict(uf, mf), expected, atol=1e-4)
    same = np.array_equal(bundle.user_vectors(uf), bundle.user_rating_vectors(uf))
    assert bundle.shared_vectors == (not config.split_heads) == same
    if config.use_biases:
        order = np.argsort(-scores[0], kind="stable")
        assert np.all(np.diff(bundle.ratings(scores[:1, order], uf.take([0]))[0]) <= 1e-5)


def test_exported_towers_load_without_fusionrec(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tiny_data: MovieLens, tmp_path: Path
) -> None:
    model, encoder, config = trained
    save_model_dir(tmp_path / "m", model, encoder, config)
    # the towers sit in the version subdirectory that the meta.json pointer names
    files = tmp_path / "m" / json.loads((tmp_path / "m" / "meta.json").read_text())["version"]
    uf, mf = encoder.encode_users(tiny_data.users), encoder.encode_movies(tiny_data.movies)
    np.savez(tmp_path / "in.npz", **uf.columns, **mf.columns)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import paddle
        z = np.load({str(tmp_path / "in.npz")!r})
        t = lambda k: paddle.to_tensor(z[k])
        user = paddle.jit.load({str(files / "user_tower" / "inference")!r})
        movie = paddle.jit.load({str(files / "movie_tower" / "inference")!r})
        u = user(t("user_id"), t("gender"), t("age"), t("occupation"))
        m = movie(t("movie_id"), t("genres"), t("title"))
        assert not [n for n in sys.modules if n.startswith("fusionrec")]
        np.savez({str(tmp_path / "out.npz")!r}, u=u.numpy(), m=m.numpy())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, cwd=tmp_path)
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["u"], model.encode_users(uf), atol=1e-5)
    np.testing.assert_allclose(out["m"], model.encode_movies(mf), atol=1e-5)


def test_loading_does_not_import_paddle(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tmp_path: Path
) -> None:
    model, encoder, config = trained
    save_model_dir(tmp_path / "m", model, encoder, config)
    script = textwrap.dedent(
        f"""
        import sys
        from fusionrec.serve.model_dir import load_model_dir
        b = load_model_dir({str(tmp_path / "m")!r})
        f = b.encoder.encode_users({{"gender": ["M"], "age": [25], "occupation": [3]}})
        assert b.user_vectors(f).shape == (1, b.dim)
        assert "paddle" not in sys.modules, "paddle was imported"
        assert "numba" not in sys.modules, "the training kernels were imported"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


def test_replacing_keeps_old_dir_when_save_fails(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tmp_path: Path
) -> None:
    model, encoder, config = trained
    target = tmp_path / "m"
    save_model_dir(target, model, encoder, config, extra={"v": 1})
    with pytest.raises(ValidationError, match="JSON"):
        save_model_dir(target, model, encoder, config, extra={"v": object()})
    assert load_model_dir(target).extra == {"v": 1}
    save_model_dir(target, model, encoder, config, extra={"v": 2})
    assert load_model_dir(target).extra == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp dirs left behind


def test_bad_model_dirs(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig],
    tmp_path: Path,
    reseal: Callable[[Path, str], Path],
) -> None:
    model, encoder, config = trained
    with pytest.raises(ModelDirError, match="not found"):
        load_model_dir(tmp_path / "missing")
    target = tmp_path / "m"
    save_model_dir(target, model, encoder, config)
    meta = json.loads((target / "meta.json").read_text())
    (target / "meta.json").write_text(json.dumps({**meta, "format_version": 999}))
    with pytest.raises(ModelDirError, match="format version 999"):
        load_model_dir(target)
    # a directory of the format before the schema: refused by its version, never misread
    (target / "meta.json").write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(ModelDirError, match=r"format version 2 is not supported.*reads version 3"):
        load_model_dir(target)
    (target / "meta.json").write_text(json.dumps(meta))
    (target / meta["version"] / "weights.npz").unlink()
    with pytest.raises(ModelDirError, match=r"weights\.npz: missing"):
        load_model_dir(target)
    save_model_dir(target, model, encoder, config)
    version = json.loads((target / "meta.json").read_text())["version"]
    data = encoder.to_dict()
    data["states"]["user"]["user_id"] = {"values": [1, 2]}
    FeatureEncoder.from_dict(data).save(target / version / "encoder.json")
    with pytest.raises(ModelDirError, match=r"encoder\.json: size or checksum differs"):
        load_model_dir(target)
    reseal(target, "meta.json")  # a crafted directory: checksums match, contents do not
    with pytest.raises(ModelDirError, match="rows for user feature 'user_id'"):
        load_model_dir(target)


def test_version_1_directory_is_refused_by_version(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tmp_path: Path
) -> None:
    target = tmp_path / "old"
    target.mkdir()
    (target / "meta.json").write_text(
        json.dumps({"format": "fusionrec-model", "format_version": 1, "dim": 32})
    )
    (target / "weights.npz").write_bytes(b"PK")
    with pytest.raises(ModelDirError, match="format version 1 is not supported"):
        load_model_dir(target)
    model, encoder, config = trained
    save_model_dir(target, model, encoder, config)  # replaces it, and removes the old files
    assert load_model_dir(target).dim == model.dim
    assert not (target / "weights.npz").exists()


def test_bundle_rejects_bad_inputs(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig], tiny_data: MovieLens
) -> None:
    model, encoder, config = trained
    bundle = ModelBundle.from_model(model, encoder, config)
    uf = encoder.encode_users(tiny_data.users)
    with pytest.raises(ValidationError, match="user Features"):
        bundle.user_vectors(tiny_data.users)  # type: ignore[arg-type]
    bad = dict(uf.take([0]).columns)
    bad["user_id"] = bad["user_id"] + 10**6
    with pytest.raises(ValidationError, match="'user_id' holds indices outside"):
        bundle.user_vectors(Features(bad))
    with pytest.raises(ValidationError, match="lack the column 'gender'"):
        bundle.user_vectors(Features({"user_id": uf["user_id"]}))
    with pytest.raises(ValidationError, match="scores"):
        bundle.ratings(np.zeros(3), uf.take([0]))
    with pytest.raises(ValidationError, match="one row per score row"):
        bundle.ratings(np.zeros((2, 3)), uf.take([0]))


def test_single_user_vector_is_fast(
    trained: tuple[FusionModel, FeatureEncoder, ModelConfig],
) -> None:
    import time

    model, encoder, config = trained
    bundle = ModelBundle.from_model(model, encoder, config)
    one = encoder.encode_users({"gender": ["F"], "age": [25], "occupation": [3]})
    times = []
    for _ in range(200):
        t = time.perf_counter()
        bundle.user_vectors(one)
        times.append(time.perf_counter() - t)
    assert float(np.median(times)) < 1e-3
