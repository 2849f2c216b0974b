from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.recsys.evaluation import REPORT_COLUMNS, batch_rows, evaluate, evaluate_all
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.tasks import CompletionTask, NextBasketTask


class Fixed(Recommender):
    """Same scores for every query: item i scores 10 - i (item 0 best)."""

    name = "fixed"

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.calls: list[int] = []

    def fit(self, train):
        return self

    def _rows(self, n: int) -> np.ndarray:
        self.calls.append(n)
        return np.tile(10.0 - np.arange(self.n_items, dtype=np.float32), (n, 1))

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        return self._rows(len(user_ids))

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        return self._rows(len(partial_baskets))


def _value(df, metric, k):
    return df[(df.metric == metric) & (df.k == k)].value.item()


def test_next_basket_repeats_are_not_masked_and_candidates_are():
    # ranking 0 > 1 > 2 > 3 > 4 > 5; item 1 is not a candidate (unseen in training)
    # user a: target {0, 2} with history {0}: top-2 = [0, 2] -> 2 hits
    # user b: target {3} (explore), history {5}: top-2 = [0, 2] -> no hit, top-5 = [0, 2, 3, 4, 5]
    task = NextBasketTask(
        user_ids=np.array(["a", "b"], dtype=object),
        targets=[np.array([0, 2]), np.array([3])],
        repeat_targets=[np.array([0]), np.array([], dtype=np.int64)],
        explore_targets=[np.array([2]), np.array([3])],
        history_items=[np.array([0]), np.array([5])],
        candidates=np.array([True, False, True, True, True, True]),
        item_counts=np.array([4, 0, 2, 1, 1, 0]),
        n_items=6,
    )
    rec = Fixed(6)
    df = evaluate(rec, task, ks=(2, 5), batch_size=1)
    assert list(df.columns) == REPORT_COLUMNS
    assert rec.calls == [1, 1]  # batched
    by_catalogue = Fixed(6)  # batch_size 0: sized by the catalogue (both queries at once here)
    pd.testing.assert_frame_equal(evaluate(by_catalogue, task, ks=(2, 5)), df)
    assert by_catalogue.calls == [2]
    assert batch_rows(3_700) == 1024 and batch_rows(59_000) == 568 and batch_rows(10**7) == 64
    assert set(df.task) == {"next_basket"} and set(df.method) == {"fixed"}
    # recall@2 = (2/2 + 0/1) / 2
    assert _value(df, "recall", 2) == pytest.approx(0.5)
    # recall@5: (1 + 1/1) / 2; user b's hit is at rank 3 -> MRR@5 = (1 + 1/3) / 2
    assert _value(df, "recall", 5) == pytest.approx(1.0)
    assert _value(df, "mrr", 5) == pytest.approx((1 + 1 / 3) / 2)
    # repeat recall over users with repeat targets (a only): item 0 at rank 1 -> 1
    assert _value(df, "recall_repeat", 2) == pytest.approx(1.0)
    # explore recall over users with explore targets: a: 1/1 (item 2), b: 0/1 at k=2
    assert _value(df, "recall_explore", 2) == pytest.approx(0.5)
    # repeat ratio@2: a's list [0, 2] holds 1 history item of 2; b's list none -> (0.5 + 0) / 2
    assert _value(df, "repeat_ratio", 2) == pytest.approx(0.25)
    # coverage@2: items {0, 2} of 5 candidates
    assert _value(df, "coverage", 2) == pytest.approx(2 / 5)
    assert set(df.metric) >= {"precision", "recall", "ndcg", "hit_rate", "map", "mrr", "novelty"}


def test_completion_masks_the_partial_basket():
    # basket {0, 1} + hidden 2: without masking, 0 and 1 would fill the top-2
    task = CompletionTask(
        basket_ids=np.array(["x"], dtype=object),
        partial_baskets=[np.array([0, 1])],
        hidden=np.array([2]),
        candidates=np.ones(5, dtype=bool),
        item_counts=None,
        n_items=5,
    )
    df = evaluate(Fixed(5), task, ks=(1,))
    assert _value(df, "hit_rate", 1) == 1.0 and _value(df, "ndcg", 1) == 1.0
    assert "novelty" not in set(df.metric)


def test_shape_errors_are_reported():
    task = CompletionTask(
        basket_ids=np.array(["x"], dtype=object),
        partial_baskets=[np.array([0])],
        hidden=np.array([1]),
        candidates=np.ones(4, dtype=bool),
        item_counts=None,
        n_items=4,
    )
    with pytest.raises(ValueError, match="shape"):
        evaluate(Fixed(5), task)
    with pytest.raises(ValueError, match="ks"):
        evaluate(Fixed(4), task, ks=(0,))


def test_evaluate_all_skips_unsupported_tasks():
    class NoCompletion(Fixed):
        name = "nb_only"
        supports_completion = False

    task = CompletionTask(
        basket_ids=np.array(["x"], dtype=object),
        partial_baskets=[np.array([0])],
        hidden=np.array([1]),
        candidates=np.ones(4, dtype=bool),
        item_counts=None,
        n_items=4,
    )
    df = evaluate_all([Fixed(4), NoCompletion(4)], [task], ks=(1,))
    assert set(df.method) == {"fixed"}
