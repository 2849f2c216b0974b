"""Why the ranker ranks what it ranks: integrated gradients add up to the logit they explain, the
explanation of a cycle-driven recommendation names the purchase cycle, and the tables the CLI,
the asset and the server read carry the contributions for a ranker (and only for a ranker)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assoc_pipeline.core.recsys.baselines.top_frequency import PersonalTopFrequencyRecommender
from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.core.recsys.contribution_cells import contributions_text, top_groups
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.explanations import (
    GROUPS,
    explain_rows,
    group_values,
    integrated_gradients,
    list_means,
    rows_of,
)
from assoc_pipeline.core.recsys.metrics import top_k
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.ranking_features import FEATURE_GROUPS, FEATURES
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_users
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import next_basket_task
from assoc_pipeline.serving.app import ItemOut
from assoc_pipeline.serving.scoring import TopKTable
from assoc_pipeline_tests.models.test_ranker import FAST, cyclic_baskets

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_ranker() -> RankerRecommender:
    """A quickly fitted ranker with an item embedding (it must stay out of the attributions)."""
    bs = cyclic_baskets(n_users=40, n_baskets=30)
    split = temporal_split(bs, "2024-06-01", "2024-07-01")
    ranker = RankerRecommender(RankerParams(**{**FAST, "epochs": 3, "item_dim": 4})).fit(split.train)
    return ranker.with_history(split.train_full)


def test_attributions_add_up_to_the_logit_difference(small_ranker: RankerRecommender) -> None:
    lists = small_ranker.ranking_lists([f"u{i}" for i in range(40)])
    net = small_ranker.module
    for baseline in (None, list_means(lists)[lists.list_of_row]):
        a = integrated_gradients(net, lists.features, lists.items, baseline, steps=16)
        np.testing.assert_allclose(a.logits, small_ranker.list_scores(lists), rtol=1e-5, atol=1e-5)
        diff = a.logits - a.baseline_logits
        assert np.abs(diff).mean() > 0.05  # there is something to explain
        assert a.gap.max() < 1e-3 + 1e-2 * np.abs(diff).max(), (a.gap.max(), np.abs(diff).max())
        # groups are sums of their features, so they keep completeness
        np.testing.assert_allclose(group_values(a.values).sum(1), a.values.sum(1), rtol=1e-4, atol=1e-4)
    # the check can fail: one crude step leaves a much larger gap than sixteen
    coarse = integrated_gradients(net, lists.features, lists.items, None, steps=1)
    fine = integrated_gradients(net, lists.features, lists.items, None, steps=16)
    assert coarse.gap.mean() > 5 * fine.gap.mean()
    # a feature equal to its baseline gets nothing; against the list's mean, user features are that
    base = list_means(lists)[lists.list_of_row]
    a = integrated_gradients(net, lists.features, lists.items, base, steps=16)
    user_cols = [i for i, f in enumerate(FEATURES) if FEATURE_GROUPS[f] == "user"]
    assert np.abs(a.values[:, user_cols]).max() < 1e-6


def test_the_explanation_of_a_cycle_driven_recommendation_names_the_cycle() -> None:
    """Counts are equal by construction; recency and cycle decide. Window counts (how often in the
    last 30 days) also carry recency, so the counting groups are held out here: what is left to
    name is the planted cycle, or something the network did not need."""
    bs = cyclic_baskets()
    split = temporal_split(bs, "2024-07-29", "2024-09-09")
    params = RankerParams(**{**FAST, "drop_groups": "counts,ranks,scores"})
    ranker = RankerRecommender(params).fit(split.train, split.validation)
    ranker.with_history(split.train_full)
    task = next_basket_task(split.train_full, split.test)

    def recall_at_2(rec) -> float:
        out = evaluate(rec, task, ks=(2,))
        return float(out[(out.metric == "recall") & (out.k == 2)].value.iloc[0])

    top = PersonalTopFrequencyRecommender().fit(split.train_full)
    assert recall_at_2(ranker) > recall_at_2(top) + 0.2  # it learned the cycle

    users = [str(u) for u in task.user_ids]
    lists = ranker.ranking_lists(users)
    first = top_k(ranker.scores_of(lists), 1)[:, 0]
    rows = rows_of(lists, ranker.n_items, np.arange(len(users)), first)
    assert (rows >= 0).all()  # every user's first item is a candidate the network scored
    explained = explain_rows(ranker, lists, rows)
    named = [c[0].group for c in explained]
    share = np.mean([g in ("cycle", "recency") for g in named])
    assert share >= 0.8, top_groups(json.dumps([{"group": g}]) for g in named)
    assert all(len(c) == 3 for c in explained)
    # held-out groups are invisible to the network, so they never appear
    assert not {c.group for cs in explained for c in cs} & {"counts", "ranks", "scores"}
    cycle = next(cs[0] for cs in explained if cs[0].group == "cycle")
    assert "bought every ~" in cycle.why and "days ago" in cycle.why  # the first one is phrased
    assert all(c.why == "" for cs in explained for c in cs[1:])


def test_tables_carry_contributions_for_a_ranker_only(small_ranker: RankerRecommender) -> None:
    bs = small_ranker.history
    users, history = user_item_counts(bs)
    table = recommend_for_users(small_ranker, list(users[:8]), history[:8], bs.vocabulary, k=6, explain_top=4)
    assert set(table["rank"]) == set(range(1, 7))
    cells = table["contributions"]
    assert (cells[table["rank"] > 4] == "").all()
    explained = cells[table["rank"] <= 4]
    assert (explained != "").mean() > 0.9  # the top of each list is the network's own candidates
    first = json.loads(explained[explained != ""].iloc[0])
    assert len(first) == 3 and {c["group"] for c in first} <= set(GROUPS)
    assert all(set(c) == {"group", "feature", "value", "why"} for c in first)
    assert abs(first[0]["value"]) >= abs(first[1]["value"]) >= abs(first[2]["value"])
    text = contributions_text(explained[explained != ""].iloc[0])
    assert text.startswith(f"{first[0]['group']} {first[0]['value']:+.2f} (")
    # the server's item dicts carry the same contributions, as a list
    served = TopKTable(table).rows(str(users[0]), 6)
    assert served[0]["contributions"] == json.loads(table["contributions"].iloc[0])
    assert served[5]["contributions"] is None
    assert ItemOut(**served[0]).model_dump()["contributions"] == served[0]["contributions"]  # the API schema
    # another model: same columns, nothing invented
    other = PersonalTopFrequencyRecommender().fit(bs)
    plain = recommend_for_users(other, list(users[:8]), history[:8], bs.vocabulary, k=6)
    assert list(plain.columns) == list(table.columns) and (plain["contributions"] == "").all()
