"""Completion that knows the customer: the task carries each basket's customer, personal EASE reads
their habit (and ranks like EASE for anonymous baskets), evaluation and the recommendation tables
pass the customer to such a model, and the ranker's completion is exactly that baseline."""

from __future__ import annotations

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines import EASERecommender, PersonalEASERecommender
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets
from assoc_pipeline.core.recsys.tasks import CompletionTask, completion_task, task_subset
from assoc_pipeline_tests.evaluation.helpers import baskets_of


def two_habits() -> BasketSet:
    """Bread goes with butter for customer a and with jam for customer b; anonymous baskets hold
    both pairings equally often, so the basket alone cannot tell them apart. Then, in March,
    a and b each buy bread once more with their usual partner (the queries)."""
    rows: list[tuple[str, str | None, list[str]]] = []
    for d in range(1, 25):
        day = f"2024-01-{d:02d}"
        rows += [(day, "a", ["bread", "butter"]), (day, "b", ["bread", "jam"])]
        rows += [(day, None, ["bread", "butter", "milk"]), (day, None, ["bread", "jam", "milk"])]
        rows += [(day, None, ["tea", "milk"])]
    rows += [("2024-03-01", "a", ["bread", "butter"]), ("2024-03-02", "b", ["bread", "jam"])]
    rows += [("2024-03-03", None, ["bread", "jam"])]
    return baskets_of(rows)


def test_the_task_carries_each_query_baskets_customer() -> None:
    bs = two_habits()
    history = bs.subset(np.flatnonzero(bs.baskets["basket_time"] < "2024-02-01"))
    future = bs.subset(np.flatnonzero(bs.baskets["basket_time"] >= "2024-02-01"))
    task = completion_task(future, history=history)
    assert list(task.user_ids) == ["a", "b", None]
    assert list(task_subset(task, np.array([2, 0])).user_ids) == [None, "a"]


def test_personal_ease_follows_the_customer_and_ranks_like_ease_when_anonymous() -> None:
    bs = two_habits()
    ids = bs.vocabulary["item_id"].tolist()
    bread, butter, jam = (ids.index(x) for x in ("bread", "butter", "jam"))
    personal = PersonalEASERecommender(l2=1.0, weight=2.0).fit(bs)
    parts = [np.array([bread])] * 4
    s = personal.score_completion(parts, user_ids=["a", "b", None, "stranger"])
    assert s[0, butter] > s[0, jam] and s[1, jam] > s[1, butter]
    ease = EASERecommender(l2=1.0).fit(bs).score_completion(parts[:1])[0]
    for row in (2, 3):  # anonymous, or a customer without history: EASE's order
        np.testing.assert_array_equal(np.argsort(-s[row], kind="stable"), np.argsort(-ease, kind="stable"))
    np.testing.assert_array_equal(personal.score_completion(parts[:1])[0], s[2])


def test_evaluation_passes_the_customer_to_a_personal_method_only() -> None:
    bs = two_habits()
    ids = bs.vocabulary["item_id"].tolist()
    bread, butter, jam = (ids.index(x) for x in ("bread", "butter", "jam"))
    task = CompletionTask(  # a's and b's March baskets with their partner of bread hidden
        basket_ids=np.array(["q1", "q2"], dtype=object),
        partial_baskets=[np.array([bread]), np.array([bread])],
        hidden=np.array([butter, jam]),
        candidates=np.ones(bs.n_items, dtype=bool),
        item_counts=None,
        n_items=bs.n_items,
        user_ids=np.array(["a", "b"], dtype=object),
    )

    def hit_at_1(rec) -> float:
        out = evaluate(rec, task, ks=(1,))
        return float(out[(out.metric == "hit_rate") & (out.k == 1)].value.iloc[0])

    assert hit_at_1(PersonalEASERecommender(l2=1.0).fit(bs)) == 1.0
    assert hit_at_1(EASERecommender(l2=1.0).fit(bs)) <= 0.5  # one order for both baskets


def test_recommendation_tables_pass_the_customer_to_a_personal_model() -> None:
    bs = two_habits()
    ids = bs.vocabulary["item_id"].tolist()
    model = PersonalEASERecommender(l2=1.0).fit(bs)
    parts = [np.array([ids.index("bread")])] * 2
    table = recommend_for_baskets(model, parts, ["a's", "b's"], bs.vocabulary, k=1, user_ids=["a", "b"])
    assert table["item_id"].tolist() == ["butter", "jam"]  # one row per basket, in query order


def test_without_its_head_the_rankers_completion_is_personal_ease_of_its_history() -> None:
    """``completion_head=False`` (and models saved before the head): personal EASE, exactly."""
    bs = two_habits()
    params = RankerParams(
        epochs=1,
        hidden=8,
        item_dim=0,
        device="cpu",
        threads=1,
        n_neighbours=2,
        n_trending=1,
        completion_head=False,
    )
    ranker = RankerRecommender(params).fit(bs)
    ids = bs.vocabulary["item_id"].tolist()
    parts = [np.array([ids.index("bread")])] * 3
    users = ["a", "b", None]
    expected = PersonalEASERecommender(params.completion_ease_l2, params.completion_history_weight).fit(bs)
    np.testing.assert_allclose(
        ranker.score_completion(parts, user_ids=users), expected.score_completion(parts, user_ids=users)
    )
    assert RankerRecommender.personal_completion


def test_another_weight_reuses_the_fit_and_scores_like_a_fresh_fit() -> None:
    bs = two_habits()
    ids = bs.vocabulary["item_id"].tolist()
    parts, users = [np.array([ids.index("bread")])] * 2, ["a", None]
    fitted = PersonalEASERecommender(l2=1.0, weight=1.0).fit(bs)
    before = fitted.score_completion(parts, user_ids=users)
    heavier = fitted.with_weight(3.0)
    fresh = PersonalEASERecommender(l2=1.0, weight=3.0).fit(bs)
    np.testing.assert_allclose(heavier.score_completion(parts, users), fresh.score_completion(parts, users))
    np.testing.assert_array_equal(fitted.score_completion(parts, user_ids=users), before)
    assert heavier.weights_ is fitted.weights_  # no second EASE inverse
