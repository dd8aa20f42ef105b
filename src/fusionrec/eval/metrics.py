"""Quality metrics: rating error (RMSE, MAE) and full-ranking top-N (Recall@K, NDCG@K, HR@K).

Top-N protocol (what :func:`evaluate_topn` computes, and what every benchmark reports with it):

- **Split**: chosen by the caller (official ml-100k folds u1..u5, a random split or a per-user
  temporal leave-last-out); ``seen`` holds each user's *training* items, ``relevant`` the
  held-out items that count as hits (for rating data usually held-out ratings >= 4, see
  :func:`relevant_from`; for leave-one-out, the single held-out item).
- **Candidates**: every item of the universe (the columns of the score matrix, normally the whole
  movie catalog) except the user's training items. No negative sampling.
- **Users**: those with at least one relevant item; the others are skipped and counted in
  :attr:`TopNResult.n_skipped`, never silently.
- **Metrics** (binary relevance): Recall@K = hits / ``len(relevant)``; NDCG@K = DCG / IDCG with
  DCG = sum over hit ranks r (1-based) of 1 / log2(r + 1) and IDCG the same over the first
  min(``len(relevant)``, K) ranks; HR@K = 1 if at least one relevant item is in the top K (for
  leave-one-out this is the usual hit ratio). Means are over evaluated users. A relevant item
  that is also in ``seen`` can never be recommended but still counts in ``len(relevant)``.
- **Ties** are broken by item index ascending, so results are deterministic.

:func:`evaluate_split` runs this protocol on a split of a generic
:class:`~fusionrec.data.dataset.Dataset` (string or integer ids, with or without ratings):
``seen`` = the training interactions, ``relevant`` = the held-out interactions (rated at least
``min_rating`` when they carry ratings, all of them when they do not or ``min_rating`` is None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from fusionrec.data.dataset import Dataset, Interactions, as_interactions
from fusionrec.data.tables import Ratings
from fusionrec.errors import ValidationError

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

__all__ = [
    "ItemSets",
    "ScoreFn",
    "TopNResult",
    "evaluate_ranked",
    "evaluate_split",
    "evaluate_topn",
    "id_positions",
    "interaction_matrix",
    "item_sets",
    "mae",
    "ranked_positions",
    "relevant_from",
    "relevant_sets",
    "rmse",
    "topk_indices",
    "topn_masks",
]

#: Produces scores [len(rows), n_items] for the given user rows; higher is better.
ScoreFn = Callable[[IntArray], npt.ArrayLike]


def _paired(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValidationError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise ValidationError("y_true and y_pred are empty; need at least one rating")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValidationError("y_true and y_pred must be finite (found NaN or inf)")
    return t, p


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root mean squared error between true and predicted ratings."""
    t, p = _paired(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute error between true and predicted ratings."""
    t, p = _paired(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


@dataclass(frozen=True)
class ItemSets:
    """Per-user item sets in CSR form: row ``u`` holds ``indices[indptr[u]:indptr[u + 1]]``.

    A compact alternative to a dense boolean [n_users, n_items] mask; only the rows of a batch
    are expanded to dense when evaluating.
    """

    indptr: IntArray
    indices: IntArray
    n_items: int

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or self.indptr.size == 0 or self.indptr[0] != 0:
            raise ValidationError("ItemSets.indptr must be 1-D and start at 0")
        if np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise ValidationError("ItemSets.indptr must be non-decreasing and end at len(indices)")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n_items):
            raise ValidationError(f"ItemSets.indices must lie in [0, {self.n_items})")

    @classmethod
    def from_pairs(
        cls, rows: npt.ArrayLike, cols: npt.ArrayLike, n_rows: int, n_items: int
    ) -> ItemSets:
        """Build from (row, item) index pairs; duplicates are kept once."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        if r.shape != c.shape:
            raise ValidationError(f"rows has {r.size} values but cols has {c.size}")
        if r.size and (r.min() < 0 or r.max() >= n_rows):
            raise ValidationError(f"rows must lie in [0, {n_rows})")
        keys = np.unique(r * np.int64(n_items) + c) if r.size else r
        rr, cc = np.divmod(keys, np.int64(n_items))
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rr, minlength=n_rows), out=indptr[1:])
        return cls(indptr=indptr, indices=cc.astype(np.int64), n_items=n_items)

    @classmethod
    def from_dense(cls, mask: npt.ArrayLike) -> ItemSets:
        """Build from a dense boolean [n_users, n_items] mask."""
        m = np.asarray(mask, dtype=bool)
        if m.ndim != 2:
            raise ValidationError(f"mask must be 2-D, got shape {m.shape}")
        rows, cols = np.nonzero(m)
        return cls.from_pairs(rows, cols, m.shape[0], m.shape[1])

    def __len__(self) -> int:
        return int(self.indptr.size - 1)

    def counts(self) -> IntArray:
        """Number of items per row."""
        return np.diff(self.indptr)

    def dense(self, rows: npt.ArrayLike) -> BoolArray:
        """Dense boolean [len(rows), n_items] mask of the given rows."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        starts, ends = self.indptr[r], self.indptr[r + 1]
        lengths = ends - starts
        out = np.zeros((r.size, self.n_items), dtype=bool)
        if lengths.sum():
            owner = np.repeat(np.arange(r.size), lengths)
            offsets = np.arange(int(lengths.sum())) - np.repeat(
                np.cumsum(lengths) - lengths, lengths
            )
            out[owner, self.indices[np.repeat(starts, lengths) + offsets]] = True
        return out


Mask: TypeAlias = "BoolArray | ItemSets"


def _mask_rows(mask: Mask, rows: IntArray, name: str) -> BoolArray:
    if isinstance(mask, ItemSets):
        return mask.dense(rows)
    return mask[rows]


def _as_mask(mask: npt.ArrayLike | ItemSets, name: str) -> Mask:
    if isinstance(mask, ItemSets):
        return mask
    m = np.asarray(mask)
    if m.ndim != 2 or m.dtype != np.bool_:
        raise ValidationError(
            f"{name} must be a 2-D boolean array or ItemSets, got {m.dtype} {m.shape}"
        )
    return m


def _n_rows_items(mask: Mask) -> tuple[int, int]:
    if isinstance(mask, ItemSets):
        return len(mask), mask.n_items
    return int(mask.shape[0]), int(mask.shape[1])


def topk_indices(
    scores: npt.ArrayLike, k: int, exclude_mask: npt.ArrayLike | None = None
) -> IntArray:
    """Indices of the ``k`` highest scores per row, best first, skipping excluded items.

    Ties are broken by item index ascending. A row with fewer than ``k`` allowed items is
    padded with -1. Uses a partition (linear time) and sorts only the ``k`` winners.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2:
        raise ValidationError(f"scores must be 1-D or 2-D, got shape {s.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")
    if np.isnan(s).any():
        raise ValidationError("scores contain NaN")
    n_rows, n_items = s.shape
    if n_items == 0:
        raise ValidationError("scores have no items (zero columns)")
    excluded = np.zeros(s.shape, dtype=bool)
    if exclude_mask is not None:
        excluded = np.asarray(exclude_mask, dtype=bool)
        if excluded.ndim == 1:
            excluded = excluded[None, :]
        if excluded.shape != s.shape:
            raise ValidationError(
                f"exclude_mask has shape {excluded.shape} but scores have shape {s.shape}"
            )
    kk = min(int(k), n_items)
    # Allowed items rank strictly above excluded ones, even when their own score is -inf.
    key = np.where(excluded, -np.inf, np.maximum(s, np.finfo(np.float64).min))
    kth = -np.partition(-key, kk - 1, axis=1)[:, kk - 1 : kk]
    above = key > kth
    equal = key == kth
    need = kk - above.sum(axis=1, keepdims=True)
    chosen = above | (equal & (np.cumsum(equal, axis=1) <= need))
    cols = np.nonzero(chosen)[1].reshape(n_rows, kk)  # ascending item index per row
    order = np.argsort(-np.take_along_axis(key, cols, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(cols, order, axis=1).astype(np.int64)
    top[np.take_along_axis(excluded, top, axis=1)] = -1
    if kk < k:
        top = np.concatenate([top, np.full((n_rows, k - kk), -1, dtype=np.int64)], axis=1)
    return top


@dataclass(frozen=True)
class TopNResult:
    """Mean and per-user top-N metrics at cutoff ``k`` over the ``n_users`` evaluated users.

    ``users`` are the evaluated user rows (those with at least one relevant item), aligned with
    the per-user arrays; ``n_skipped`` counts requested users without relevant items.
    """

    recall: float
    ndcg: float
    hit_rate: float
    n_users: int
    n_skipped: int
    k: int
    users: IntArray
    recall_per_user: FloatArray
    ndcg_per_user: FloatArray
    hit_per_user: FloatArray

    def summary(self) -> dict[str, float | int]:
        """The scalar figures, JSON-ready."""
        return {
            "k": self.k,
            "recall": self.recall,
            "ndcg": self.ndcg,
            "hit_rate": self.hit_rate,
            "n_users": self.n_users,
            "n_skipped": self.n_skipped,
        }


def evaluate_topn(
    score_fn: ScoreFn | npt.ArrayLike,
    user_indices: npt.ArrayLike,
    seen: npt.ArrayLike | ItemSets,
    relevant: npt.ArrayLike | ItemSets,
    k: int = 10,
    batch_size: int = 1024,
) -> TopNResult:
    """Recall@K, NDCG@K and HR@K of full rankings with each user's training items excluded.

    ``score_fn`` is either a score matrix [n_users, n_items] indexed by user row, or a callable
    taking a batch of user rows and returning their scores [batch, n_items] (which bounds memory
    to ``batch_size`` rows). ``seen`` and ``relevant`` are [n_users, n_items] boolean masks (or
    :class:`ItemSets`) indexed by the same user rows; ``user_indices`` picks the users to
    evaluate. See the module docstring for the protocol.
    """
    seen_m = _as_mask(seen, "seen")
    rel_m = _as_mask(relevant, "relevant")
    n_rows, n_items = _n_rows_items(seen_m)
    if _n_rows_items(rel_m) != (n_rows, n_items):
        raise ValidationError(
            f"seen is {_n_rows_items(seen_m)} but relevant is {_n_rows_items(rel_m)}"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")
    if batch_size < 1:
        raise ValidationError(f"batch_size must be positive, got {batch_size}")
    users = np.asarray(user_indices, dtype=np.int64).ravel()
    if users.size and (users.min() < 0 or users.max() >= n_rows):
        raise ValidationError(f"user_indices must lie in [0, {n_rows})")
    matrix: FloatArray | None = None
    if not callable(score_fn):
        matrix = np.asarray(score_fn, dtype=np.float64)
        if matrix.shape != (n_rows, n_items):
            raise ValidationError(
                f"score matrix has shape {matrix.shape}, expected {(n_rows, n_items)}"
            )

    n_rel_all = rel_m.counts()[users] if isinstance(rel_m, ItemSets) else rel_m[users].sum(axis=1)
    keep = users[n_rel_all > 0]
    n_rel = n_rel_all[n_rel_all > 0].astype(np.float64)
    hits_all = np.zeros((keep.size, k), dtype=bool)
    for start in range(0, keep.size, batch_size):
        rows = keep[start : start + batch_size]
        if matrix is not None:
            scores = matrix[rows]
        else:
            scores = np.asarray(score_fn(rows), dtype=np.float64)  # type: ignore[operator]
            if scores.shape != (rows.size, n_items):
                raise ValidationError(
                    f"score_fn returned shape {scores.shape}, expected {(rows.size, n_items)}"
                )
        top = topk_indices(scores, k, _mask_rows(seen_m, rows, "seen"))
        rel = _mask_rows(rel_m, rows, "relevant")
        hit = np.take_along_axis(rel, np.maximum(top, 0), axis=1) & (top >= 0)
        hits_all[start : start + rows.size] = hit
    return _result(hits_all, n_rel, keep, int(users.size - keep.size), int(k))


def _result(
    hits_all: BoolArray, n_rel: FloatArray, keep: IntArray, skipped: int, k: int
) -> TopNResult:
    """Per-user and mean metrics from hit flags [n_users, k] and relevant counts."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])
    n_hits = hits_all.sum(axis=1).astype(np.float64)
    recall = n_hits / n_rel if keep.size else np.zeros(0)
    idcg = ideal[np.minimum(n_rel, k).astype(np.int64)]
    ndcg = (hits_all @ discounts) / idcg if keep.size else np.zeros(0)
    hit_rate = (n_hits > 0).astype(np.float64)

    def _mean(a: FloatArray) -> float:
        return float(a.mean()) if a.size else float("nan")

    return TopNResult(
        recall=_mean(recall),
        ndcg=_mean(ndcg),
        hit_rate=_mean(hit_rate),
        n_users=int(keep.size),
        n_skipped=skipped,
        k=k,
        users=keep,
        recall_per_user=recall,
        ndcg_per_user=ndcg,
        hit_per_user=hit_rate,
    )


def evaluate_ranked(
    ranked: npt.ArrayLike,
    user_indices: npt.ArrayLike,
    relevant: npt.ArrayLike | ItemSets,
    k: int = 10,
) -> TopNResult:
    """The metrics of :func:`evaluate_topn` for ranked lists produced elsewhere.

    ``ranked`` [len(user_indices), >= k] holds item indices best first (-1 pads a short list),
    e.g. the ids a vector store returned, mapped to item positions; row ``i`` belongs to user
    row ``user_indices[i]``. Users without relevant items are skipped and counted as in
    :func:`evaluate_topn`, so both give identical figures for the same rankings.
    """
    rel_m = _as_mask(relevant, "relevant")
    n_rows, n_items = _n_rows_items(rel_m)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")
    users = np.asarray(user_indices, dtype=np.int64).ravel()
    if users.size and (users.min() < 0 or users.max() >= n_rows):
        raise ValidationError(f"user_indices must lie in [0, {n_rows})")
    top = np.asarray(ranked, dtype=np.int64)
    if top.ndim != 2 or top.shape[0] != users.size or top.shape[1] < k:
        raise ValidationError(
            f"ranked must be [{users.size}, >= {k}] item indices, got shape {top.shape}"
        )
    top = top[:, :k]
    if top.size and (top.min() < -1 or top.max() >= n_items):
        raise ValidationError(f"ranked item indices must lie in [-1, {n_items})")
    n_rel_all = rel_m.counts()[users] if isinstance(rel_m, ItemSets) else rel_m[users].sum(axis=1)
    has = n_rel_all > 0
    keep, top = users[has], top[has]
    rel = _mask_rows(rel_m, keep, "relevant")
    hits = np.take_along_axis(rel, np.maximum(top, 0), axis=1) & (top >= 0)
    n_rel = n_rel_all[has].astype(np.float64)
    return _result(hits, n_rel, keep, int(users.size - keep.size), int(k))


def ranked_positions(
    id_lists: Sequence[Sequence[int]], universe: npt.ArrayLike, k: int
) -> IntArray:
    """Ranked id lists (e.g. a vector store's hits) -> item positions [n, k], -1 padded.

    Feeds :func:`evaluate_ranked`; an id outside ``universe`` raises.
    """
    out = np.full((len(id_lists), k), -1, dtype=np.int64)
    for row, ids in enumerate(id_lists):
        got = list(ids)[:k]
        if got:
            out[row, : len(got)] = id_positions(got, universe, name="ranked id")
    return out


def topn_masks(
    train: Ratings | Interactions,
    test: Ratings | Interactions,
    user_ids: npt.ArrayLike,
    movie_ids: npt.ArrayLike,
    *,
    min_rating: float | None = 4.0,
) -> tuple[BoolArray, BoolArray]:
    """``(seen, relevant)`` masks of a top-N protocol over users x catalog movies.

    ``seen`` = the training ratings (excluded from the candidates), ``relevant`` = the test
    ratings at or above ``min_rating`` (all of them with ``None``). Training or test ratings
    of ids outside ``user_ids``/``movie_ids`` raise.
    """
    seen = interaction_matrix(train, user_ids, movie_ids)
    return seen, relevant_from(test, user_ids, movie_ids, min_rating=min_rating)


def id_positions(ids: npt.ArrayLike, universe: npt.ArrayLike, *, name: str = "id") -> IntArray:
    """Position of each id in ``universe`` (an array of distinct ids); unknown ids raise."""
    u = np.asarray(universe).ravel()
    x = np.asarray(ids).ravel()
    if u.dtype.kind in "iu" or u.size == 0:  # integer ids; string ids compare as objects
        u, x = u.astype(np.int64), x.astype(np.int64)
    order = np.argsort(u, kind="stable")
    sorted_u = u[order]
    if sorted_u.size > 1 and np.any(sorted_u[1:] == sorted_u[:-1]):
        raise ValidationError(f"the {name} universe contains duplicate ids")
    pos = np.searchsorted(sorted_u, x)
    pos_c = np.minimum(pos, max(sorted_u.size - 1, 0))
    bad = (
        (pos >= sorted_u.size) | (sorted_u[pos_c] != x) if sorted_u.size else np.ones(x.shape, bool)
    )
    if bad.any():
        missing = np.unique(x[bad])[:5].tolist()
        raise ValidationError(f"{int(bad.sum())} {name}s are not in the index, e.g. {missing}")
    return order[pos_c].astype(np.int64)


def interaction_matrix(
    ratings: Ratings | Interactions, user_index: npt.ArrayLike, movie_index: npt.ArrayLike
) -> BoolArray:
    """Dense boolean [n_users, n_movies] mask of who rated what.

    Row ``i`` is user ``user_index[i]``, column ``j`` movie ``movie_index[j]`` (typically
    ``data.users.user_id`` and ``data.movies.movie_id``, so the candidates are the whole
    catalog). Used as the ``seen`` mask of the training ratings. Unknown ids raise.
    """
    pairs = as_interactions(ratings)
    uid = np.asarray(user_index)
    mid = np.asarray(movie_index)
    rows = id_positions(pairs.user_id, uid, name="user id")
    cols = id_positions(pairs.item_id, mid, name="movie id")
    out = np.zeros((uid.size, mid.size), dtype=bool)
    out[rows, cols] = True
    return out


def relevant_from(
    test_ratings: Ratings | Interactions,
    user_index: npt.ArrayLike,
    movie_index: npt.ArrayLike,
    *,
    min_rating: float | None = 4.0,
) -> BoolArray:
    """Relevance mask of held-out ratings: rated at least ``min_rating`` (``None``: all count).

    The default (>= 4 on the 1..5 scale) is the usual "liked it" threshold of the MovieLens
    top-N protocol; implicit interactions (no ratings) are all relevant. Rows and columns are
    laid out as in :func:`interaction_matrix`.
    """
    held_out = _relevant(as_interactions(test_ratings), min_rating)
    return interaction_matrix(held_out, user_index, movie_index)


def relevant_sets(
    test_ratings: Ratings | Interactions,
    users: npt.ArrayLike,
    items: npt.ArrayLike,
    *,
    min_rating: float | None = 4.0,
) -> ItemSets:
    """:func:`relevant_from` as :class:`ItemSets` (memory grows with the held-out interactions,
    not with users x items)."""
    return item_sets(_relevant(as_interactions(test_ratings), min_rating), users, items)


def _relevant(held_out: Interactions, min_rating: float | None) -> Interactions:
    """The held-out interactions that count as relevant (see :func:`relevant_from`)."""
    if min_rating is None or held_out.rating is None:
        return held_out
    return held_out.take(held_out.rating >= min_rating)


def item_sets(pairs: Interactions, users: npt.ArrayLike, items: npt.ArrayLike) -> ItemSets:
    """Who interacted with what as :class:`ItemSets` over ``users`` x ``items`` (ids).

    The compact form of :func:`interaction_matrix`: memory grows with the interactions, not
    with users x items. Unknown ids raise.
    """
    rows = id_positions(pairs.user_id, users, name="user id")
    cols = id_positions(pairs.item_id, items, name="item id")
    return ItemSets.from_pairs(rows, cols, np.asarray(users).size, np.asarray(items).size)


def evaluate_split(
    train: Dataset,
    test: Dataset | Interactions,
    *,
    user_vectors: npt.ArrayLike | None = None,
    item_vectors: npt.ArrayLike | None = None,
    score_fn: ScoreFn | None = None,
    k: int = 10,
    min_rating: float | None = 4.0,
    batch_size: int = 1024,
) -> TopNResult:
    """Top-N metrics of a model on a train/test split of a :class:`Dataset`.

    Users and candidate items are ``train.users`` and ``train.items`` (the whole catalog);
    each user's training interactions are excluded from the ranking, and the held-out ``test``
    interactions are relevant (with ratings: those rated at least ``min_rating``; without
    ratings, or with ``min_rating=None``: every one). Scores come from ``user_vectors``
    [n_users, d] and ``item_vectors`` [n_items, d] (rows in the tables' order; the score is
    their dot product, e.g. a store's inner product) or from ``score_fn`` (user rows ->
    scores [len(rows), n_items]). ``TopNResult.users`` are rows of ``train.users``.
    Interactions with ids outside the tables raise.
    """
    if not isinstance(train, Dataset):
        raise ValidationError(f"train must be a Dataset, got {type(train).__name__}")
    held_out = test.interactions if isinstance(test, Dataset) else as_interactions(test)
    users, items = train.users.ids, train.items.ids
    if (score_fn is None) == (user_vectors is None and item_vectors is None):
        raise ValidationError("give either user_vectors and item_vectors or score_fn")
    scores = score_fn or _dot_scores(user_vectors, item_vectors, len(users), len(items))
    seen = item_sets(train.interactions, users, items)
    relevant = relevant_sets(held_out, users, items, min_rating=min_rating)
    return evaluate_topn(scores, np.arange(len(users)), seen, relevant, k=k, batch_size=batch_size)


def _dot_scores(
    user_vectors: npt.ArrayLike | None,
    item_vectors: npt.ArrayLike | None,
    n_users: int,
    n_items: int,
) -> ScoreFn:
    """A score function: the dot products of one vector per user with one per item."""
    uv = np.asarray(user_vectors, dtype=np.float32)
    iv = np.asarray(item_vectors, dtype=np.float32)
    if uv.ndim != 2 or iv.ndim != 2 or uv.shape[1] != iv.shape[1]:
        raise ValidationError(
            f"user_vectors and item_vectors must be 2-D of one width, got {uv.shape} and {iv.shape}"
        )
    if len(uv) != n_users or len(iv) != n_items:
        raise ValidationError(
            f"need one vector per user ({n_users}) and per item ({n_items}), got {len(uv)} "
            f"and {len(iv)}"
        )

    def scores(rows: IntArray) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = uv[rows] @ iv.T
        return out

    return scores
