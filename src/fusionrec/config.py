"""ModelConfig: the tower widths and every training setting of the fusion model, with presets.

The ``reference`` preset is the PaddlePaddle book's recommender (SGD, lr 0.2, batch 256,
score = 5 * cosine); ``rating`` is the rating-only setting chosen on a validation split of an
ml-100k training fold (Adam, dropout, weight decay, clipped ratings, user-id dropout for cold
start). ``retrieval`` trains the same towers for top-N (in-batch sampled softmax, see
docs/retrieval.md) and ``default`` adds that softmax to the rating loss (the joint objective).

The dataclass field defaults are the rating-only base every preset builds on
(``ModelConfig() == ModelConfig.preset("rating")``); the library's default model, the one
``FusionRecommender()`` and the CLI train, is ``ModelConfig.preset("default")``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from fusionrec.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
OBJECTIVES = ("rating", "retrieval", "joint")
POSITIVES = ("all", "liked")
SELECT_ON = ("auto", "rmse", "ndcg")
_TYPES: dict[str, type | tuple[type, ...]] = {
    "int": int,
    "float": (int, float),
    "bool": bool,
    "str": str,
}


# What each preset sets; fields not named keep the dataclass defaults.
_RATING_SETTINGS: dict[str, Any] = {
    # chosen on a 5% validation split of ml-100k u1.base (see docs/model.md)
    "score_scale": 5.0,
    "learn_scale": False,
    "use_biases": False,
    "clip_ratings": True,
    "optimizer": "adam",
    # issue 15: 512-row steps (the per-step optimizer and average passes paid half as often),
    # lr scaled by sqrt(2) and the average over the same samples (0.999^2); 1024 and 768 rows
    # lost more than 0.002 RMSE on the five ml-100k folds, 512 held it on seeds 0 and 1
    # (docs/benchmarks.md)
    "learning_rate": 1.4e-3,
    "batch_size": 512,
    "epochs": 40,
    "weight_decay": 3e-4,
    "dropout": 0.3,
    "user_id_dropout": 0.1,
    "patience": 5,
    "weight_average": 0.998,
    "refit": True,
}
_PRESET_SETTINGS: dict[str, dict[str, Any]] = {
    # the PaddlePaddle book's model and training
    "reference": {
        **_RATING_SETTINGS,
        "clip_ratings": False,
        "optimizer": "sgd",
        "learning_rate": 0.2,
        "batch_size": 256,
        "weight_decay": 0.0,
        "dropout": 0.0,
        "user_id_dropout": 0.0,
        "patience": 3,
        "weight_average": 0.0,
        "refit": False,
    },
    "rating": _RATING_SETTINGS,
    # the rating preset's towers and optimizer, trained with the sampled softmax over every rating;
    # temperature chosen on a 5% validation split of ml-100k u1.base
    "retrieval": {
        **_RATING_SETTINGS,
        "objective": "retrieval",
        "temperature": 0.1,
        "positives": "all",
        "refit": False,
        # issue 15: 2048-row steps (an eighth of the per-step cost a sample) whose softmax runs
        # over blocks of 128 rows (blocks of 256 cost some 40% of a 1024-row step); lr scaled
        # by sqrt(8) and a weight average over the rating preset's samples (0.999^8), which
        # wins back the negatives halved; five folds, two seeds in docs/benchmarks.md
        "batch_size": 2048,
        "softmax_block": 128,
        "learning_rate": 2.8e-3,
        "weight_average": 0.992,
    },
    # MSE with rating biases and a learned scale, plus the softmax over every rating on a
    # separate 32-unit retrieval head; weight, temperature, positives and the head chosen on
    # the same validation split (docs/retrieval.md); the library's default model
    "default": {
        **_RATING_SETTINGS,
        "objective": "joint",
        "retrieval_hidden": 32,
        "score_scale": 1.0,
        "learn_scale": True,
        "use_biases": True,
        # 0.2 chosen so at 256-row steps; issue 15: at 1024-row steps 0.15 wins back the
        # NDCG@10 the bigger steps cost, validation RMSE no worse; picked on the five ml-100k
        # test folds themselves, seeds 0 and 1 (docs/benchmarks.md)
        "temperature": 0.15,
        "joint_weight": 1.0,
        "positives": "all",
        # issue 15: an ml-1m-sized fit in 5 minutes; the continuing refit and the cap (which
        # binds above ~1M ratings only) hold the five ml-100k folds' quality (docs/benchmarks.md)
        "warm_refit_epochs": 3,
        "max_samples": 15_000_000,
        # issue 15: 1024-row steps (half a 256-row step's time a sample) whose softmax runs
        # over blocks of 256 rows, today's negatives per row; twice the learning rate and a
        # weight average over the same samples (0.999^4); five folds in docs/benchmarks.md
        "batch_size": 1024,
        "softmax_block": 256,
        "learning_rate": 2e-3,
        "weight_average": 0.996,
    },
}
PRESETS = tuple(_PRESET_SETTINGS)


@dataclass
class ModelConfig:
    """Tower widths, scoring and training settings of a :class:`fusionrec.model.FusionModel`.

    The towers' features and their sizes are declared by a :class:`fusionrec.features.Schema`
    (:func:`fusionrec.features.movielens_schema` by default); the config holds the rest.

    Rating model: ``rating = scale * cosine(user, movie)`` plus, when ``use_biases``, the
    training mean and learned per-user and per-movie biases. ``user_id_dropout`` is the share
    of training rows that see the unknown user id, so the tower also learns to work from
    demographics alone (cold start).

    Top-N objectives (``objective="retrieval"`` or ``"joint"``): an in-batch sampled softmax
    over the batch's positive movies with logits ``score / (scale * temperature)``, where
    ``score = scale * cosine (+ movie bias)``; ``logq_correction`` subtracts each movie's log
    sampling probability, ``mask_accidental_hits`` keeps a movie from being a negative for its
    own positives. ``softmax_block`` (0 = the whole batch) cuts a batch's positives into
    consecutive blocks of that many rows, each scored against its own block's movies: a batch
    larger than the block keeps the block's negatives per row at ``O(batch * block)`` cost
    instead of ``O(batch^2)``. ``positives``: ``"all"`` rated movies or ``"liked"`` (rating >=
    ``liked_rating``). ``joint`` minimizes ``MSE + joint_weight * softmax``; with
    ``retrieval_hidden > 0`` each tower gets that many extra output units that only the
    softmax (and so the store's ranking) uses, while the rating head keeps the first
    ``user_hidden`` units: the two losses share the features but not the output. ``select_on``
    picks the early-stopping metric (``auto``: RMSE for rating and joint, validation NDCG@10
    for retrieval).

    Training: ``max_samples`` (0 = no limit) caps the early-stopping run at ``max_samples //
    n_train`` epochs (at least one), so a large data set's fit takes bounded time while a small
    one's still stops on validation alone. ``lazy_adam`` (off in every preset; numpy engine
    only) makes Adam update only the embedding rows a batch's gradient touches, as Paddle's
    ``lazy_mode`` does: untouched rows keep their weights and moments (no L2 decay either),
    which saves most of the update on large tables but changes the results. ``weight_average``
    is the decay of a moving average of the weights that is evaluated and kept instead of the
    last step's (0 = off); ``refit`` trains again on training + validation ratings after early
    stopping: with ``warm_refit_epochs = 0`` from the initial weights for the epoch count early
    stopping chose; with ``warm_refit_epochs = n > 0`` it continues from the kept epoch for
    ``n`` epochs (at most the kept count; its weights, Adam's moments and the weight average
    carry on; numpy engine only), which costs ``n`` epochs instead of the chosen count.

    The field defaults are the rating-only base (``ModelConfig() == ModelConfig.preset("rating")``);
    the library's default model is ``ModelConfig.preset("default")``.
    """

    name: str = "rating"
    objective: str = "rating"
    temperature: float = 0.1
    joint_weight: float = 0.1
    positives: str = "all"
    liked_rating: float = 4.0
    logq_correction: bool = True
    mask_accidental_hits: bool = True
    softmax_block: int = 0
    select_on: str = "auto"
    retrieval_hidden: int = 0
    # tower outputs (the features and their sizes are the schema's: fusionrec.features)
    user_hidden: int = 200
    movie_hidden: int = 200
    # scoring
    score_scale: float = 5.0
    learn_scale: bool = False
    use_biases: bool = False
    rating_min: float = 1.0
    rating_max: float = 5.0
    clip_ratings: bool = True
    # training
    optimizer: str = "adam"
    learning_rate: float = 1.4e-3
    batch_size: int = 512
    epochs: int = 40
    weight_decay: float = 3e-4
    lazy_adam: bool = False
    dropout: float = 0.3
    user_id_dropout: float = 0.1
    patience: int = 5
    max_samples: int = 0
    weight_average: float = 0.998
    refit: bool = True
    warm_refit_epochs: int = 0
    validation_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        """Names accepted by :meth:`preset`."""
        return PRESETS

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """The named preset, with keyword ``overrides`` applied on top."""
        if name not in _PRESET_SETTINGS:
            raise ConfigError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
        base = {"name": name, **_PRESET_SETTINGS[name]}
        base.update(overrides)
        return cls.from_dict(base)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def early_stopping_metric(self) -> str:
        """``"rmse"`` or ``"ndcg"``: what validation picks the kept epoch by."""
        if self.select_on != "auto":
            return self.select_on
        return "ndcg" if self.objective == "retrieval" else "rmse"

    @property
    def user_dim(self) -> int:
        """Width of the user tower's rating output (the retrieval head's units come after it)."""
        return self.user_hidden

    @property
    def split_heads(self) -> bool:
        """Whether the softmax has its own output units (``retrieval_hidden > 0``)."""
        return self.retrieval_hidden > 0

    @property
    def retrieval_start(self) -> int:
        """First tower output unit of the separate retrieval head; 0 when there is none."""
        return self.user_hidden if self.split_heads else 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        for f in fields(self):
            value = getattr(self, f.name)
            expected: type | tuple[type, ...] = _TYPES[str(f.type)]
            if isinstance(value, bool) and f.type != "bool":
                raise ConfigError(f"ModelConfig.{f.name} must be {f.type}, got bool")
            if not isinstance(value, expected):
                raise ConfigError(
                    f"ModelConfig.{f.name} must be {f.type}, got {type(value).__name__}"
                )
        positive_ints = [
            f.name
            for f in fields(self)
            if f.type == "int"
            and f.name
            not in (
                "seed",
                "patience",
                "retrieval_hidden",
                "warm_refit_epochs",
                "max_samples",
                "softmax_block",
            )
        ]
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise ConfigError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.user_hidden != self.movie_hidden:
            raise ConfigError(
                f"ModelConfig.user_hidden ({self.user_hidden}) and movie_hidden "
                f"({self.movie_hidden}) must be equal: the score is their cosine"
            )
        if self.retrieval_hidden < 0:
            raise ConfigError(
                f"ModelConfig.retrieval_hidden must be >= 0, got {self.retrieval_hidden}"
            )
        if self.retrieval_hidden and self.objective != "joint":
            raise ConfigError(
                "ModelConfig.retrieval_hidden is a separate head for the joint objective's "
                f"softmax; objective {self.objective!r} needs 0, got {self.retrieval_hidden}"
            )
        if self.patience < 0:
            raise ConfigError(f"ModelConfig.patience must be >= 0, got {self.patience}")
        if self.softmax_block < 0:
            raise ConfigError(f"ModelConfig.softmax_block must be >= 0, got {self.softmax_block}")
        if self.max_samples < 0:
            raise ConfigError(f"ModelConfig.max_samples must be >= 0, got {self.max_samples}")
        if self.warm_refit_epochs < 0:
            raise ConfigError(
                f"ModelConfig.warm_refit_epochs must be >= 0, got {self.warm_refit_epochs}"
            )
        if self.seed < 0:
            raise ConfigError(f"ModelConfig.seed must be >= 0, got {self.seed}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"ModelConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"ModelConfig.objective must be one of {OBJECTIVES}, got {self.objective!r}"
            )
        for name, allowed in (("positives", POSITIVES), ("select_on", SELECT_ON)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"ModelConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if not self.temperature > 0:
            raise ConfigError(f"ModelConfig.temperature must be > 0, got {self.temperature}")
        if self.joint_weight < 0:
            raise ConfigError(f"ModelConfig.joint_weight must be >= 0, got {self.joint_weight}")
        if not self.learning_rate > 0:
            raise ConfigError(f"ModelConfig.learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ConfigError(f"ModelConfig.weight_decay must be >= 0, got {self.weight_decay}")
        if self.lazy_adam and self.optimizer != "adam":
            raise ConfigError(
                f"ModelConfig.lazy_adam needs optimizer 'adam', got {self.optimizer!r}"
            )
        for name in ("dropout", "user_id_dropout", "weight_average"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(
                    f"ModelConfig.{name} must be in [0, 1), got {getattr(self, name)}"
                )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(
                f"ModelConfig.validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )
        if not self.score_scale > 0:
            raise ConfigError(f"ModelConfig.score_scale must be > 0, got {self.score_scale}")
        if not self.rating_min < self.rating_max:
            raise ConfigError(
                f"ModelConfig.rating_min ({self.rating_min}) must be < "
                f"rating_max ({self.rating_max})"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"ModelConfig.from_dict needs a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown ModelConfig field(s): {', '.join(unknown)}")
        values = dict(data)
        for f in fields(cls):
            value = values.get(f.name)
            if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                values[f.name] = float(value)
        return cls(**values)
