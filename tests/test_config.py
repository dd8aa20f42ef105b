"""ModelConfig: presets, validation and the dict round trip."""

from __future__ import annotations

import json

import pytest

from fusionrec.config import ModelConfig
from fusionrec.errors import ConfigError


def test_reference_preset_is_the_books_model() -> None:
    c = ModelConfig.preset("reference")
    assert (c.optimizer, c.learning_rate, c.batch_size) == ("sgd", 0.2, 256)
    assert (c.user_hidden, c.movie_hidden) == (200, 200)  # feature sizes: the schema's
    assert c.score_scale == 5.0 and not c.learn_scale and not c.use_biases
    assert c.user_id_dropout == 0.0 and c.dropout == 0.0


def test_rating_preset_differs_and_overrides_apply() -> None:
    c = ModelConfig.preset("rating", epochs=3, seed=9)
    assert c.name == "rating" and c.optimizer == "adam" and c.dropout > 0 and c.clip_ratings
    assert ModelConfig() == ModelConfig.preset("rating", epochs=c.epochs, seed=c.seed).replace(
        epochs=ModelConfig().epochs, seed=0
    )
    assert (c.epochs, c.seed) == (3, 9)


def test_field_defaults_are_the_rating_preset() -> None:
    assert ModelConfig() == ModelConfig.preset("rating")
    assert ModelConfig().name == "rating"
    # 512-row steps with the average over the same samples (issue 15)
    c = ModelConfig()
    assert (c.batch_size, c.learning_rate, c.weight_average) == (512, 1.4e-3, 0.998)


def test_default_preset_is_the_joint_objective_with_a_retrieval_head() -> None:
    c = ModelConfig.preset("default")
    assert c.name == "default"
    assert c.objective == "joint" and c.retrieval_hidden > 0
    assert c.use_biases and c.learn_scale
    # 1024-row steps with today's 256 negatives per softmax row (issue 15)
    assert (c.batch_size, c.softmax_block) == (1024, 256)
    # at those steps a sharper softmax than the 256-row 0.2 holds top-N quality (issue 15)
    assert c.temperature == 0.15


def test_softmax_block_must_not_be_negative() -> None:
    assert ModelConfig().softmax_block == 0  # the whole batch
    with pytest.raises(ConfigError, match="softmax_block"):
        ModelConfig(softmax_block=-1)


def test_joint_is_an_objective_not_a_preset() -> None:
    assert "joint" not in ModelConfig.preset_names()
    with pytest.raises(ConfigError, match="unknown preset 'joint'"):
        ModelConfig.preset("joint")
    assert ModelConfig(objective="joint").objective == "joint"


def test_round_trip_through_json() -> None:
    c = ModelConfig.preset("rating", dropout=0.3)
    again = ModelConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("optimizer", "rmsprop"),
        ("learning_rate", 0.0),
        ("batch_size", 0),
        ("dropout", 1.0),
        ("user_id_dropout", -0.1),
        ("validation_fraction", 0.0),
        ("objective", "ranking"),
        ("epochs", 2.5),
        ("use_biases", "yes"),
        ("weight_decay", -1.0),
        ("patience", -1),
        ("temperature", 0.0),
        ("joint_weight", -0.5),
        ("positives", "some"),
        ("select_on", "loss"),
        ("retrieval_hidden", -1),
    ],
)
def test_invalid_values_raise_config_error(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{field: value})  # type: ignore[arg-type]


def test_rating_scale_must_be_ordered() -> None:
    with pytest.raises(ConfigError, match="rating_min"):
        ModelConfig(rating_min=5.0, rating_max=1.0)


def test_unknown_preset_and_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        ModelConfig.preset("huge")
    with pytest.raises(ConfigError, match="bogus"):
        ModelConfig.from_dict({"bogus": 1})


def test_int_accepted_for_float_fields() -> None:
    assert ModelConfig.from_dict({"learning_rate": 1}).learning_rate == 1.0


def test_top_n_presets_and_early_stopping_metric() -> None:
    assert set(ModelConfig.preset_names()) == {"reference", "rating", "retrieval", "default"}
    r = ModelConfig.preset("retrieval")
    j = ModelConfig.preset("default", joint_weight=0.5)
    assert (r.objective, j.objective, j.joint_weight) == ("retrieval", "joint", 0.5)
    assert r.logq_correction and r.mask_accidental_hits and r.temperature > 0
    # 2048-row steps, softmax blocks of 128, a weight average over the same samples (issue 15)
    assert (r.batch_size, r.softmax_block, r.weight_average) == (2048, 128, 0.992)
    assert ModelConfig().objective == "rating"
    assert ModelConfig().early_stopping_metric == "rmse"
    assert r.early_stopping_metric == "ndcg" and j.early_stopping_metric == "rmse"
    assert j.replace(select_on="ndcg").early_stopping_metric == "ndcg"
    assert ModelConfig.from_dict(r.to_dict()) == r


def test_separate_retrieval_head_only_for_joint_and_equal_tower_widths() -> None:
    assert ModelConfig.preset("default").split_heads
    assert not ModelConfig.preset("default", retrieval_hidden=0).split_heads
    assert ModelConfig.preset("default", user_hidden=24, movie_hidden=24).retrieval_start == 24
    assert ModelConfig.preset("default", retrieval_hidden=0).retrieval_start == 0
    with pytest.raises(ConfigError, match="retrieval_hidden"):
        ModelConfig.preset("rating", retrieval_hidden=8)
    with pytest.raises(ConfigError, match="movie_hidden"):
        ModelConfig(user_hidden=100, movie_hidden=200)
