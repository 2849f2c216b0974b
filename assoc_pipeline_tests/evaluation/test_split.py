from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.recsys.baselines import PopularityRecommender
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import Catalogue, cold_start_task, completion_task, next_basket_task

from .helpers import make_baskets


@pytest.fixture
def bs():
    return make_baskets(
        [
            ("u1", "2011-01-05", [0, 1]),
            ("u1", "2011-03-01", [1, 2]),
            ("u2", "2011-02-01", [3]),
            (None, "2011-02-02", [0, 3]),
            ("u1", "2011-07-01", [0, 4]),  # validation
            ("u3", "2011-07-02", [5]),  # validation, user unseen before
            ("u1", "2011-09-01", [2, 3, 6]),  # test (cutoff inclusive)
            ("u1", "2011-10-01", [5]),  # test, later basket: not a target
            ("u2", "2011-09-15", [3, 0]),
            ("u4", "2011-09-20", [1, 2]),  # test-only user: no history
            (None, "2011-09-21", [0, 1, 2]),
        ],
        n_items=7,
    )


def test_periods_are_disjoint_and_ordered(bs):
    s = temporal_split(bs, "2011-06-01", pd.Timestamp("2011-09-01"))
    times = bs.baskets["basket_time"]
    assert (times.iloc[s.train_rows] < "2011-06-01").all()
    assert (
        (times.iloc[s.validation_rows] >= "2011-06-01") & (times.iloc[s.validation_rows] < "2011-09-01")
    ).all()
    assert (times.iloc[s.test_rows] >= "2011-09-01").all()
    assert len(s.train_rows) == 4 and len(s.validation_rows) == 2 and len(s.test_rows) == 5
    assert set(s.train_full_rows) == set(s.train_rows) | set(s.validation_rows)
    assert s.train.n_baskets == 4 and s.test.n_baskets == 5 and s.train_full.n_baskets == 6
    assert s.summary()["n_test"] == 5


def test_bad_cutoffs_are_named(bs):
    with pytest.raises(ValueError, match="before test_cutoff"):
        temporal_split(bs, "2011-09-01", "2011-06-01")
    with pytest.raises(ValueError, match="not a date"):
        temporal_split(bs, "soon", "2011-09-01")
    with pytest.raises(ValueError, match="test period is empty"):
        temporal_split(bs, "2011-06-01", "2012-09-01")


def test_next_basket_task_targets_first_future_basket(bs):
    s = temporal_split(bs)
    task = next_basket_task(s.train_full, s.test, drop_cold=False)
    # u1 and u2 have history and a future; u4 has no history; anonymous baskets never qualify
    assert list(task.user_ids) == ["u1", "u2"]
    # u1's first test basket is {2, 3, 6} (2011-09-01), not the later {5}
    assert task.targets[0].tolist() == [2, 3, 6]
    # u1 bought 0, 1, 2, 4 before: 2 is a repeat, 3 and 6 are explore items
    assert task.repeat_targets[0].tolist() == [2]
    assert task.explore_targets[0].tolist() == [3, 6]
    assert task.history_items[0].tolist() == [0, 1, 2, 4]
    assert task.repeat_targets[1].tolist() == [3] and task.explore_targets[1].tolist() == [0]
    # candidates = items seen in train_full (6 never was)
    assert task.candidates.tolist() == [True, True, True, True, True, True, False]
    assert task.item_counts.tolist() == [3, 2, 1, 2, 1, 1, 0]


def test_every_target_counts_by_default_and_known_targets_are_a_view(bs):
    s = temporal_split(bs)
    task = next_basket_task(s.train_full, s.test)
    assert task.targets[0].tolist() == [2, 3, 6]  # item 6 was never sold before: still a target
    assert [t.tolist() for t in task.known_targets] == [[2, 3], [0, 3]]
    diagnostic = next_basket_task(s.train_full, s.test, drop_cold=True)
    assert diagnostic.targets[0].tolist() == [2, 3] and diagnostic.explore_targets[0].tolist() == [3]


def test_recall_divides_by_every_relevant_item(bs):
    """Old behaviour (cold targets dropped) gave u1 recall 2/2 here; every target counts: 2/3."""
    s = temporal_split(bs)
    task = next_basket_task(s.train_full, s.test)

    class Oracle(PopularityRecommender):
        def score_next_basket(self, user_ids):  # exactly the user's known targets on top
            scores = np.zeros((len(user_ids), task.n_items), dtype=np.float32)
            for i, known in enumerate(task.known_targets):
                scores[i, known] = 1.0
            return scores

    res = evaluate(Oracle().fit(s.train_full), task, ks=(10,))
    at = res.set_index("metric")["value"]
    assert at["recall"] == pytest.approx((2 / 3 + 2 / 2) / 2)
    assert at["recall_known_items"] == pytest.approx(1.0)
    assert at["hit_rate"] == pytest.approx(1.0)


