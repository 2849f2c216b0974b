"""Metric values checked against arithmetic written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assoc_pipeline.core.recsys.metrics import (
    catalog_coverage,
    hits_matrix,
    metric_rows,
    ndcg_at_k,
    novelty,
    recall_at_k,
    top_k,
)

# query 0: targets {1, 3, 5}, ranked list [3, 0, 5, 2, 4] -> hits at ranks 1 and 3
# query 1: target {9},       ranked list [0, 1, 2, 3, 9] -> hit at rank 5
TOPK = np.array([[3, 0, 5, 2, 4], [0, 1, 2, 3, 9]])
TARGETS = [np.array([1, 3, 5]), np.array([9])]
N_REL = np.array([3, 1])


def test_hits_matrix():
    hits = hits_matrix(TOPK, TARGETS)
    assert hits.tolist() == [[True, False, True, False, False], [False, False, False, False, True]]


def test_hits_matrix_matches_a_per_query_loop_on_random_lists():
    rng = np.random.default_rng(0)
    topk = np.stack([rng.permutation(50)[:10] for _ in range(200)])
    targets = [rng.choice(50, rng.integers(0, 6), replace=False) for _ in range(200)]
    valid = rng.random((200, 10)) > 0.1
    loop = np.stack([np.isin(row, t) for row, t in zip(topk, targets, strict=True)]) & valid
    assert (hits_matrix(topk, targets, valid) == loop).all()


def test_f1_is_the_harmonic_mean_of_precision_and_recall_per_query():
    m = metric_rows(hits_matrix(TOPK, TARGETS), N_REL, 5)
    # q0: P = 2/5, R = 2/3 -> F1 = 2PR/(P+R) = 0.5; q1: P = 1/5, R = 1 -> F1 = 1/3
    assert m["f1"] == pytest.approx([0.5, 1 / 3])
    none = metric_rows(np.zeros((1, 5), dtype=bool), np.array([2]), 5)
    assert none["f1"].tolist() == [0.0]


def test_metrics_at_5_by_hand():
    m = metric_rows(hits_matrix(TOPK, TARGETS), N_REL, 5)
    # precision = hits / k: 2/5 and 1/5
    assert m["precision"] == pytest.approx([0.4, 0.2])
    # recall = hits / |targets|: 2/3 and 1/1
    assert m["recall"] == pytest.approx([2 / 3, 1.0])
    # NDCG q0: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309298
    # NDCG q1: DCG = 1/log2(6) = 0.3868528; IDCG = 1
    assert m["ndcg"] == pytest.approx([1.5 / (1 + 1 / math.log2(3) + 0.5), 1 / math.log2(6)])
    assert m["ndcg"] == pytest.approx([0.7039180, 0.3868528], abs=1e-6)
    assert m["hit_rate"] == pytest.approx([1.0, 1.0])
    # MAP q0: (1/1 + 2/3) / min(3, 5) = 0.5555556; q1: (1/5) / min(1, 5) = 0.2
    assert m["map"] == pytest.approx([(1 + 2 / 3) / 3, 0.2])
    # MRR: first hit at rank 1 and rank 5
    assert m["mrr"] == pytest.approx([1.0, 0.2])


def test_metrics_at_2_by_hand():
    m = metric_rows(hits_matrix(TOPK, TARGETS), N_REL, 2)
    # q0 top-2 = [3, 0]: one hit; q1 top-2 = [0, 1]: none
    assert m["precision"] == pytest.approx([0.5, 0.0])
    assert m["recall"] == pytest.approx([1 / 3, 0.0])
    # IDCG@2 for 3 targets = 1 + 1/log2(3) = 1.6309298 -> NDCG = 1 / 1.6309298 = 0.6131472
    assert m["ndcg"] == pytest.approx([0.6131472, 0.0], abs=1e-6)
    assert m["hit_rate"] == pytest.approx([1.0, 0.0])
    # MAP@2: (1/1) / min(3, 2) = 0.5
    assert m["map"] == pytest.approx([0.5, 0.0])
    assert m["mrr"] == pytest.approx([1.0, 0.0])


def test_top_k_orders_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.5, 0.5, 0.9, -np.inf], [np.nan, 0.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[3, 1, 2], [2, 3, 4]]
    assert top_k(scores, 10).shape == (2, 5)  # k larger than the catalogue
    assert top_k(scores, 5)[1, -1] == 0  # NaN ranks last


def _argpartition_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The reference: argpartition picks the set, then (score desc, index asc) orders it."""
    scores = np.where(np.isnan(scores), -np.inf, scores.astype(np.float32))
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    return np.take_along_axis(part, np.lexsort((part, -vals), axis=-1), axis=1)


