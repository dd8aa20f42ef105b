"""Reference baselines the benchmarks compare the fusion model with (numpy only).

Rating prediction: :class:`GlobalMean` and :class:`BiasBaseline` (mu + b_user + b_movie).
Top-N: :class:`Popularity` and, for cold-start users, :class:`DemographicPopularity`. The top-N
ones expose ``score_fn`` callables for :func:`fusionrec.eval.metrics.evaluate_topn`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from fusionrec.data.tables import Ratings, Users, age_to_bucket
from fusionrec.errors import NotFittedError, ValidationError
from fusionrec.eval.metrics import id_positions

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ScoreFn = Callable[[IntArray], FloatArray]


def _require_ratings(ratings: Ratings) -> None:
    if len(ratings) == 0:
        raise ValidationError("cannot fit a baseline on an empty rating table")


def _lookup(ids: npt.ArrayLike, known: IntArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Positions of ``ids`` in sorted ``known`` and whether each id is known."""
    x = np.asarray(ids, dtype=np.int64).ravel()
    if known.size == 0:
        return np.zeros(x.shape, np.int64), np.zeros(x.shape, bool)
    pos = np.minimum(np.searchsorted(known, x), known.size - 1)
    return pos.astype(np.int64), known[pos] == x


class GlobalMean:
    """Predicts the mean training rating for everyone."""

    def __init__(self) -> None:
        self.mean_: float | None = None

    def fit(self, ratings: Ratings) -> GlobalMean:
        """Learn the mean rating."""
        _require_ratings(ratings)
        self.mean_ = float(np.mean(ratings.rating, dtype=np.float64))
        return self

    def predict(self, user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike) -> FloatArray:
        """The global mean for each (user, movie) pair."""
        if self.mean_ is None:
            raise NotFittedError("GlobalMean.predict called before fit")
        n = np.asarray(user_ids).size
        if np.asarray(movie_ids).size != n:
            raise ValidationError("user_ids and movie_ids differ in length")
        return np.full(n, self.mean_, dtype=np.float64)


class BiasBaseline:
    """r_hat = mu + b_user + b_movie, regularized biases fitted by alternating least squares.

    Each pass solves the movie biases given the user biases, then the user biases given the
    movie biases, in closed form: b_i = sum(r - mu - b_u) / (reg_movie + n_i). Unknown users
    or movies get a zero bias; predictions are clipped to the training rating range.
    """

    def __init__(self, reg_user: float = 15.0, reg_movie: float = 10.0, n_passes: int = 10) -> None:
        if reg_user < 0 or reg_movie < 0 or n_passes < 1:
            raise ValidationError("regularization must be >= 0 and n_passes >= 1")
        self.reg_user = reg_user
        self.reg_movie = reg_movie
        self.n_passes = n_passes
        self.mean_: float | None = None
        self.user_ids_: IntArray = np.zeros(0, np.int64)
        self.movie_ids_: IntArray = np.zeros(0, np.int64)
        self.user_bias_: FloatArray = np.zeros(0)
        self.movie_bias_: FloatArray = np.zeros(0)
        self.range_: tuple[float, float] = (1.0, 5.0)

    def fit(self, ratings: Ratings) -> BiasBaseline:
        """Learn mu and the user and movie biases."""
        _require_ratings(ratings)
        self.user_ids_, u = np.unique(ratings.user_id, return_inverse=True)
        self.movie_ids_, m = np.unique(ratings.movie_id, return_inverse=True)
        r = ratings.rating.astype(np.float64)
        mu = float(r.mean())
        n_u, n_m = self.user_ids_.size, self.movie_ids_.size
        cnt_u = np.bincount(u, minlength=n_u)
        cnt_m = np.bincount(m, minlength=n_m)
        bu, bm = np.zeros(n_u), np.zeros(n_m)
        for _ in range(self.n_passes):
            bm = np.bincount(m, r - mu - bu[u], minlength=n_m) / (self.reg_movie + cnt_m)
            bu = np.bincount(u, r - mu - bm[m], minlength=n_u) / (self.reg_user + cnt_u)
        self.mean_, self.user_bias_, self.movie_bias_ = mu, bu, bm
        self.range_ = (float(r.min()), float(r.max()))
        return self

    def predict(self, user_ids: npt.ArrayLike, movie_ids: npt.ArrayLike) -> FloatArray:
        """Predicted ratings for (user, movie) pairs."""
        if self.mean_ is None:
            raise NotFittedError("BiasBaseline.predict called before fit")
        pu, ku = _lookup(user_ids, self.user_ids_)
        pm, km = _lookup(movie_ids, self.movie_ids_)
        if pu.size != pm.size:
            raise ValidationError("user_ids and movie_ids differ in length")
        bu = np.where(ku, self.user_bias_[pu] if self.user_bias_.size else 0.0, 0.0)
        bm = np.where(km, self.movie_bias_[pm] if self.movie_bias_.size else 0.0, 0.0)
        return np.clip(self.mean_ + bu + bm, *self.range_)