def test_validation_task_uses_train_history_only(bs):
    s = temporal_split(bs)
    task = next_basket_task(s.train, s.validation)
    assert list(task.user_ids) == ["u1"]  # u3 has no history before the validation cutoff
    assert task.targets[0].tolist() == [0, 4]  # item 4 never seen in train: a target all the same


def test_completion_task_is_seeded_and_hides_one_item(bs):
    s = temporal_split(bs)
    a = completion_task(s.test, seed=0)
    b = completion_task(s.test, seed=0)
    assert [p.tolist() for p in a.partial_baskets] == [p.tolist() for p in b.partial_baskets]
    assert a.hidden.tolist() == b.hidden.tolist()
    # 4 test baskets hold >= 2 items (including the anonymous one); {5} is skipped
    assert len(a) == 4
    full = [set(x.tolist()) for x in s.test.item_lists() if len(x) >= 2]
    for part, h, items in zip(a.partial_baskets, a.hidden, full, strict=True):
        assert h not in part and set(part.tolist()) | {int(h)} == items
    assert a.targets[0].tolist() == [a.hidden[0]]
    assert a.candidates.all() and a.item_counts is None
    other = [completion_task(s.test, seed=k).hidden.tolist() for k in range(1, 8)]
    assert any(o != a.hidden.tolist() for o in other)


def test_completion_task_keeps_cold_hidden_items_unless_asked(bs):
    s = temporal_split(bs)
    full = completion_task(s.test, seed=0, history=s.train_full)
    warm = completion_task(s.test, seed=0, history=s.train_full, drop_cold=True)
    assert np.isin(warm.hidden, np.flatnonzero(warm.candidates)).all()
    kept = [h for h in full.hidden if full.candidates[h]]
    assert warm.hidden.tolist() == kept


class NewestFirst(Recommender):
    """Prefers whatever entered the catalogue last: the method the old cold-start slice flattered."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def fit(self, train):
        return self

    def score_completion(self, partial_baskets):
        order = self.catalogue.first_seen.astype(np.float64)
        order[self.catalogue.first_seen == np.iinfo(np.int64).max] = -1.0
        return np.tile(order.astype(np.float32), (len(partial_baskets), 1))


def test_cold_start_candidates_are_the_catalogue_at_query_time():
    """Two test baskets bring a new product each: 8 on 2011-09-05, 9 on 2011-09-20. At the first
    query product 9 is not on sale yet, so it is no candidate: "prefer the newest product" finds
    the hidden 8 first. (With the old candidates, every product including 9, it ranked 9 first.)"""
    bs = make_baskets(
        [
            ("u1", "2011-01-05", [0, 1]),
            ("u2", "2011-03-01", [1, 2]),
            ("u1", "2011-07-01", [0, 3]),
            ("u1", "2011-09-05", [0, 8]),
            ("u2", "2011-09-20", [1, 9]),
        ],
        n_items=10,
    )
    s = temporal_split(bs)
    task = cold_start_task(s.test, s.train_full, seed=0)
    assert task.hidden.tolist() == [8, 9]
    known = task.catalogue.known_at(task.query_times)
    assert known[0].tolist() == [True] * 4 + [False] * 4 + [True, False]  # 4..7 never sold: never on sale
    assert known[1, 9] and known[1, 8]
    res = evaluate(NewestFirst(task.catalogue), task, ks=(1,))
    assert res.set_index("metric").loc["hit_rate", "value"] == 1.0


def test_masking_by_column_equals_the_catalogue_at_each_query_time():
    """mask_non_candidates masks whole columns where every query of a batch agrees and the rest
    row by row: the same cells as the (queries x items) definition, candidates & known_at."""
    from dataclasses import replace

    from assoc_pipeline.core.recsys.tasks import NEVER, Catalogue, mask_non_candidates

    bs = make_baskets(
        [("u1", "2011-01-05", [0, 1]), ("u2", "2011-03-01", [1, 2]), ("u1", "2011-09-05", [0, 3])], n_items=4
    )
    task = cold_start_task(temporal_split(bs).test, temporal_split(bs).train_full, seed=0)
    rng = np.random.default_rng(3)
    n_items, n = 300, 40
    first = rng.integers(0, 1000, n_items)
    first[rng.random(n_items) < 0.2] = NEVER
    task = replace(
        task,
        n_items=n_items,
        candidates=rng.random(n_items) < 0.9,
        catalogue=Catalogue(first),
        query_times=np.sort(rng.integers(200, 800, n)),
    )
    for start, stop in [(0, n), (0, 1), (5, 17), (39, 40)]:
        scores = rng.standard_normal((stop - start, n_items)).astype(np.float32)
        expected = np.where(
            task.candidates[None, :] & task.catalogue.known_at(task.query_times[start:stop]), scores, -np.inf
        )
        mask_non_candidates(scores, task, start, stop)
        assert np.array_equal(scores, expected)
