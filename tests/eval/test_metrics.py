"""Metrics against hand-computed values on tiny cases, exclusion, tie order and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusionrec.data.dataset import Dataset, Interactions, Table
from fusionrec.data.tables import Ratings
from fusionrec.errors import ValidationError
from fusionrec.eval.metrics import (
    ItemSets,
    evaluate_split,
    evaluate_topn,
    id_positions,
    interaction_matrix,
    item_sets,
    mae,
    relevant_from,
    relevant_sets,
    rmse,
    topk_indices,
)

# 4 users x 5 items, k = 2.
SCORES = np.array(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5],  # item 0 seen -> top [1, 2]; relevant {2, 4}: hit at rank 2
        [0.1, 0.1, 0.1, 0.1, 0.1],  # all tied -> top [0, 1]; relevant {1}: hit at rank 2
        [0.0, 1.0, 2.0, 3.0, 4.0],  # item 4 seen -> top [3, 2]; relevant {0}: no hit
        [5.0, 4.0, 3.0, 2.0, 1.0],  # no relevant items -> skipped
    ]
)
SEEN = np.zeros((4, 5), dtype=bool)
SEEN[0, 0] = SEEN[2, 4] = True
RELEVANT = np.zeros((4, 5), dtype=bool)
RELEVANT[0, [2, 4]] = True
RELEVANT[1, 1] = True
RELEVANT[2, 0] = True

LOG2_3 = math.log2(3)
EXPECTED_RECALL = [0.5, 1.0, 0.0]
EXPECTED_NDCG = [(1 / LOG2_3) / (1 + 1 / LOG2_3), 1 / LOG2_3, 0.0]
EXPECTED_HIT = [1.0, 1.0, 0.0]


def test_rmse_and_mae_hand_values() -> None:
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert rmse(np.float32([4.0]), [4.0]) == 0.0


@pytest.mark.parametrize("fn", [rmse, mae])
def test_rating_errors_reject_bad_input(fn: object) -> None:
    with pytest.raises(ValidationError, match="y_pred has 2"):
        fn([1, 2, 3], [1, 2])  # type: ignore[operator]
    with pytest.raises(ValidationError, match="empty"):
        fn([], [])  # type: ignore[operator]
    with pytest.raises(ValidationError, match="finite"):
        fn([1.0, float("nan")], [1.0, 2.0])  # type: ignore[operator]


def test_topk_excludes_and_breaks_ties_by_index() -> None:
    top = topk_indices(SCORES, 2, SEEN)
    np.testing.assert_array_equal(top, [[1, 2], [0, 1], [3, 2], [0, 1]])
    assert topk_indices(np.zeros(6), 3).tolist() == [[0, 1, 2]]
    tied = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]])
    assert topk_indices(tied, 3).tolist() == [[1, 2, 4]]
    assert topk_indices(tied, 3, [[False, False, True, False, False]]).tolist() == [[1, 4, 3]]


def test_topk_matches_stable_full_sort_with_many_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(50, 40)).astype(np.float64)
    excluded = rng.random((50, 40)) < 0.3
    expected = np.argsort(-np.where(excluded, -np.inf, scores), axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(topk_indices(scores, 7, excluded), expected)


def test_topk_pads_when_too_few_candidates_and_keeps_minus_inf_scores() -> None:
    scores = np.array([[-np.inf, 2.0, 1.0]])
    top = topk_indices(scores, 4, [[False, True, False]])
    assert top.tolist() == [[2, 0, -1, -1]]


def test_topk_rejects_bad_input() -> None:
    with pytest.raises(ValidationError, match="positive integer"):
        topk_indices(SCORES, 0)
    with pytest.raises(ValidationError, match="NaN"):
        topk_indices([[np.nan, 1.0]], 1)
    with pytest.raises(ValidationError, match="exclude_mask has shape"):
        topk_indices(SCORES, 1, SEEN[:2])


def test_evaluate_topn_hand_computed() -> None:
    result = evaluate_topn(SCORES, np.arange(4), SEEN, RELEVANT, k=2)
    assert result.n_users == 3
    assert result.n_skipped == 1
    assert result.users.tolist() == [0, 1, 2]
    np.testing.assert_allclose(result.recall_per_user, EXPECTED_RECALL)
    np.testing.assert_allclose(result.ndcg_per_user, EXPECTED_NDCG)
    np.testing.assert_allclose(result.hit_per_user, EXPECTED_HIT)
    assert result.recall == pytest.approx(np.mean(EXPECTED_RECALL))
    assert result.ndcg == pytest.approx(np.mean(EXPECTED_NDCG))
    assert result.hit_rate == pytest.approx(2 / 3)
    assert result.summary()["n_skipped"] == 1


def test_evaluate_topn_ideal_dcg_uses_min_of_relevant_and_k() -> None:
    scores = np.array([[3.0, 2.0, 1.0, 0.0]])
    relevant = np.array([[True, True, True, True]])
    result = evaluate_topn(scores, [0], np.zeros((1, 4), bool), relevant, k=2)
    assert result.ndcg == pytest.approx(1.0)
    assert result.recall == pytest.approx(0.5)


def test_evaluate_topn_callable_batches_and_itemsets_agree() -> None:
    calls: list[int] = []

    def score_fn(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return SCORES[rows]

    direct = evaluate_topn(SCORES, np.arange(4), SEEN, RELEVANT, k=2)
    batched = evaluate_topn(
        score_fn, np.arange(4), ItemSets.from_dense(SEEN), ItemSets.from_dense(RELEVANT), 2, 2
    )
    assert calls == [2, 1]  # the skipped user is never scored
    np.testing.assert_array_equal(batched.ndcg_per_user, direct.ndcg_per_user)
    np.testing.assert_array_equal(batched.recall_per_user, direct.recall_per_user)


def test_seen_items_are_never_counted_as_hits() -> None:
    scores = np.array([[9.0, 1.0, 0.0]])
    relevant = np.array([[True, False, False]])
    unseen = evaluate_topn(scores, [0], np.zeros((1, 3), bool), relevant, k=1)
    seen = evaluate_topn(scores, [0], relevant.copy(), relevant, k=1)
    assert unseen.hit_rate == 1.0
    assert seen.hit_rate == 0.0


def test_evaluate_topn_rejects_bad_input() -> None:
    with pytest.raises(ValidationError, match="seen is"):
        evaluate_topn(SCORES, [0], SEEN, RELEVANT[:, :3], k=2)
    with pytest.raises(ValidationError, match="user_indices"):
        evaluate_topn(SCORES, [4], SEEN, RELEVANT, k=2)
    with pytest.raises(ValidationError, match="score matrix"):
        evaluate_topn(SCORES[:2], [0], SEEN, RELEVANT, k=2)
    with pytest.raises(ValidationError, match="score_fn returned"):
        evaluate_topn(lambda rows: SCORES[rows, :3], [0], SEEN, RELEVANT, k=2)
    with pytest.raises(ValidationError, match="boolean"):
        evaluate_topn(SCORES, [0], SEEN.astype(int), RELEVANT, k=2)


def test_itemsets_round_trip_and_validation() -> None:
    sets = ItemSets.from_pairs([2, 0, 0, 2], [4, 1, 1, 0], n_rows=3, n_items=5)
    assert sets.counts().tolist() == [1, 0, 2]
    dense = sets.dense([2, 0])
    assert dense.tolist() == [[True, False, False, False, True], [False, True] + [False] * 3]
    np.testing.assert_array_equal(ItemSets.from_dense(RELEVANT).dense(np.arange(4)), RELEVANT)
    with pytest.raises(ValidationError, match="indices must lie"):
        ItemSets(indptr=np.array([0, 1]), indices=np.array([7]), n_items=5)


def _ratings(users: list[int], movies: list[int], values: list[float]) -> Ratings:
    n = len(users)
    return Ratings(
        user_id=np.array(users, dtype=np.int64),
        movie_id=np.array(movies, dtype=np.int64),
        rating=np.array(values, dtype=np.float32),
        timestamp=np.zeros(n, dtype=np.int64),
    )


def test_interaction_matrix_and_relevant_from() -> None:
    ratings = _ratings([10, 10, 30], [7, 5, 5], [5.0, 3.0, 4.0])
    users, movies = np.array([30, 10, 20]), np.array([5, 6, 7])
    seen = interaction_matrix(ratings, users, movies)
    assert seen.tolist() == [[True, False, False], [True, False, True], [False] * 3]
    liked = relevant_from(ratings, users, movies)
    assert liked.tolist() == [[True, False, False], [False, False, True], [False] * 3]
    assert relevant_from(ratings, users, movies, min_rating=None).tolist() == seen.tolist()


def test_unknown_ids_raise() -> None:
    with pytest.raises(ValidationError, match="movie ids are not in the index"):
        interaction_matrix(_ratings([1], [99], [4.0]), [1], [5, 6])
    with pytest.raises(ValidationError, match="duplicate"):
        id_positions([1], [1, 1])


def test_evaluate_ranked_matches_evaluate_topn_and_hand_values() -> None:
    from fusionrec.eval.metrics import evaluate_ranked, ranked_positions

    scores = np.array([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]])
    seen = np.array([[True, False, False, False], [False] * 4, [False] * 4])
    relevant = np.array([[False, False, True, True], [True, False, False, False], [False] * 4])
    rows = np.arange(3)
    full = evaluate_topn(scores, rows, seen, relevant, k=2)
    # user 0 ranks [1, 3]: one hit at rank 2 of 2 relevant; user 1 ranks [3, 2]: none
    ranked = ranked_positions([[11, 13], [13, 12], [10]], universe=[10, 11, 12, 13], k=2)
    np.testing.assert_array_equal(ranked, [[1, 3], [3, 2], [0, -1]])
    again = evaluate_ranked(ranked, rows, relevant, k=2)
    assert again.summary() == full.summary()
    assert again.recall == pytest.approx(0.25)
    assert again.ndcg == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)) / 2)
    assert again.n_skipped == 1
    with pytest.raises(ValidationError, match="ranked"):
        evaluate_ranked(ranked[:, :1], rows, relevant, k=2)
    with pytest.raises(ValidationError, match="not in the index"):
        ranked_positions([[99]], universe=[10, 11], k=1)


def _split_of_strings(rating: bool) -> tuple[Dataset, Interactions]:
    """SEEN / RELEVANT as a Dataset split with string ids (plus user 3's low rating)."""
    users = Table(np.array(["u0", "u1", "u2", "u3"], dtype=object), id_name="user")
    items = Table(np.array([f"i{j}" for j in range(5)], dtype=object), id_name="item")
    seen = np.argwhere(SEEN)
    train = Interactions(users.ids[seen[:, 0]], items.ids[seen[:, 1]])
    held = np.vstack([np.argwhere(RELEVANT), [[3, 1]]])
    ratings = np.array([5, 4, 4, 5, 2], dtype=np.float32) if rating else None
    test = Interactions(users.ids[held[:, 0]], items.ids[held[:, 1]], ratings)
    return Dataset(users, items, train), test


@pytest.mark.parametrize("rating", [True, False])
def test_evaluate_split_on_string_ids_matches_hand_values(rating: bool) -> None:
    train, test = _split_of_strings(rating)
    result = evaluate_split(train, test, score_fn=lambda rows: SCORES[rows], k=2)
    if rating:  # user 3's held-out rating 2 is not relevant: skipped as before
        assert result.n_skipped == 1 and result.users.tolist() == [0, 1, 2]
        np.testing.assert_allclose(result.recall_per_user, EXPECTED_RECALL)
        np.testing.assert_allclose(result.ndcg_per_user, EXPECTED_NDCG)
    else:  # implicit: every held-out interaction is relevant; user 3's item 1 is ranked 2nd
        assert result.n_skipped == 0 and result.users.tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(result.recall_per_user, [*EXPECTED_RECALL, 1.0])
        np.testing.assert_allclose(result.hit_per_user, [*EXPECTED_HIT, 1.0])
    by_vectors = evaluate_split(
        train, train.with_interactions(test), user_vectors=SCORES, item_vectors=np.eye(5), k=2
    )
    assert by_vectors.summary() == result.summary()
    every = evaluate_split(train, test, score_fn=lambda rows: SCORES[rows], k=2, min_rating=None)
    assert every.n_users == 4


def test_evaluate_split_rejects_bad_input() -> None:
    train, test = _split_of_strings(False)
    with pytest.raises(ValidationError, match="either"):
        evaluate_split(train, test, k=2)
    with pytest.raises(ValidationError, match="either"):
        evaluate_split(train, test, score_fn=lambda r: SCORES[r], user_vectors=SCORES)
    with pytest.raises(ValidationError, match="one vector per user"):
        evaluate_split(train, test, user_vectors=SCORES[:3], item_vectors=np.eye(5))
    with pytest.raises(ValidationError, match="one width"):
        evaluate_split(train, test, user_vectors=SCORES, item_vectors=np.eye(4))
    stranger = Interactions(np.array(["u9"], dtype=object), np.array(["i0"], dtype=object))
    with pytest.raises(ValidationError, match="user id"):
        evaluate_split(train, stranger, score_fn=lambda r: SCORES[r])
    with pytest.raises(ValidationError, match="Dataset"):
        evaluate_split(test, test, score_fn=lambda r: SCORES[r])  # type: ignore[arg-type]


def test_item_sets_and_relevant_sets_are_the_dense_masks_compactly() -> None:
    rng = np.random.default_rng(3)
    users, items = np.array([5, 9, 2, 7]), np.array([30, 10, 20])
    pairs = Interactions(
        user_id=rng.choice(users, 12),
        item_id=rng.choice(items, 12),
        rating=rng.choice([1.0, 3.0, 4.0, 5.0], 12).astype(np.float32),
    )
    rows = np.arange(len(users))
    np.testing.assert_array_equal(
        item_sets(pairs, users, items).dense(rows), interaction_matrix(pairs, users, items)
    )
    for threshold in (None, 4.0):
        np.testing.assert_array_equal(
            relevant_sets(pairs, users, items, min_rating=threshold).dense(rows),
            relevant_from(pairs, users, items, min_rating=threshold),
        )
