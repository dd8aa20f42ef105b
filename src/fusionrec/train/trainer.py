"""Trainer: mini-batch training of a FusionModel on interactions, with early stopping.

The objective comes from the config: rating MSE, the in-batch sampled softmax for top-N
(``retrieval``, over positive ratings only) or both (``joint``). Early stopping keeps the epoch
with the best validation RMSE or validation NDCG@10 (full ranking over the catalog with the
training interactions excluded, relevant = validation ratings >= ``liked_rating``).

Implicit feedback (interactions without ratings: clicks, plays) trains the ``retrieval``
objective with every interaction a positive and early-stops on validation NDCG@10 with every
held-out interaction relevant; nothing rating-based (RMSE, the rating calibration, the global
mean) runs. ``Interactions.weight`` makes each interaction count that much: the batch loss is
the weighted mean of the rows' squared errors and of the positives' cross-entropies.

Speed without changing the maths: per batch each tower runs once per distinct user (or user
with its id dropped) and once per distinct movie, and the rows are gathered afterwards (same
loss, same gradients); titles are packed to their real words instead of padded. One seed
drives Python, numpy, Paddle and the shuffling, so CPU runs repeat exactly.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionrec._paddle import paddle
from fusionrec.blocks import score_rows
from fusionrec.config import ModelConfig
from fusionrec.data.dataset import Dataset, Interactions, as_dataset
from fusionrec.data.tables import MovieLens
from fusionrec.errors import ValidationError
from fusionrec.eval.metrics import evaluate_topn, item_sets, relevant_sets
from fusionrec.features.encoder import FeatureEncoder
from fusionrec.features.kind import RowGrad
from fusionrec.features.schema import Features
from fusionrec.features.text import Windows
from fusionrec.features.vocabulary import UNK
from fusionrec.model.fusion import FusionModel
from fusionrec.train.blas import blas_threads
from fusionrec.train.engine import Batch, FusedStep, NumpyOptimizer
from fusionrec.train.kernels import (
    catch_up_rows,
    moving_average,
    moving_average_rows,
    unique_inverse,
)
from fusionrec.train.losses import accidental_hit_mask, log_sampling_probability

IntArray = npt.NDArray[np.int64]
ENGINES = ("numpy", "paddle")
VALIDATION_K = 10


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did: mean training loss, validation RMSE (and NDCG@10), time, throughput.

    ``val_ndcg`` is NaN when the objective is ``rating`` and selection is by RMSE;
    ``val_rmse`` is NaN for implicit feedback (no ratings).
    """

    epoch: int
    train_loss: float
    val_rmse: float
    seconds: float
    samples_per_second: float
    val_ndcg: float = math.nan


