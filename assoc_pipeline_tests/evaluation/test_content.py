"""Content-based and hybrid scoring and the cold-start slice, on planted vectors (no text model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.content.content_recommender import ContentRecommender
from assoc_pipeline.core.content.hybrid import WEIGHT_GRID, HybridRecommender, _z, tune_weight
from assoc_pipeline.core.data.baskets import basket_set_from_events
from assoc_pipeline.core.recsys.baselines import PopularityRecommender
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.report import COLD_START, build_report, cold_start_markdown, content_specs
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import cold_start_task, item_counts

N_GROUPS, PER_GROUP = 6, 6  # items 6g..6g+5 form group g; 6g+4 is new in validation, 6g+5 in test


def planted_vectors(seed: int = 0) -> np.ndarray:
    """Items of one group share a direction (their 'descriptions' are alike)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_GROUPS, 16))
    return np.repeat(centres, PER_GROUP, axis=0) + 0.1 * rng.normal(size=(N_GROUPS * PER_GROUP, 16))


def grouped_baskets(seed: int = 0):
    """Baskets mix items of one group; its item 4 is sold from day 48 on, item 5 from day 60 on."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(600):
        g = int(rng.integers(N_GROUPS))
        day = float(rng.uniform(0, 90))
        pool = np.arange(g * PER_GROUP, g * PER_GROUP + 4 + (day >= 48) + (day >= 60))
        when = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)
        rows += [(when, f"b{b}", f"u{b % 50}", f"I{i:02d}") for i in rng.choice(pool, size=3, replace=False)]
    ev = pd.DataFrame(rows, columns=["event_time", "basket_id", "user_id", "item_id"])
    ev["item_name"], ev["country"] = ev["item_id"], "GB"
    ev["user_id"] = ev["user_id"].astype("string")
    return basket_set_from_events(ev)


@pytest.fixture(scope="module")
def split():
    bs = grouped_baskets()
    return temporal_split(bs, "2024-02-15", "2024-03-01")


@pytest.fixture(scope="module")
def vectors(split) -> np.ndarray:
    order = [int(i[1:]) for i in split.baskets.vocabulary["item_id"]]  # vocabulary order by id
    return planted_vectors()[order]


def test_cold_start_task_hides_only_new_items_and_ranks_everything(split) -> None:
    task = cold_start_task(split.test, split.train_full, seed=0)
    new = np.asarray(split.train_full.matrix.getnnz(axis=0)).ravel() == 0
    assert len(task) > 20 and task.name == COLD_START
    assert new[task.hidden].all() and task.candidates.all()
    for part, hidden in zip(task.partial_baskets, task.hidden, strict=True):
        assert hidden not in part and len(part) >= 1


def test_the_report_samples_cold_start_queries_like_completion_ones(split) -> None:
    """A drifting catalogue can hold 30x more cold-start baskets than users: above the cap the
    report scores a fixed-seed sample, each query with its own time (the catalogue at that time)."""
    from assoc_pipeline.core.recsys.report import report_tasks

    whole = cold_start_task(split.test, split.train_full, seed=0)
    assert report_tasks(split, 0, 0).cold_start.hidden.tolist() == whole.hidden.tolist()
    cap = len(whole) // 2
    sampled = report_tasks(split, 0, cap).cold_start
    assert len(sampled) == cap == len(sampled.query_times) == len(sampled.partial_baskets)
    rows = [list(whole.basket_ids).index(b) for b in sampled.basket_ids]
    assert rows == sorted(rows)
    assert sampled.query_times.tolist() == whole.query_times[rows].tolist()
    assert sampled.hidden.tolist() == whole.hidden[rows].tolist()
    assert sampled.catalogue is whole.catalogue or (
        sampled.catalogue.first_seen.tolist() == whole.catalogue.first_seen.tolist()
    )


def test_content_finds_new_items_that_popularity_cannot(split, vectors) -> None:
    task = cold_start_task(split.test, split.train_full, seed=0)
    content = ContentRecommender(vectors).fit(split.train_full)
    pop = PopularityRecommender().fit(split.train_full)

    def hit(rec) -> float:
        r = evaluate(rec, task, ks=(10,))
        return float(r[(r.metric == "hit_rate") & (r.k == 10)]["value"].iloc[0])

    assert hit(pop) == 0.0  # never sold in training: scored 0, below every sold item
    assert hit(content) > 0.9  # the hidden item's vector lies next to its basket mates'
    sims = content.similar_items(0, k=4)
    assert set(sims.tolist()) <= set(range(PER_GROUP))  # same group by "description"


def test_hybrid_mixes_standardised_signals_and_tunes_its_weight(split, vectors) -> None:
    content = ContentRecommender(vectors).fit(split.train_full)
    pop = PopularityRecommender().fit(split.train_full)
    q = [np.array([0, 1])]
    only_pop = HybridRecommender(pop, content, 1.0).score_completion(q)
    only_content = HybridRecommender(pop, content, 0.0).score_completion(q)
    assert np.argsort(-only_pop[0])[:5].tolist() == np.argsort(-pop.score_completion(q)[0])[:5].tolist()
    assert (
        np.argsort(-only_content[0])[:5].tolist() == np.argsort(-content.score_completion(q)[0])[:5].tolist()
    )
    with pytest.raises(ValueError, match="weight must be in"):
        HybridRecommender(pop, content, 1.5)
    task = cold_start_task(split.validation, split.train, seed=0)
    weight, curve = tune_weight(
        PopularityRecommender, ContentRecommender(vectors), split.train, task, "hit_rate"
    )
    assert set(curve) == set(WEIGHT_GRID) and curve[weight] == max(curve.values())
    # products never bought in training compete on content even at w = 1 ...
    assert curve[1.0] > 0.9
    # ... without that rule a purchase-only signal pins them to the bottom
    pop_train, content_train = (
        PopularityRecommender().fit(split.train),
        ContentRecommender(vectors).fit(split.train),
    )
    blind = evaluate(HybridRecommender(pop_train, content_train, 1.0, cold_items=None), task, ks=(10,))
    assert blind[(blind.metric == "hit_rate")]["value"].iloc[0] == 0.0


def test_z_scores_rows_with_non_finite_scores_as_zero_and_leaves_its_input_alone() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(6, 50)).astype(np.float32)
    scores[0, :3] = [np.nan, np.inf, -np.inf]
    scores[1] = 2.5  # a constant row: all zeros, not a division by zero
    before = scores.copy()
    z = _z(scores)
    finite = np.where(np.isfinite(before), before, 0.0).astype(np.float32)
    mean, sd = finite.mean(axis=1, keepdims=True), finite.std(axis=1, keepdims=True)
    expected = (finite - mean) / np.where(sd > 0, sd, 1.0)
    assert z.dtype == np.float32 and np.array_equal(z, expected)
    assert np.array_equal(scores, before, equal_nan=True)  # a new array: the caller's scores stay
    assert np.array_equal(z[1], np.zeros(50, dtype=np.float32))


@pytest.mark.parametrize("memo_queries", [4, 8, 1 << 20])
def test_hybrid_tuning_scores_a_slice_at_a_time_and_draws_the_same_curve(
    split, vectors, memo_queries
) -> None:
    """The curve is each weight's evaluation over the whole task, however many queries are kept
    at a time (next-basket and completion tasks sliced by ``task_rows``)."""
    from assoc_pipeline.core.recsys.tasks import completion_task, next_basket_task, task_rows

    pop = PopularityRecommender().fit(split.train)
    content = ContentRecommender(vectors).fit(split.train)
    cold = item_counts(split.train) == 0
    for task, metric in (
        (next_basket_task(split.train, split.validation), "ndcg"),
        (completion_task(split.validation, seed=0, history=split.train), "hit_rate"),
    ):
        assert len(task) > 8 and len(task_rows(task, 4, 8)) == 4
        _, curve = tune_weight(
            PopularityRecommender, ContentRecommender(vectors), split.train, task, metric,
            memo_queries=memo_queries, batch=4,
        )  # fmt: skip
        for w in WEIGHT_GRID:
            res = evaluate(HybridRecommender(pop, content, w, cold_items=cold), task, ks=(10,), batch_size=4)
            assert curve[w] == res[(res.metric == metric) & (res.k == 10)]["value"].iloc[0], (task.name, w)
    with pytest.raises(ValueError, match="memo_queries"):
        tune_weight(PopularityRecommender, content, split.train, task, "hit_rate", memo_queries=6, batch=4)


def test_report_adds_the_cold_start_slice_for_every_completion_method(split, vectors) -> None:
    specs = content_specs(vectors, {"next_basket": 0.5, "completion": 0.5})
    report = build_report(split, specs, ks=(10,))
    cold = report[report.task == COLD_START]
    methods = set(cold.method)
    assert {"content", "hybrid", "popularity", "ease", "item_knn"} <= methods
    assert "personal_top_frequency" not in methods  # next-basket only
    hits = cold[cold.metric == "hit_rate"].set_index("method")["value"]
    assert hits["content"] > 0.9 and hits["popularity"] == 0.0
    md = cold_start_markdown(report)
    assert "by construction" in md and "content" in md