@pytest.mark.parametrize("k", [1, 10, 50])
def test_top_k_picks_the_same_items_as_argpartition(k):
    """The torch fast path must not change a ranking: ties across the k-th place (integer
    counts), rows of mostly -inf and NaN all land where argpartition put them."""
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=(300, 400)).astype(np.float32)  # many ties
    scores[:50] = rng.standard_normal((50, 400))  # no ties
    scores[50:80, 20:] = -np.inf  # fewer finite scores than k in some rows
    scores[80:90, ::7] = np.nan
    scores[90:100] = np.floor(rng.standard_normal((10, 400)) * 3)  # ties below the head only
    scores[90:100, :k] = 100.0 + np.arange(k)
    got = top_k(scores, k)
    expected = _argpartition_top_k(scores, k)
    assert got.tolist() == expected.tolist()
    assert got.dtype == np.int64
    for start in range(0, 100, 7):  # a few rows at a time (a command-line query) take the same items
        few = top_k(scores[start : start + 3], k)
        assert few.tolist() == expected[start : start + 3].tolist() and few.dtype == np.int64


def test_score_level_helpers():
    # 2 queries x 6 items; q0 ranks 2 > 0 > 1 ..., target {0}; q1 ranks 5 > 4 ..., target {4}
    scores = np.array([[0.5, 0.2, 0.9, 0, 0, 0], [0, 0, 0, 0.1, 0.8, 0.9]], dtype=np.float32)
    targets = [np.array([0]), np.array([4])]
    # both hits at rank 2: NDCG = 1/log2(3) = 0.6309298 each
    assert ndcg_at_k(scores, targets, 2) == pytest.approx(1 / math.log2(3))
    assert recall_at_k(scores, targets, 1) == 0.0
    # masking item 2 for q0 and item 5 for q1 lifts both hits to rank 1
    assert ndcg_at_k(scores, targets, 2, exclude=[np.array([2]), np.array([5])]) == pytest.approx(1.0)


def test_coverage_and_novelty_by_hand():
    topk = np.array([[0, 1], [0, 2]])
    # 3 distinct items recommended out of 4 candidates
    assert catalog_coverage(topk, 4) == pytest.approx(0.75)
    # counts [2, 1, 1, 0] of 4 interactions: -log2(2/4) = 1, -log2(1/4) = 2 for items 1 and 2
    # 4 recommendations: (1 + 2 + 1 + 2) / 4 = 1.5
    assert novelty(topk, np.array([2, 1, 1, 0])) == pytest.approx(1.5)
    # only the valid (first column) recommendations count: (1 + 1) / 2
    assert novelty(topk, np.array([2, 1, 1, 0]), np.array([[True, False], [True, False]])) == pytest.approx(
        1.0
    )


def test_in_loop_metrics_leave_the_callers_scores_as_they_were():
    """The metrics mask in their own copy only when they must (a partial basket, candidates), and
    give what they give on an explicitly masked copy."""
    from assoc_pipeline.core.recsys.metrics import mean_metrics_at_k
    from assoc_pipeline.core.recsys.models.training import ranking_metrics

    rng = np.random.default_rng(0)
    scores = rng.random((40, 30)).astype(np.float32)
    scores[3, 5] = np.nan
    kept = scores.copy()
    targets = [rng.choice(30, size=3, replace=False) for _ in range(40)]
    exclude = [rng.choice(30, size=2, replace=False) for _ in range(40)]
    candidates = rng.random(30) > 0.3

    masked = scores.copy()
    masked[np.repeat(np.arange(40), 2), np.concatenate(exclude)] = -np.inf
    assert mean_metrics_at_k(scores, targets, 10, exclude=exclude) == mean_metrics_at_k(masked, targets, 10)
    masked[:, ~candidates] = -np.inf
    got = ranking_metrics(scores, targets, candidates, 10, exclude)
    assert got == {"ndcg@10": ndcg_at_k(masked, targets, 10), "recall@10": recall_at_k(masked, targets, 10)}
    assert np.array_equal(scores, kept, equal_nan=True)