@dataclass
class History:
    """Per-epoch records plus the epoch whose weights were kept.

    ``selected_on`` names the validation metric that chose it ("rmse" or "ndcg");
    ``best_val_rmse`` and ``best_val_ndcg`` are that epoch's figures.
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_val_rmse: float = math.inf
    stopped_early: bool = False
    n_train: int = 0
    n_validation: int = 0
    best_val_ndcg: float = math.nan
    selected_on: str = "rmse"
    refit_epochs: list[EpochRecord] = field(default_factory=list)
    n_refit: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "epochs": [vars(e) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "best_val_rmse": self.best_val_rmse,
            "stopped_early": self.stopped_early,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "best_val_ndcg": self.best_val_ndcg,
            "selected_on": self.selected_on,
            "refit_epochs": [vars(e) for e in self.refit_epochs],
            "n_refit": self.n_refit,
        }


def _rmse(y: npt.NDArray[np.float32], p: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean((y.astype(np.float64) - p) ** 2)))


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and Paddle's generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    paddle.seed(seed)


def validate_interactions(data: Dataset, config: ModelConfig, name: str) -> None:
    """Raise :class:`ValidationError` unless ``config`` can train on ``data``'s interactions.

    Ratings must be finite and inside the configured scale; without ratings (implicit
    feedback) only the ``retrieval`` objective with every interaction a positive and NDCG
    selection can train. Weights must be finite and > 0.
    """
    if not isinstance(data, Dataset):
        raise ValidationError(f"{name} must be a Dataset, got {type(data).__name__}")
    r = data.interactions
    columns = (("user_id", "iuO"), ("item_id", "iuO"), ("rating", "fiu"), ("weight", "fiu"))
    for col, kinds in columns:
        arr = getattr(r, col)
        if arr is None and col in ("rating", "weight"):
            continue
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype.kind not in kinds:
            got = f"{arr.dtype}[{arr.ndim}d]" if isinstance(arr, np.ndarray) else type(arr)
            raise ValidationError(f"{name}.interactions.{col} has the wrong dtype or shape: {got}")
    if r.rating is None:
        _check_implicit(config, name)
    if len(r) == 0:
        raise ValidationError(f"{name} has no {'ratings' if r.explicit else 'interactions'}")
    if r.weight is not None and not (np.all(np.isfinite(r.weight)) and r.weight.min() > 0):
        raise ValidationError(
            f"{name}.interactions.weight must be finite and > 0 (drop rows that should not count)"
        )
    y = r.rating
    if y is not None and not np.all(np.isfinite(y)):
        raise ValidationError(f"{name}.interactions.rating holds non-finite values")
    if y is not None and (y.min() < config.rating_min or y.max() > config.rating_max):
        raise ValidationError(
            f"{name} ratings span [{float(y.min())}, {float(y.max())}], outside the configured "
            f"scale [{config.rating_min}, {config.rating_max}]"
        )
    missing_u = np.setdiff1d(r.user_id, data.users.ids)
    missing_m = np.setdiff1d(r.item_id, data.items.ids)
    if len(missing_u) or len(missing_m):
        raise ValidationError(
            f"{name} has ratings for {len(missing_u)} user(s) and {len(missing_m)} item(s) "
            "missing from its users/items tables"
        )


def _check_implicit(config: ModelConfig, name: str) -> None:
    """Refuse a config that needs ratings for interactions without them."""
    if config.objective != "retrieval":
        raise ValidationError(
            f"{name} has no ratings (implicit feedback): objective {config.objective!r} "
            "needs them; train with ModelConfig.preset('retrieval')"
        )
    if config.positives == "liked":
        raise ValidationError(
            f"{name} has no ratings (implicit feedback): positives='liked' needs them; "
            "use positives='all'"
        )
    if config.early_stopping_metric == "rmse":
        raise ValidationError(
            f"{name} has no ratings (implicit feedback): select_on='rmse' needs them; "
            "use select_on='ndcg' (or 'auto')"
        )


class _Encoded:
    """A data set's users and items encoded once; interactions as row positions into them.

    ``y`` holds the ratings (None for implicit feedback), ``weight`` the interactions'
    weights (None: each counts 1).
    """

    def __init__(self, data: Dataset | MovieLens, encoder: FeatureEncoder) -> None:
        schema = encoder.schema
        data = as_dataset(data)
        self.users: Features = encoder.encode_users(data.users.as_columns())
        self.movies: Features = encoder.encode_items(data.items.as_columns())
        r = data.interactions
        self.user_row: IntArray = data.users.rows(r.user_id, "user id")
        self.movie_row: IntArray = data.items.rows(r.item_id, "item id")
        self.y = None if r.rating is None else r.rating.astype(np.float32)
        self.weight = None if r.weight is None else r.weight.astype(np.float32)
        # each feature's column in the form its kind gathers batches from
        self.user_inputs = [f.prepare(self.users[f.name]) for f in schema.user]
        self.item_inputs = [f.prepare(self.movies[f.name]) for f in schema.item]
        ids = [i for i, f in enumerate(schema.user) if f.is_id]
        self.user_id_position = ids[0] if ids else None
        item_id = schema.id_of("item")
        self.item_id = self.movies[item_id.name] if item_id is not None else None
        self.positive: npt.NDArray[np.bool_] | None = None  # per rating: softmax positive
        self.log_q: npt.NDArray[np.float32] | None = None  # per movie row

    def __len__(self) -> int:
        return len(self.user_row)

    def restrict(self, rows: IntArray) -> None:
        """Keep only the interactions at ``rows`` (tables unchanged)."""
        self.user_row = self.user_row[rows]
        self.movie_row = self.movie_row[rows]
        if self.y is not None:
            self.y = self.y[rows]
        if self.weight is not None:
            self.weight = self.weight[rows]
        if self.positive is not None:
            self.positive = self.positive[rows]


class Trainer:
    """Trains a :class:`FusionModel` with the optimizer and schedule of a :class:`ModelConfig`.

    ``engine="numpy"`` (default) computes each step's loss and gradients with the fused numpy
    kernel and applies Paddle's update rules to numpy copies of the weights;
    ``engine="paddle"`` runs the same maths through Paddle's autograd and optimizer (about 5x
    slower on CPU). ``threads`` is the numpy engine's BLAS thread count: 2 trains about 7%
    faster on an idle 2-core machine but several times slower on a busy one, hence 1.
    Results can differ in the last float digit between thread counts.
    """

    def __init__(
        self, config: ModelConfig, progress: bool = True, engine: str = "numpy", threads: int = 1
    ) -> None:
        if engine not in ENGINES:
            raise ValidationError(f"engine must be one of {ENGINES}, got {engine!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValidationError(f"threads must be an int >= 1, got {threads!r}")
        if config.lazy_adam and engine != "numpy":
            raise ValidationError("ModelConfig.lazy_adam needs the numpy engine")
        if config.refit and config.warm_refit_epochs and engine != "numpy":
            raise ValidationError("ModelConfig.warm_refit_epochs > 0 needs the numpy engine")
        self.config = config
        self.progress = progress
        self.engine = engine
        self.threads = threads
        self._numpy: dict[int, tuple[FusedStep, NumpyOptimizer]] = {}
        self._average: WeightAverage | None = None
        self._kept: _Resume | None = None  # the best epoch's state, for a continuing refit
        self._started = time.perf_counter()  # reset by fit: progress lines' elapsed time

    def _optimizer(self, model: FusionModel) -> paddle.optimizer.Optimizer:
        return self._optimizer_for([p for p in model.parameters() if not p.stop_gradient])

    def _optimizer_for(self, params: list[paddle.Tensor]) -> paddle.optimizer.Optimizer:
        """Paddle's optimizer for ``params`` as the config asks (engine="paddle")."""
        c = self.config
        decay = c.weight_decay if c.weight_decay > 0 else None
        if c.optimizer == "sgd":
            return paddle.optimizer.SGD(
                learning_rate=c.learning_rate, parameters=params, weight_decay=decay
            )
        return paddle.optimizer.Adam(
            learning_rate=c.learning_rate, parameters=params, weight_decay=decay
        )

    def fit(
        self,
        model: FusionModel,
        encoder: FeatureEncoder,
        train: Dataset | MovieLens,
        validation: Dataset | MovieLens | None = None,
    ) -> History:
        """Train ``model`` in place; keep the weights of the best validation epoch.

        Without ``validation`` a deterministic ``config.validation_fraction`` of the training
        interactions is held out for it (their weights go with them). Early stopping ends
        training after ``config.patience`` epochs without improvement (0 disables it), or after
        ``config.max_samples`` training samples (whole epochs; 0 = no limit). With
        ``config.refit`` the model is then trained on training + validation interactions, so
        the final model sees every one (``History.refit_epochs``): from its initial weights for
        the kept number of epochs, or with ``config.warm_refit_epochs > 0`` onward from the
        kept epoch for that many epochs (at most the kept count). Interactions without ratings
        train the ``retrieval`` objective (see the module docstring); ``validation`` must then
        lack ratings too.
        """
        c = self.config
        if not isinstance(model, FusionModel):
            raise ValidationError(f"model must be a FusionModel, got {type(model).__name__}")
        if not isinstance(encoder, FeatureEncoder):
            raise ValidationError(f"encoder must be a FeatureEncoder, got {type(encoder).__name__}")
        train = as_dataset(train, "training data")
        validate_interactions(train, c, "training data")
        seed_everything(c.seed)
        rng = np.random.default_rng(c.seed)  # the split, then every epoch's shuffle
        if validation is None:
            if len(train.interactions) < 2:
                raise ValidationError("training data needs at least 2 ratings to hold some out")
            order = rng.permutation(len(train.interactions))
            n_val = max(1, round(len(order) * c.validation_fraction))
            validation = train.with_interactions(train.interactions.take(np.sort(order[:n_val])))
            train = train.with_interactions(train.interactions.take(np.sort(order[n_val:])))
            del order  # 8 bytes a rating, not needed while training
        else:
            validation = as_dataset(validation, "validation data")
            validate_interactions(validation, c, "validation data")
            if validation.implicit != train.implicit:
                raise ValidationError(
                    "validation data and training data must both have ratings or both lack them"
                )
        initial = _state(model) if c.refit and not c.warm_refit_epochs else None
        self._started = time.perf_counter()
        self._kept = None
        epochs = c.epochs
        if c.max_samples:
            epochs = min(epochs, max(1, c.max_samples // len(train.interactions)))
        history = self._train(model, encoder, train, validation, epochs, rng)
        if c.refit:
            full = train.with_interactions(_concat(train.interactions, validation.interactions))
            validate_interactions(full, c, "training + validation data")
            seed_everything(c.seed)
            if initial is not None:
                model.set_state_dict({k: paddle.to_tensor(v) for k, v in initial.items()})
            epochs = min(c.warm_refit_epochs, history.best_epoch) or history.best_epoch
            resume, self._kept = self._kept, None
            refit = self._train(model, encoder, full, None, epochs, rng, "refit ", resume)
            history.refit_epochs = refit.epochs
            history.n_refit = refit.n_train
        return history

    def _train(
        self,
        model: FusionModel,
        encoder: FeatureEncoder,
        train: Dataset,
        validation: Dataset | None,
        epochs: int,
        rng: np.random.Generator,
        label: str = "",
        resume: _Resume | None = None,
    ) -> History:
        """Train for up to ``epochs``; with ``validation``, early-stop and keep the best epoch.

        Without it (the refit), every epoch runs and the last one is kept. ``label`` prefixes
        the progress lines. ``resume`` continues from a kept epoch's training state; with
        ``config.warm_refit_epochs`` the best epoch's state is kept in ``self._kept`` for that.
        """
        c = self.config
        self._encoder = encoder
        tr = _Encoded(train, encoder)
        rated = None  # every rating, for the retrieval objective's calibration
        if tr.y is not None:
            model.set_global_mean(float(np.mean(tr.y, dtype=np.float64)))
            if c.objective == "retrieval":  # its training keeps the positives only
                rated = (tr.user_row.copy(), tr.movie_row.copy(), tr.y.copy())
        if c.objective != "rating":
            self._set_positives(tr)
        metric = c.early_stopping_metric
        va, ranking = None, None
        if validation is not None:
            va = _Encoded(validation, encoder)
            if metric == "ndcg":
                ranking = _RankingCheck(train, validation, c, va)
        optimizer = self._optimizer(model) if self.engine == "paddle" else None
        self._numpy = {}
        self._average = WeightAverage(model, c.weight_average) if c.weight_average else None
        if resume is not None:
            resume.restore(self, model)
        keep = va is not None and c.refit and c.warm_refit_epochs > 0
        history = History(
            n_train=len(tr), n_validation=len(va) if va is not None else 0, selected_on=metric
        )
        best_state: dict[str, npt.NDArray[Any]] | None = None
        best = -math.inf
        waited = 0
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            with blas_threads(self.threads):
                loss = self._epoch(model, optimizer, tr, rng, epoch, epochs)
            seconds = time.perf_counter() - start
            raw = self._average.swap_in(model) if self._average is not None else None
            if rated is not None:
                _calibrate(model, tr, rated)
            val = ndcg = math.nan
            if va is not None:
                if va.y is not None:
                    pred = model.predict(va.users, va.movies, va.user_row, va.movie_row)
                    val = _rmse(va.y, pred)
                ndcg = ranking.ndcg(model) if ranking is not None else math.nan
            record = EpochRecord(epoch, loss, val, seconds, len(tr) / max(seconds, 1e-9), ndcg)
            history.epochs.append(record)
            if self.progress:
                self._report(f"{label}epoch {epoch}/{epochs}", record)
            value = ndcg if metric == "ndcg" else -val
            if va is None or value > best:
                best = value
                history.best_val_rmse = val
                history.best_val_ndcg = ndcg
                history.best_epoch = epoch
                best_state = _state(model) if va is not None or epoch == epochs else None
                if keep:
                    self._kept = _Resume.capture(self, model, raw)
                waited = 0
            else:
                waited += 1
            if raw is not None:
                _set_weights(model, raw)
            if va is not None and c.patience and waited >= c.patience:
                history.stopped_early = epoch < epochs
                break
        if best_state is not None:
            model.set_state_dict({k: paddle.to_tensor(v) for k, v in best_state.items()})
        model.eval()
        return history

    def _report(self, name: str, record: EpochRecord) -> None:
        """One progress line per epoch on stderr, flushed, so logs and pipes see it too."""
        text = f"{name}: loss {record.train_loss:.4f}"
        if not math.isnan(record.val_rmse):
            text += f", validation RMSE {record.val_rmse:.4f}"
        if not math.isnan(record.val_ndcg):
            text += f", NDCG@{VALIDATION_K} {record.val_ndcg:.4f}"
        elapsed = time.perf_counter() - self._started
        text += f", {record.samples_per_second / 1000:.1f}k samples/s, elapsed {elapsed:.1f} s"
        print(text, file=sys.stderr, flush=True)

    def _set_positives(self, tr: _Encoded) -> None:
        """Flag the softmax positives and their movies' log sampling probabilities.

        ``retrieval`` trains on the positives only; ``joint`` keeps every rating for the MSE.
        Implicit feedback has positives "all" (checked by :func:`validate_interactions`).
        """
        c = self.config
        if c.positives == "liked":
            if tr.y is None:
                raise ValidationError("positives='liked' needs ratings; use positives='all'")
            positive = tr.y >= np.float32(c.liked_rating)
        else:
            positive = np.ones(len(tr), dtype=bool)
        if not positive.any():
            raise ValidationError(
                f"no training rating counts as a positive (positives={c.positives!r}, "
                f"liked_rating={c.liked_rating})"
            )
        tr.positive = positive
        lq = log_sampling_probability(tr.movie_row[positive], len(tr.movies))
        tr.log_q = np.where(np.isfinite(lq), lq, 0.0).astype(np.float32)
        if c.objective == "retrieval":
            tr.restrict(np.flatnonzero(positive).astype(np.int64))
            tr.positive = None

    def _batch(self, data: _Encoded, rows: IntArray, drop: npt.NDArray[np.bool_] | None) -> Batch:
        schema = self._encoder.schema
        n_users = len(data.users)
        urows = data.user_row[rows]
        uid = data.user_id_position
        dropping = drop is not None and uid is not None
        key = urows * 2 + drop[rows] if dropping and drop is not None else urows
        ukeys, uinv = unique_inverse(key, 2 * n_users if dropping else n_users)
        mrows, minv = unique_inverse(data.movie_row[rows], len(data.movies))
        uu = ukeys // 2 if dropping else ukeys
        user_inputs = [f.gather(x, uu) for f, x in zip(schema.user, data.user_inputs, strict=True)]
        user_id = None
        if uid is not None:
            if dropping:
                user_inputs[uid] = np.where(ukeys % 2 == 1, UNK, user_inputs[uid])
            user_id = user_inputs[uid]
        item_inputs = [
            f.gather(x, mrows) for f, x in zip(schema.item, data.item_inputs, strict=True)
        ]
        return Batch(
            user_inputs=user_inputs,
            item_inputs=item_inputs,
            n_users=len(uu),
            n_items=len(mrows),
            user_id=user_id,
            item_id=data.item_id[mrows] if data.item_id is not None else None,
            user_index=uinv.reshape(-1),
            item_index=minv.reshape(-1),
            y=data.y[rows] if data.y is not None else None,
            positive=data.positive[rows] if data.positive is not None else None,
            log_q=data.log_q[data.movie_row[rows]] if data.log_q is not None else None,
            weight=data.weight[rows] if data.weight is not None else None,
        )

    def _autograd_loss(self, model: FusionModel, b: Batch) -> paddle.Tensor:
        """The same loss through Paddle's autograd (engine="paddle")."""
        uh = model.user_tower(*_paddle_inputs(b.user_inputs))
        mh = model.item_tower(*_paddle_inputs(b.item_inputs))
        ui = paddle.to_tensor(b.user_index)
        mi = paddle.to_tensor(b.item_index)
        urow, mrow = paddle.gather(uh, ui), paddle.gather(mh, mi)
        uid = paddle.gather(paddle.to_tensor(b.user_id), ui) if b.user_id is not None else None
        item_rows = (
            paddle.gather(paddle.to_tensor(b.item_id), mi) if b.item_id is not None else None
        )
        c = self.config
        loss = paddle.zeros([], dtype="float32")
        if c.objective in ("rating", "joint"):
            if b.y is None:
                raise ValidationError(f"objective {c.objective!r} needs ratings")
            pred = model.score(urow, mrow, uid, item_rows)
            diff = pred - paddle.to_tensor(b.y)
            if b.weight is None:
                loss = loss + paddle.mean(diff * diff)
            else:
                w = paddle.to_tensor(b.weight)
                loss = loss + paddle.sum(w * diff * diff) / paddle.sum(w)
        if c.objective in ("retrieval", "joint"):
            n = len(b.user_index)
            positive = np.arange(n) if b.positive is None else np.flatnonzero(b.positive)
            size = c.softmax_block or max(positive.size, 1)
            weight = c.joint_weight if c.objective == "joint" else 1.0
            total = (
                positive.size
                if b.weight is None
                else float(b.weight[positive].sum(dtype=np.float64))
            )
            for start in range(0, positive.size, size):  # each block its own softmax
                rows = positive[start : start + size]
                r = paddle.to_tensor(rows.astype(np.int64))
                z = model.logits(
                    paddle.gather(urow, r),
                    paddle.gather(mrow, r),
                    paddle.gather(item_rows, r) if item_rows is not None else None,
                )
                if c.logq_correction and b.log_q is not None:
                    z = z - paddle.to_tensor(b.log_q[rows]).unsqueeze(0)
                if c.mask_accidental_hits:
                    hit = accidental_hit_mask(b.item_index[rows])
                    z = z - paddle.to_tensor(np.where(hit, np.float32(1e30), np.float32(0.0)))
                lse = paddle.logsumexp(z, axis=1)
                own = paddle.diagonal(z)
                if b.weight is None:
                    loss = loss + weight * paddle.sum(lse - own) / total
                else:
                    w = paddle.to_tensor(b.weight[rows])
                    loss = loss + weight * paddle.sum(w * (lse - own)) / total
        return loss

    def _epoch(
        self,
        model: FusionModel,
        optimizer: paddle.optimizer.Optimizer | None,
        data: _Encoded,
        rng: np.random.Generator,
        epoch: int,
        epochs: int,
    ) -> float:
        from tqdm.auto import tqdm

        c = self.config
        model.train()
        n = len(data)
        order = rng.permutation(n)
        drop = rng.random(n) < c.user_id_dropout if c.user_id_dropout > 0 else None
        fused = None
        if self.engine == "numpy":
            fused, nopt, weights = self._numpy_state(model)
        total = 0.0
        bar = tqdm(
            total=n,
            desc=f"epoch {epoch}/{epochs}",
            unit="samples",
            unit_scale=True,
            leave=False,
            disable=None if self.progress else True,
        )
        try:
            for step, begin in enumerate(range(0, n, c.batch_size)):
                rows = order[begin : begin + c.batch_size]
                batch = self._batch(data, rows, drop)
                if fused is not None:
                    value, grads = fused.run(batch, weights)
                    if self._average is None:
                        nopt.step(weights, grads)
                    else:  # rows the step leaves alone are averaged when they next change
                        changing = {
                            name: g.rows
                            for name, g in grads.items()
                            if isinstance(g, RowGrad) and nopt.rows_only(name)
                        }
                        self._average.catch_up(weights, changing)
                        nopt.step(weights, grads)
                        self._average.update(weights, changing)
                else:
                    assert optimizer is not None
                    loss = self._autograd_loss(model, batch)
                    loss.backward()
                    optimizer.step()
                    optimizer.clear_grad()
                    value = float(loss)
                    if self._average is not None:
                        self._average.update(_trained_weights(model))
                if not math.isfinite(value):
                    raise ValidationError(
                        f"training diverged (loss {value}) at epoch {epoch}; "
                        "lower the learning rate"
                    )
                total += value * len(rows)
                bar.update(len(rows))
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        finally:
            bar.close()
            if fused is not None:
                _set_weights(model, {name: weights[name] for name in fused.names})
        return total / n

    def _numpy_state(
        self, model: FusionModel
    ) -> tuple[FusedStep, NumpyOptimizer, dict[str, npt.NDArray[np.float32]]]:
        """Kernel, optimizer state and numpy copies of the weights for the numpy engine."""
        weights = model.numpy_weights()
        state = self._numpy.get(id(model))
        if state is None:
            named = dict(model.named_parameters())
            names = [k for k, p in named.items() if not p.stop_gradient]
            tables = frozenset(
                f"{layer_name}.weight"
                for layer_name, layer in model.named_sublayers()
                if isinstance(layer, paddle.nn.Embedding)
            )
            state = (
                FusedStep(self.config, names, self._encoder),
                NumpyOptimizer(self.config, weights, names, tables & set(names)),
            )
            self._numpy[id(model)] = state
        return state[0], state[1], weights


class WeightAverage:
    """An exponential moving average of the trained weights, for evaluation and the result.

    ``decay`` is the average's decay per step, warmed up as ``min(decay, (1 + t) / (10 + t))``
    so the first steps do not tie it to the initial weights. Averaging smooths the noise of
    the last steps of Adam with dropout; validation picks the kept epoch from the averages.

    A table whose step changes only the rows of its gradient (lazy Adam, SGD without weight
    decay) is averaged lazily, so a step costs its rows rather than the table: a row is
    averaged on the steps that change it, and the steps in between, which move its average
    toward unchanged weights, are applied in closed form just before (:meth:`catch_up`) and
    when the average is read (:meth:`settle`).
    """

    def __init__(self, model: FusionModel, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        self.weights = {k: v.copy() for k, v in _trained_weights(model).items()}
        self._log_decay = 0.0  # sum of log(decay) over the steps so far
        self._synced: dict[str, npt.NDArray[np.float64]] = {}  # lazy tables: per row

    def catch_up(
        self, weights: dict[str, npt.NDArray[np.float32]], rows: Mapping[str, IntArray]
    ) -> None:
        """Before a step that changes only ``rows[name]`` of the named tables: bring those
        rows' averages up to date with the weights they have had since last averaged (and
        every row of a lazily averaged table the step changes otherwise)."""
        self.settle({n: weights[n] for n in self._synced if n not in rows})
        for name, index in rows.items():
            synced = self._synced.get(name)
            if synced is None:  # averaged densely so far: every row is up to date
                synced = np.full(len(weights[name]), self._log_decay)
                self._synced[name] = synced
            catch_up_rows(self.weights[name], weights[name], index, synced, self._log_decay)

    def update(
        self,
        weights: dict[str, npt.NDArray[np.float32]],
        rows: Mapping[str, IntArray] | None = None,
    ) -> None:
        """Move the average toward ``weights`` (one training step); ``rows``: the tables that
        step changed at those rows only (see :meth:`catch_up`)."""
        self.steps += 1
        d = np.float32(min(self.decay, (1 + self.steps) / (10 + self.steps)))
        self._log_decay += math.log(float(d))
        rows = rows or {}
        for name, avg in self.weights.items():
            index = rows.get(name)
            if index is not None:
                moving_average_rows(avg, weights[name], index, d)
                self._synced[name][index] = self._log_decay
                continue
            if name in self._synced:
                raise RuntimeError(f"{name}: averaged lazily, but catch_up was not called")
            moving_average(avg.reshape(-1), weights[name].reshape(-1), d)

    def settle(self, weights: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Bring every lazily averaged row of the tables in ``weights`` (their current
        weights) up to date; those tables are then averaged densely until
        :meth:`catch_up` names them again."""
        for name in [n for n in self._synced if n in weights]:
            every = np.arange(len(weights[name]), dtype=np.int64)
            catch_up_rows(
                self.weights[name], weights[name], every, self._synced[name], self._log_decay
            )
            del self._synced[name]

    def load(self, weights: dict[str, npt.NDArray[np.float32]], steps: int) -> None:
        """Continue from an average of ``steps`` steps (every row up to date)."""
        self.weights, self.steps = weights, steps
        self._synced = {}

    def swap_in(self, model: FusionModel) -> dict[str, npt.NDArray[np.float32]]:
        """Load the averages into ``model``; return its own trained weights to restore later."""
        raw = {k: v.copy() for k, v in _trained_weights(model).items()}
        self.settle(raw)
        _set_weights(model, self.weights)
        return raw


@dataclass
class _Resume:
    """The numpy engine's training state at a kept epoch, for a refit that continues from it.

    ``weights`` are the trained weights (not their average); ``moments`` Adam's ``m``, ``v``
    and step count; ``average`` the weight average and its step count.
    """

    weights: dict[str, npt.NDArray[np.float32]]
    moments: tuple[dict[str, npt.NDArray[np.float32]], dict[str, npt.NDArray[np.float32]], int]
    average: tuple[dict[str, npt.NDArray[np.float32]], int] | None

    @classmethod
    def capture(
        cls,
        trainer: Trainer,
        model: FusionModel,
        raw: dict[str, npt.NDArray[np.float32]] | None,
    ) -> _Resume:
        """Copy the state after an epoch; ``raw`` = the trained weights when an average is in."""
        _, nopt, _ = trainer._numpy_state(model)
        weights = raw if raw is not None else _trained_weights(model)
        avg = trainer._average
        return cls(
            weights={k: v.copy() for k, v in weights.items()},
            moments=(
                {k: v.copy() for k, v in nopt.m.items()},
                {k: v.copy() for k, v in nopt.v.items()},
                nopt.t,
            ),
            average=(
                ({k: v.copy() for k, v in avg.weights.items()}, avg.steps)
                if avg is not None
                else None
            ),
        )

    def restore(self, trainer: Trainer, model: FusionModel) -> None:
        """Load the state into ``model`` and the trainer's fresh optimizer and average."""
        _set_weights(model, self.weights)
        _, nopt, _ = trainer._numpy_state(model)
        nopt.m, nopt.v, nopt.t = self.moments
        if trainer._average is not None and self.average is not None:
            trainer._average.load(*self.average)


def _paddle_inputs(xs: list[Any]) -> list[Any]:
    """A batch's tower inputs for Paddle: arrays as tensors, packed texts as they are."""
    return [x if isinstance(x, Windows) else paddle.to_tensor(x) for x in xs]


def _state(model: FusionModel) -> dict[str, npt.NDArray[Any]]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _concat(a: Interactions, b: Interactions) -> Interactions:
    """Both sets of interactions; a column one of them lacks is dropped, except the weight:
    interactions without one count 1."""
    columns: dict[str, Any] = {}
    for f in fields(Interactions):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "weight" and (x is None) != (y is None):
            x = np.ones(len(a), dtype=np.float32) if x is None else x
            y = np.ones(len(b), dtype=np.float32) if y is None else y
        columns[f.name] = None if x is None or y is None else np.concatenate([x, y])
    return Interactions(**columns)


def _trained_weights(model: FusionModel) -> dict[str, npt.NDArray[np.float32]]:
    return {k: p.numpy() for k, p in model.named_parameters() if not p.stop_gradient}


def _set_weights(model: FusionModel, weights: dict[str, npt.NDArray[np.float32]]) -> None:
    named = dict(model.named_parameters())
    for name, value in weights.items():
        named[name].set_value(value)


def _calibrate(
    model: FusionModel, tr: _Encoded, rated: tuple[IntArray, IntArray, npt.NDArray[np.float32]]
) -> None:
    """Least-squares ``rating ~ slope * score + intercept`` over the training ratings.

    Gives a retrieval-only model a rating-scale display score that keeps the store's order
    (the slope is kept positive).
    """
    user_row, movie_row, y = rated
    s = model.predict(tr.users, tr.movies, user_row, movie_row, raw=True).astype(np.float64)
    yy = y.astype(np.float64)
    var = float(np.var(s))
    slope = float(np.mean((s - s.mean()) * (yy - yy.mean())) / var) if var > 0 else 0.0
    slope = max(slope, 1e-6)
    model.set_calibration(slope, float(yy.mean() - slope * s.mean()))


class _RankingCheck:
    """Validation NDCG@10: full ranking over the catalog, training interactions excluded.

    Relevant: validation ratings >= ``liked_rating``, or every validation interaction when
    they have no ratings (implicit feedback).

    Memory grows with the interactions and the tables, never with users x items: the masks
    are :class:`ItemSets` and the scores are computed a block of users at a time.
    """

    def __init__(
        self, train: Dataset, validation: Dataset, config: ModelConfig, va: _Encoded
    ) -> None:
        users, movies = validation.users.ids, validation.items.ids
        r = train.interactions
        known = np.isin(r.user_id, users) & np.isin(r.item_id, movies)
        self.seen = item_sets(r.take(known), users, movies)
        self.relevant = relevant_sets(
            validation.interactions, users, movies, min_rating=config.liked_rating
        )
        self.rows = np.flatnonzero(self.relevant.counts() > 0)
        self.users = va.users
        self.movies = va.movies

    def ndcg(self, model: FusionModel) -> float:
        """Mean NDCG@10 of the model's store-side vectors over users with a relevant item."""
        if self.rows.size == 0:
            return math.nan
        user_vectors = model.encode_users(self.users)
        movie_vectors = model.encode_movies(self.movies)

        def scores(rows: IntArray) -> npt.NDArray[np.float32]:
            out: npt.NDArray[np.float32] = user_vectors[rows] @ movie_vectors.T
            return out

        result = evaluate_topn(
            scores,
            self.rows,
            self.seen,
            self.relevant,
            k=VALIDATION_K,
            batch_size=score_rows(len(movie_vectors)),
        )
        return result.ndcg
