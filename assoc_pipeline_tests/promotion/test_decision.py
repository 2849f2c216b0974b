"""The promotion gate's pure decision: every path, each reason named."""

from __future__ import annotations

import math

import pytest

from assoc_pipeline.core.recsys.promotion import CheckStatus, decide, pick_candidate

OK_CHECKS = [
    CheckStatus("raw_events_contract", True, "13 partition(s)"),
    CheckStatus("clean_events_contract", True, "13 partition(s)"),
    CheckStatus("baskets_contract", True),
]
REPORT_OK = CheckStatus("evaluation_report_contract", True)


def gate(**overrides):
    args = {
        "metric": "next_basket/ndcg@10",
        "candidate": "dnn",
        "candidate_value": 0.30,
        "candidate_version": "7",
        "upstream_checks": OK_CHECKS,
        "report_check": REPORT_OK,
        "champion": None,
        "champion_value": None,
        "best_baseline": ("personal_top_frequency", 0.29),
        "margin": 0.0,
        "require_baselines": True,
    }
    args.update(overrides)
    return decide(**args)


def test_everything_holds_promotes_with_notes():
    d = gate()
    assert d.promoted and d.verdict == "promoted" and d.reasons == []
    assert any("no champion yet" in n for n in d.notes)
    assert any("beats the best baseline" in n for n in d.notes)
    assert d.as_dict()["verdict"] == "promoted"


@pytest.mark.parametrize("passed, word", [(False, "failed"), (None, "has no result for the data in use")])
def test_an_upstream_contract_not_passed_refuses(passed, word):
    checks = [*OK_CHECKS[:2], CheckStatus("baskets_contract", passed, "latest materialization")]
    d = gate(upstream_checks=checks)
    assert not d.promoted
    assert d.reasons == [f"data contract baskets_contract {word}: latest materialization"]


def test_no_upstream_results_at_all_refuses():
    d = gate(upstream_checks=[])
    assert not d.promoted and "unverified" in d.reasons[0]


@pytest.mark.parametrize("passed, word", [(False, "failed"), (None, "has no result")])
def test_report_contract_not_passed_refuses(passed, word):
    d = gate(report_check=CheckStatus("evaluation_report_contract", passed))
    assert not d.promoted
    assert d.reasons == [f"the evaluation report's contract evaluation_report_contract {word}"]


def test_worse_than_champion_refuses():
    d = gate(champion="version 3 (cf)", champion_value=0.31)
    assert not d.promoted
    assert (
        len(d.reasons) == 1 and "does not beat the current champion version 3 (cf) (0.3100)" in d.reasons[0]
    )


def test_tie_with_champion_is_not_a_win():
    assert not gate(champion="version 3", champion_value=0.30).promoted


def test_margin_applies_to_the_champion():
    assert gate(champion="v3", champion_value=0.28, margin=0.01).promoted
    d = gate(champion="v3", champion_value=0.295, margin=0.01)
    assert not d.promoted and "by the margin 0.01" in d.reasons[0]


def test_champion_without_comparable_value_refuses():
    d = gate(champion="version 3", champion_value=None)
    assert not d.promoted and "no comparable" in d.reasons[0]
    assert not gate(champion="version 3", champion_value=math.nan).promoted


def test_worse_than_best_baseline_refuses_when_required():
    d = gate(best_baseline=("personal_top_frequency", 0.31))
    assert not d.promoted
    assert d.reasons == [
        "worse than the best baseline: dnn next_basket/ndcg@10 = 0.3000 vs best baseline "
        "personal_top_frequency 0.3100 (margin 0)"
    ]


def test_baselines_only_reported_when_not_required():
    d = gate(best_baseline=("personal_top_frequency", 0.31), require_baselines=False)
    assert d.promoted
    assert any("not required by config" in n for n in d.notes)


def test_margin_applies_to_the_baseline():
    d = gate(best_baseline=("ease", 0.295), margin=0.01)
    assert not d.promoted and "worse than the best baseline" in d.reasons[0]


def test_missing_baseline_refuses_only_when_required():
    assert not gate(best_baseline=None).promoted
    assert gate(best_baseline=None, require_baselines=False).promoted


def test_candidate_already_champion_moves_nothing():
    d = gate(champion="version 7", champion_value=0.30, candidate_is_champion=True)
    assert not d.promoted and d.reasons == ["dnn is already the champion: nothing to move"]


def test_candidate_without_registered_version_refuses():
    d = gate(candidate_version=None)
    assert not d.promoted and "no registered model version" in d.reasons[0]


@pytest.mark.parametrize("value", [None, math.nan])
def test_no_candidate_value_refuses(value):
    d = gate(candidate_value=value)
    assert not d.promoted and "no trained model has a value" in d.reasons[-1]


def test_every_failed_condition_is_listed():
    d = gate(
        upstream_checks=[CheckStatus("raw_events_contract", False, "failed on 2011-03-01")],
        report_check=CheckStatus("evaluation_report_contract", False),
        champion="version 2",
        champion_value=0.5,
        best_baseline=("tifu_knn", 0.4),
    )
    assert not d.promoted and len(d.reasons) == 4
    assert "2011-03-01" in d.reasons[0]


def test_negative_margin_is_rejected():
    with pytest.raises(ValueError, match="margin"):
        gate(margin=-0.1)


def test_pick_candidate_skips_missing_values_and_breaks_ties_by_name():
    assert pick_candidate({"cf": 0.2, "dnn": 0.3}) == ("dnn", 0.3)
    assert pick_candidate({"dnn": 0.3, "cf": 0.3}) == ("cf", 0.3)
    assert pick_candidate({"cf": math.nan, "dnn": 0.1}) == ("dnn", 0.1)
    assert pick_candidate({"cf": math.nan}) is None
    assert pick_candidate({}) is None