class Popularity:
    """Ranks movies by their number of training ratings (optionally only ratings >= min_rating).

    Columns follow ``movie_index`` (typically the whole catalog); a movie without training
    ratings scores 0. The same ranking is served to every user.
    """

    def __init__(self, movie_index: npt.ArrayLike, min_rating: float | None = None) -> None:
        self.movie_index = np.asarray(movie_index, dtype=np.int64).ravel()
        self.min_rating = min_rating
        self.scores_: FloatArray | None = None

    def fit(self, ratings: Ratings) -> Popularity:
        """Count ratings per movie."""
        _require_ratings(ratings)
        keep = (
            np.ones(len(ratings), bool)
            if self.min_rating is None
            else ratings.rating >= self.min_rating
        )
        cols = id_positions(ratings.movie_id[keep], self.movie_index, name="movie id")
        self.scores_ = np.bincount(cols, minlength=self.movie_index.size).astype(np.float64)
        return self

    def score_fn(self, rows: IntArray) -> FloatArray:
        """Scores [len(rows), n_movies] for any user rows (identical rows)."""
        if self.scores_ is None:
            raise NotFittedError("Popularity.score_fn called before fit")
        return np.broadcast_to(self.scores_, (np.asarray(rows).size, self.scores_.size))


def demographic_groups(users: Users, by: str) -> IntArray:
    """Group key per user: ``"gender_age"`` (gender x ml-1m age bucket) or ``"occupation"``."""
    if by == "occupation":
        return np.asarray(users.occupation, dtype=np.int64)
    if by == "gender_age":
        female = (np.asarray(users.gender) == "F").astype(np.int64)
        return np.asarray(female * 1000 + age_to_bucket(users.age), dtype=np.int64)
    raise ValidationError(f"by must be 'gender_age' or 'occupation', got {by!r}")


class DemographicPopularity:
    """Popularity within the user's demographic group, falling back to global popularity.

    For cold-start top-N: a user is described by gender, age bucket and occupation only. The
    score is the group's rating count per movie plus the global count scaled into [0, 1), so
    global popularity only breaks ties; a group with fewer than ``min_group_ratings`` training
    ratings (or unseen in training) is ranked by global popularity alone.
    """

    def __init__(
        self,
        movie_index: npt.ArrayLike,
        by: str = "gender_age",
        min_rating: float | None = None,
        min_group_ratings: int = 1,
    ) -> None:
        self.movie_index = np.asarray(movie_index, dtype=np.int64).ravel()
        self.by = by
        self.min_rating = min_rating
        self.min_group_ratings = min_group_ratings
        self.groups_: IntArray | None = None
        self.group_scores_: FloatArray = np.zeros((0, 0))
        self.global_scores_: FloatArray = np.zeros(0)

    def fit(self, ratings: Ratings, users: Users) -> DemographicPopularity:
        """Count ratings per (group, movie); ``users`` must cover every rating's user."""
        _require_ratings(ratings)
        keep = (
            np.ones(len(ratings), bool)
            if self.min_rating is None
            else ratings.rating >= self.min_rating
        )
        rated = ratings.take(keep)
        user_group = demographic_groups(users, self.by)
        rows = id_positions(rated.user_id, users.user_id, name="user id")
        cols = id_positions(rated.movie_id, self.movie_index, name="movie id")
        self.groups_, g = np.unique(user_group[rows], return_inverse=True)
        n_items = self.movie_index.size
        counts = np.bincount(g * n_items + cols, minlength=self.groups_.size * n_items)
        group_counts = counts.reshape(self.groups_.size, n_items).astype(np.float64)
        global_counts = group_counts.sum(axis=0)
        tiebreak = global_counts / (global_counts.max() + 1.0)
        small = group_counts.sum(axis=1) < self.min_group_ratings
        group_counts[small] = 0.0
        self.group_scores_ = group_counts + tiebreak
        self.global_scores_ = tiebreak
        return self

    def scores_for(self, users: Users) -> FloatArray:
        """Scores [len(users), n_movies] for users given by their demographics."""
        if self.groups_ is None:
            raise NotFittedError("DemographicPopularity.scores_for called before fit")
        pos, known = _lookup(demographic_groups(users, self.by), self.groups_)
        out = self.group_scores_[pos]
        out[~known] = self.global_scores_
        return out

    def score_fn(self, users: Users) -> ScoreFn:
        """A score_fn for evaluate_topn whose user rows index ``users``."""
        return lambda rows: self.scores_for(users.take(np.asarray(rows)))
