"""What the ranker reads: holding the planted purchase-cycle features at their mean costs the most,
groups the network never saw cost nothing, the unheld row is the evaluation's own figure, and the
network is left exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest

from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.models.ranker_net import held_at_mean
from assoc_pipeline.core.recsys.ranker_reading import (
    ITEM_EMBEDDING,
    NONE,
    completion_reading,
    next_basket_reading,
    reading_markdown,
)
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import completion_task, next_basket_task
from assoc_pipeline_tests.models.test_ranker import FAST, cyclic_baskets

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_holding_the_planted_cycle_costs_most_and_unseen_groups_cost_nothing() -> None:
    bs = cyclic_baskets()
    split = temporal_split(bs, "2024-07-29", "2024-09-09")
    # counts are equal by construction; window counts and ranks would also carry recency, so they
    # are held out in training: what decides is the cycle (and recency)
    params = RankerParams(**{**FAST, "item_dim": 4, "drop_groups": "counts,ranks,scores"})
    ranker = RankerRecommender(params).fit(split.train, split.validation).with_history(split.train_full)
    task = next_basket_task(split.train_full, split.test)
    lists = ranker.ranking_lists([str(u) for u in task.user_ids])
    before = ranker.list_scores(lists)

    table = next_basket_reading(ranker, task, k=2).set_index("held")

    full = evaluate(ranker, task, ks=(2,))
    at2 = full[full.k == 2].set_index("metric")["value"]
    assert table.loc[NONE, "ndcg"] == pytest.approx(at2["ndcg"])
    assert table.loc[NONE, "recall"] == pytest.approx(at2["recall"])
    for unseen in ("counts", "ranks", "scores"):  # held in training already: nothing changes
        assert table.loc[unseen, "ndcg_change"] == pytest.approx(0.0, abs=1e-9)
    seen = table.drop(index=[NONE, "counts", "ranks", "scores"])
    worst = seen["ndcg_change"].idxmin()
    assert worst in ("cycle", "recency"), seen["ndcg_change"]
    assert seen.loc[worst, "ndcg_change"] < -0.1  # the planted signal is what it ranks by
    assert ITEM_EMBEDDING in table.index  # the learned embedding is read too
    assert "cycle" in reading_markdown(table.reset_index(), k=2)
    np.testing.assert_array_equal(ranker.list_scores(lists), before)  # the network is restored

    # the completion head: its three groups, the unheld row equal to the evaluation's figure
    ctask = completion_task(split.test, history=split.train_full)
    assert ranker.completion is not None
    head = completion_reading(ranker, ctask).set_index("held")
    assert list(head.index) == [NONE, "basket", "habit", "item"]
    hit = evaluate(ranker, ctask, ks=(10,))
    assert head.loc[NONE, "hit_rate"] == pytest.approx(
        hit[(hit.metric == "hit_rate") & (hit.k == 10)].value.iloc[0]
    )
    assert head.loc["basket", "hit_rate_change"] < 0  # the partial basket is what completion reads
    ranker.completion = None  # completing with personal EASE: nothing of a head to read
    assert completion_reading(ranker, ctask) is None


def test_held_at_mean_holds_features_and_items_and_restores_on_error() -> None:
    bs = cyclic_baskets(n_users=40, n_baskets=30)
    split = temporal_split(bs, "2024-06-01", "2024-07-01")
    ranker = RankerRecommender(RankerParams(**{**FAST, "epochs": 3, "item_dim": 4})).fit(split.train)
    ranker.with_history(split.train_full)
    lists = ranker.ranking_lists([f"u{i}" for i in range(40)])
    net = ranker.module
    before = ranker.list_scores(lists)
    with held_at_mean(net, np.zeros(len(ranker.params.feature_names), np.float32), items=True):
        held = ranker.list_scores(lists)
    # every input at its mean and one embedding for all: every row of the network's input is the
    # same, so one logit everywhere
    assert np.ptp(held) < 1e-5 and np.ptp(before) > 0.1
    with pytest.raises(RuntimeError), held_at_mean(net, None, items=True):
        raise RuntimeError("boom")
    np.testing.assert_array_equal(ranker.list_scores(lists), before)


def test_the_report_section_skips_an_empty_task_and_reports_a_failed_reading() -> None:
    from assoc_pipeline.core.recsys.report import TestTasks
    from assoc_pipeline.core.recsys.tasks import task_subset
    from assoc_pipeline.services.evaluation import TrainedMethod, _ranker_reading

    bs = cyclic_baskets(n_users=40, n_baskets=30)
    split = temporal_split(bs, "2024-06-01", "2024-07-01")
    ranker = RankerRecommender(RankerParams(**{**FAST, "epochs": 2})).fit(split.train)
    ranker.with_history(split.train_full)
    nb = next_basket_task(split.train_full, split.test)
    comp = completion_task(split.test, history=split.train_full)
    trained = {"ranker": TrainedMethod(ranker, {})}
    lines: list[str] = []
    empty = TestTasks(task_subset(nb, slice(0, 0)), task_subset(comp, slice(0, 0)))
    assert _ranker_reading(trained, empty, 0, lines.append) == ""  # nothing to read, nothing fails
    whole = _ranker_reading(trained, TestTasks(nb, comp), 0, lines.append)
    assert "ranker, next basket" in whole and "| cycle |" in whole
    ranker.history = None  # a model that cannot score: the reading says so, the report goes on
    failed = _ranker_reading(trained, TestTasks(nb, comp), 0, lines.append)
    assert "the feature reading failed (RuntimeError" in failed and "failed" in lines[-1]
