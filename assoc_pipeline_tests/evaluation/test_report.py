"""The evaluation report (core/recsys/report.py), its data contract, the split record and serving helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.checks.contracts import validate_contract
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.baselines import PersonalTopFrequencyRecommender, PopularityRecommender
from assoc_pipeline.core.recsys.baselines.rules import RuleIndex
from assoc_pipeline.core.recsys.item_lookup import resolve_items
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets, recommend_for_users
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.report import (
    BASELINES,
    COMPLETION,
    NEXT_BASKET,
    PRIMARY,
    MethodSpec,
    bar_markdown,
    bar_standing,
    baseline_recommender,
    best_per_task,
    build_report,
    mlflow_metric_name,
    parse_metric,
    summary_table,
    value,
)
from assoc_pipeline.core.recsys.split import resolve_cutoffs, split_from_record, split_record, temporal_split
from assoc_pipeline_tests.evaluation.helpers import make_baskets

N_ITEMS = 40


def planted(seed: int = 0):
    """Users re-buy their two favourites; items 0-1-2 travel together; 2011 dates around the cutoffs."""
    rng = np.random.default_rng(seed)
    rows = []
    days = pd.date_range("2011-01-03", "2011-11-30", freq="6D")
    for u in range(30):
        favs = [6 + (2 * u) % 34, 7 + (2 * u) % 34]
        for d in rng.choice(len(days), 8, replace=False):
            items = list(favs)
            if rng.random() < 0.6:
                items += [0, 1, 2][: rng.integers(2, 4)]
            rows.append((f"u{u}", str(days[d] + pd.Timedelta(hours=u)), items))
    for d in range(0, len(days), 3):  # anonymous baskets: completion only
        rows.append((None, str(days[d]), [0, 1, 2, 5]))
    return make_baskets(rows, N_ITEMS)


@pytest.fixture(scope="module")
def split():
    return temporal_split(planted())


def stand_in_models(split) -> dict[str, MethodSpec]:
    """Stand-in "models": top-frequency and popularity fitted like trained models are (train_full)."""
    model = PersonalTopFrequencyRecommender().fit(split.train_full)
    pop = PopularityRecommender().fit(split.train_full)
    return {
        "cf": MethodSpec(
            "cf", "model", {NEXT_BASKET: model, COMPLETION: pop}, model_version="3", mlflow_run_id="r1"
        ),
        "dnn": MethodSpec(
            "dnn", "model", {NEXT_BASKET: pop, COMPLETION: pop}, model_version="4", mlflow_run_id="r2"
        ),
    }


@pytest.fixture(scope="module")
def report(split):
    return build_report(split, stand_in_models(split), ks=(5, 10, 20))


def test_report_holds_every_method_task_and_k(report):
    assert set(report["method"]) == {*BASELINES, "cf", "dnn"}
    assert set(report["task"]) == {NEXT_BASKET, COMPLETION}
    assert set(report["k"]) == {5, 10, 20}
    # methods without completion are absent there, not zero
    assert not ((report.method == "personal_top_frequency") & (report.task == COMPLETION)).any()
    assert not ((report.method == "tifu_knn") & (report.task == COMPLETION)).any()
    assert report.loc[report.method == "cf", "model_version"].eq("3").all()
    assert report.loc[report.kind == "baseline", "model_version"].isna().all()
    assert not report.duplicated(["method", "task", "metric", "k"]).any()


def test_methods_scored_side_by_side_give_the_same_report_to_the_bit(split, report):
    """``workers`` only changes how many methods are scored at a time, never a figure or an order."""
    models = stand_in_models(split)
    lines: list[str] = []
    lanes = build_report(split, models, ks=(5, 10, 20), workers=3, log=lines.append)
    pd.testing.assert_frame_equal(lanes, report)
    # the trained models start (and are logged) first, the cheap baselines fill the lanes at the end ...
    logged = list(dict.fromkeys(line.split(" / ")[0] for line in lines))
    assert logged == ["cf", "dnn", *BASELINES]
    # ... and the table keeps the specs' order: baselines, then models
    assert list(dict.fromkeys(lanes["method"])) == [*BASELINES, "cf", "dnn"]
    with pytest.raises(InputError, match="workers=0"):
        build_report(split, models, ks=(10,), workers=0)


def test_every_method_faces_the_same_queries(report):
    """Query by query, the "cf" stand-in (top-frequency) scores exactly what the baseline does: the
    same queries, in the same order, for every method (and so the paired intervals are sound)."""
    per_query = report.attrs["per_query"]
    for metric in ("ndcg@10", "recall@10", "hit_rate@10"):
        np.testing.assert_array_equal(
            per_query[("cf", NEXT_BASKET)][metric], per_query[("personal_top_frequency", NEXT_BASKET)][metric]
        )
    sizes = {len(v["ndcg@10"]) for (_, task), v in per_query.items() if task == COMPLETION}
    assert sizes == {report.loc[report.task == COMPLETION, "n_queries"].iloc[0]}


def test_model_rows_carry_their_paired_difference_to_the_best_baseline(report):
    for task, metric in PRIMARY.items():
        at = report[(report.task == task) & (report.metric == metric) & (report.k == 10)]
        best = at.loc[at[at.kind == "baseline"]["value"].idxmax(), "method"]
        for r in at[at.kind == "model"].itertuples():
            assert r.vs_baseline == best
            assert r.diff == pytest.approx(r.value - value(report, best, task, metric, 10))
            assert r.diff_ci_low <= r.diff <= r.diff_ci_high
    assert report.loc[report.kind == "baseline", "diff"].isna().all()
    assert report.loc[report.metric == "coverage", "diff"].isna().all()


def test_model_rows_equal_the_same_recommender_as_baseline(report):
    """The "cf" stand-in is top-frequency: identical figures prove identical tasks and protocol."""
    nb = report[report.task == NEXT_BASKET].set_index(["method", "metric", "k"])["value"]
    for metric in ("recall", "ndcg", "hit_rate", "map"):
        for k in (5, 10, 20):
            assert nb["cf", metric, k] == pytest.approx(nb["personal_top_frequency", metric, k])


def test_planted_structure_is_found(report):
    nb = report[(report.task == NEXT_BASKET) & (report.k == 10)].set_index(["method", "metric"])["value"]
    assert nb["personal_top_frequency", "recall"] > 2 * nb["popularity", "recall"]
    ct = report[(report.task == COMPLETION) & (report.k == 10)].set_index(["method", "metric"])["value"]
    assert ct["ease", "hit_rate"] > ct["popularity", "hit_rate"]


def test_report_passes_its_contract(report):
    res = validate_contract("evaluation_report", report)
    assert res.passed, res.markdown()


def test_contract_catches_a_missing_method_an_out_of_range_metric_and_a_missing_task(report):
    assert validate_contract("evaluation_report", report).passed
    res = validate_contract("evaluation_report", report[report.method != "ease"])  # a baseline missing
    assert not res.passed
    assert any(f["expectation"] == "expect_column_distinct_values_to_contain_set" for f in res.failures)
    bad = report.copy()
    bad.loc[(bad.metric == "recall") & (bad.method == "cf"), "value"] = 1.5
    res = validate_contract("evaluation_report", bad)
    assert not res.passed and any(f["unexpected_count"] == 6 for f in res.failures)  # 2 tasks x 3 k
    res = validate_contract("evaluation_report", report[report.task == NEXT_BASKET])
    assert not res.passed
    novelty_only_big = report.copy()
    assert (novelty_only_big.loc[novelty_only_big.metric == "novelty", "value"] > 1).any()  # allowed


def test_contract_catches_an_undefined_headline_value(report):
    """build_report keeps a NaN headline metric (it only drops undefined subset metrics such as
    explore recall), so the not-null expectation can fire."""
    bad = report.copy()
    bad.loc[(bad.metric == "ndcg") & (bad.method == "cf") & (bad.k == 10), "value"] = float("nan")
    res = validate_contract("evaluation_report", bad)
    assert not res.passed
    assert any(f["expectation"] == "expect_column_values_to_not_be_null" for f in res.failures)


def test_an_interval_upside_down_breaks_the_contract(report):
    bad = report.copy()
    row = bad.index[bad.ci_low.notna()][0]
    bad.loc[row, ["ci_low", "ci_high"]] = 0.9, 0.1
    assert not validate_contract("evaluation_report", bad).passed


def test_summary_best_and_bar(report):
    table = summary_table(report)
    assert list(table.index[:2]) == ["cf", "dnn"]  # models first
    assert table.loc["cf", "next_basket/recall@10"] == pytest.approx(
        table.loc["personal_top_frequency", "next_basket/recall@10"]
    )
    best = best_per_task(report)
    assert set(best) == {"next_basket/ndcg@10", "completion/hit_rate@10"}
    standing = bar_standing(report, ["cf", "dnn"])
    crit = standing["cf"]["criteria"]["next_basket/recall@10"]
    assert crit["relative"] == pytest.approx(0.0)  # equal to the baseline: not +5 %
    assert crit["passes"] is False and standing["cf"]["passes"] is False
    assert "does not meet the bar" in bar_markdown(standing)


def test_bar_passes_at_five_percent():
    rows = [
        ("cf", "model", NEXT_BASKET, "recall", 10, 0.21),
        ("personal_top_frequency", "baseline", NEXT_BASKET, "recall", 10, 0.20),
        ("cf", "model", COMPLETION, "hit_rate", 10, 0.33),
        ("ease", "baseline", COMPLETION, "hit_rate", 10, 0.30),
    ]
    rep = pd.DataFrame(rows, columns=["method", "kind", "task", "metric", "k", "value"])
    s = bar_standing(rep, ["cf"])["cf"]
    assert s["criteria"]["next_basket/recall@10"]["passes"]  # +5.0 %
    assert s["criteria"]["completion/hit_rate@10"]["relative"] == pytest.approx(0.1)
    assert s["passes"]
    rep.loc[0, "value"] = 0.2099
    assert not bar_standing(rep, ["cf"])["cf"]["passes"]


def test_parse_metric_and_mlflow_names():
    assert parse_metric("next_basket/ndcg@10") == ("next_basket", "ndcg", 10)
    assert parse_metric("completion/hit_rate@5") == ("completion", "hit_rate", 5)
    for bad in ("ndcg@10", "next_basket/ndcg", "basket/ndcg@10", "next_basket/ndcg@x"):
        with pytest.raises(ValueError, match="metric"):
            parse_metric(bad)
    assert mlflow_metric_name("next_basket", "recall", 10, "cf") == "test/next_basket/recall_at_10/cf"


def test_baseline_recommender_by_name():
    assert baseline_recommender("ease", COMPLETION).l2 == 50.0
    assert baseline_recommender("ease", NEXT_BASKET).l2 == 200.0
    with pytest.raises(ValueError, match="does not do completion"):
        baseline_recommender("personal_top_frequency", COMPLETION)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_recommender("nope", NEXT_BASKET)


# ------------------------------------------------------------------ split record (the `split` asset)
def test_split_record_round_trips_and_guards_against_other_baskets(split):
    record = split_record(split)
    assert record["n_train"] + record["n_validation"] == record["n_train_full"]
    assert record["n_train_full"] + record["n_test"] == record["n_baskets"]
    back = split_from_record(split.baskets, record)
    for part in ("train_rows", "validation_rows", "train_full_rows", "test_rows"):
        np.testing.assert_array_equal(getattr(back, part), getattr(split, part))
    other = split.baskets.subset(np.arange(split.baskets.n_baskets - 1))
    with pytest.raises(ValueError, match="materialize `split` again"):
        split_from_record(other, record)


def test_resolve_cutoffs_keeps_dates_that_fit_and_moves_ones_that_do_not(split):
    assert resolve_cutoffs(split.baskets) == ("2011-06-01", "2011-09-01", "configured")
    early = split.baskets.subset(pd.to_datetime(split.baskets.baskets["basket_time"]) < "2011-03-01")
    val, test, why = resolve_cutoffs(early)
    assert why.startswith("auto") and "2011-06-01" in why
    s = temporal_split(early, val, test)
    assert len(s.train_rows) and len(s.validation_rows) and len(s.test_rows)
    assert resolve_cutoffs(early, auto=False)[2] == "configured"
    with pytest.raises(ValueError, match="period is empty"):
        temporal_split(early, *resolve_cutoffs(early, auto=False)[:2])


# ------------------------------------------------------------------ serving helpers
class Prefers(Recommender):
    """Scores one item 1 and every other 0 (a fixed ranking, so a test knows what is served)."""

    def __init__(self, item: int) -> None:
        self.item = item

    def fit(self, train):
        self.n_items = train.n_items
        return self

    def score_completion(self, partial_baskets):
        scores = np.zeros((len(partial_baskets), self.n_items), dtype=np.float32)
        scores[:, self.item] = 1.0
        return scores


def vocab():
    return pd.DataFrame(
        {
            "item_idx": range(4),
            "item_id": ["85123A", "22423", "47566", "84879"],
            "item_name": ["WHITE HANGING HEART", "REGENCY CAKESTAND", "PARTY BUNTING", "ASSORTED BIRD"],
        }
    )


def test_resolve_items_by_id_and_by_name():
    v = vocab()
    assert list(resolve_items(v, ["22423", " party bunting ", "85123a"])) == [0, 1, 2]
    with pytest.raises(InputError, match="did you mean 'REGENCY CAKESTAND'"):
        resolve_items(v, ["REGENCY CAKESTND"])
    with pytest.raises(InputError, match="unknown item"):
        resolve_items(v, ["99999"])
    with pytest.raises(InputError, match="no items"):
        resolve_items(v, [" "])


def test_serving_explains_with_rules_and_never_recommends_the_query_item(split):
    bs = split.train_full
    rules = pd.DataFrame(
        {
            "antecedent": [(0,), (0, 1)],
            "consequent": [(2,), (3,)],
            "support": [0.1, 0.05],
            "confidence": [0.8, 0.4],
            "lift": [3.0, 1.5],
        }
    )
    index = RuleIndex.from_rules(rules, bs.n_items)
    # item 3 first, then ties by index: both queries' top 5 hold the items the rules conclude
    out = recommend_for_baskets(
        Prefers(3).fit(bs), [np.array([0]), np.array([0, 1])], ["a", "b"], bs.vocabulary, 5, index
    )
    assert not ((out["query"] == "a") & (out["item_id"] == "i0")).any()
    assert not ((out["query"] == "b") & out["item_id"].isin(["i0", "i1"])).any()
    row = out[(out["query"] == "a") & (out["item_id"] == "i2")]
    assert row["explanation"].item() == "80% of baskets with item 0 also hold item 2 (lift 3.0)"
    row3 = out[(out["query"] == "b") & (out["item_id"] == "i3")]
    assert "item 0 + item 1" in row3["explanation"].item()
    assert (out[(out["query"] == "a") & (out["item_id"] == "i3")]["explanation"] == "").all()
    assert out.groupby("query")["rank"].max().le(5).all()

    top = PersonalTopFrequencyRecommender().fit(bs)
    from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts

    users, hist = user_item_counts(bs)
    res = recommend_for_users(top, list(users[:3]), hist[:3], bs.vocabulary, 3, index, "x")
    assert set(res["query"]) == set(users[:3]) and (res["source"] == "x").all()
    # a user's favourites come first (repeat purchases are recommended)
    first = res[res["rank"] == 1].set_index("query")["item_id"]
    for u, item in first.items():
        i = int(item[1:])
        row = list(users).index(u)
        assert hist[row, i] == hist[row].max()
