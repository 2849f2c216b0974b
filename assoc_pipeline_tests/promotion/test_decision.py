"""The promotion gate's pure decision: every path, each reason named."""

from __future__ import annotations

import math

import pytest

from assoc_pipeline.core.recsys.promotion import CheckStatus, TaskEvidence, decide, pick_candidate

OK_CHECKS = [
    CheckStatus("raw_events_contract", True, "13 materialization(s) of the data used"),
    CheckStatus("clean_events_contract", True, "13 materialization(s) of the data used"),
    CheckStatus("baskets_contract", True),
]
REPORT_OK = CheckStatus("evaluation_report_contract", True)


def evidence(task="next_basket", value=0.32, base=0.29, low=0.01, high=0.05, n=1944, minimum=200):
    metric = "ndcg" if task == "next_basket" else "hit_rate"
    return TaskEvidence(task, metric, value, n, minimum, "personal_top_frequency", base, low, high)


WINS = [evidence(), evidence("completion", 0.36, 0.32, 0.02, 0.06, 6226, 500)]


def gate(**overrides):
    args = {
        "metric": "next_basket/ndcg@10",
        "candidate": "ranker",
        "candidate_value": 0.32,
        "candidate_version": "7",
        "upstream_checks": OK_CHECKS,
        "report_check": REPORT_OK,
        "evidence": WINS,
        "champion": None,
        "champion_value": None,
    }
    args.update(overrides)
    return decide(**args)


def test_everything_holds_promotes_with_notes():
    d = gate()
    assert d.promoted and d.verdict == "promoted" and d.reasons == []
    assert any("no champion yet" in n for n in d.notes)
    assert sum("beats the best baseline" in n for n in d.notes) == 2  # both tasks
    assert d.as_dict()["verdict"] == "promoted"


def test_the_default_margin_is_the_reports_five_percent_bar():
    # 0.30 vs 0.29 is 3.4 % better, the interval excludes zero: not enough under the default
    d = gate(evidence=[evidence(value=0.30, base=0.29), WINS[1]])
    assert not d.promoted
    assert d.reasons == [
        "not 5% better than the best baseline: ranker next_basket ndcg@10 = 0.3000 vs best baseline "
        "personal_top_frequency 0.2900"
    ]
    assert gate(evidence=[evidence(value=0.30, base=0.29), WINS[1]], margin=0.03).promoted


def test_each_task_must_hold_not_only_the_primary_one():
    d = gate(evidence=[WINS[0], evidence("completion", 0.31, 0.32, -0.02, 0.0, 6226, 500)])
    assert not d.promoted and len(d.reasons) == 2
    assert "completion hit_rate@10" in d.reasons[0] and "includes zero" in d.reasons[1]


def test_an_interval_that_includes_zero_refuses():
    d = gate(evidence=[evidence(value=0.32, base=0.29, low=-0.001, high=0.06), WINS[1]])
    assert not d.promoted
    assert d.reasons == [
        "the 95 % interval of the difference to personal_top_frequency on next_basket ndcg@10, "
        "[-0.0010, +0.0600], includes zero"
    ]


def test_an_interval_below_zero_says_the_candidate_is_worse():
    d = gate(evidence=[evidence(value=0.27, base=0.29, low=-0.0403, high=-0.0063), WINS[1]])
    assert not d.promoted
    assert d.reasons[-1] == (
        "the 95 % interval of the difference to personal_top_frequency on next_basket ndcg@10, "
        "[-0.0403, -0.0063], lies below zero (the candidate is worse)"
    )


def test_a_missing_interval_refuses():
    d = gate(evidence=[evidence(low=None, high=None), WINS[1]])
    assert not d.promoted and d.reasons == ["no interval for the difference on next_basket ndcg@10"]


def test_a_toy_test_set_refuses_and_says_which():
    d = gate(evidence=[evidence(n=12), evidence("completion", 0.36, 0.32, 0.02, 0.06, 300, 500)])
    assert not d.promoted
    assert d.reasons == [
        "the next_basket test set has 12 queries, fewer than the 200 needed for a verdict",
        "the completion test set has 300 queries, fewer than the 500 needed for a verdict",
    ]


def test_no_evidence_at_all_refuses():
    d = gate(evidence=[])
    assert not d.promoted and "holds no test figures" in d.reasons[0]


def test_require_baselines_false_turns_the_task_conditions_into_notes():
    d = gate(evidence=[evidence(value=0.2, base=0.29, low=-0.1, high=-0.05, n=12)], require_baselines=False)
    assert d.promoted
    assert any("tests only" in n for n in d.notes)
    assert any("fewer than the 200" in n for n in d.notes)


@pytest.mark.parametrize(
    "passed, word", [(False, "failed"), (None, "has no result for the data the model was trained on")]
)
def test_an_upstream_contract_not_passed_refuses(passed, word):
    checks = [*OK_CHECKS[:2], CheckStatus("baskets_contract", passed, "baskets run 1a2b3c4d")]
    d = gate(upstream_checks=checks)
    assert not d.promoted
    assert d.reasons == [f"data contract baskets_contract {word}: baskets run 1a2b3c4d"]


def test_no_upstream_results_at_all_refuses():
    d = gate(upstream_checks=[])
    assert not d.promoted and "unverified" in d.reasons[0]


@pytest.mark.parametrize("passed, word", [(False, "failed"), (None, "has no result")])
def test_report_contract_not_passed_refuses(passed, word):
    d = gate(report_check=CheckStatus("evaluation_report_contract", passed))
    assert not d.promoted
    assert d.reasons == [f"the evaluation report's contract evaluation_report_contract {word}"]


def test_worse_than_champion_refuses():
    d = gate(champion="version 3 (cf)", champion_value=0.33)
    assert not d.promoted
    assert (
        len(d.reasons) == 1 and "does not beat the current champion version 3 (cf) (0.3300)" in d.reasons[0]
    )


def test_tie_with_champion_is_not_a_win():
    assert not gate(champion="version 3", champion_value=0.32).promoted


def test_champion_margin_is_relative():
    assert gate(champion="v3", champion_value=0.30, champion_margin=0.05).promoted  # 6.7 % better
    d = gate(champion="v3", champion_value=0.31, champion_margin=0.05)  # 3.2 % better
    assert not d.promoted and "by 5%" in d.reasons[0]


def test_champion_without_comparable_value_refuses():
    d = gate(champion="version 3", champion_value=None)
    assert not d.promoted and "no comparable" in d.reasons[0]
    assert not gate(champion="version 3", champion_value=math.nan).promoted


def test_candidate_already_champion_moves_nothing():
    d = gate(champion="version 7", champion_value=0.32, candidate_is_champion=True)
    assert not d.promoted and d.reasons == ["ranker is already the champion: nothing to move"]


def test_candidate_without_registered_version_refuses():
    d = gate(candidate_version=None)
    assert not d.promoted and "no registered model version" in d.reasons[0]


@pytest.mark.parametrize("value", [None, math.nan])
def test_no_candidate_refuses(value):
    d = gate(candidate_value=value)
    assert not d.promoted and "no trained model has a validation value" in d.reasons[-1]


def test_every_failed_condition_is_listed():
    d = gate(
        upstream_checks=[CheckStatus("raw_events_contract", False, "failed on 2011-03-01")],
        report_check=CheckStatus("evaluation_report_contract", False),
        champion="version 2",
        champion_value=0.5,
        evidence=[evidence(value=0.2, base=0.29, low=-0.1, high=-0.05), WINS[1]],
    )
    assert not d.promoted and len(d.reasons) == 5
    assert "2011-03-01" in d.reasons[0]


@pytest.mark.parametrize("name", ["margin", "champion_margin"])
def test_negative_margins_are_rejected(name):
    with pytest.raises(ValueError, match=name):
        gate(**{name: -0.1})


def test_pick_candidate_skips_missing_values_and_breaks_ties_by_name():
    assert pick_candidate({"cf": 0.2, "dnn": 0.3}) == ("dnn", 0.3)
    assert pick_candidate({"dnn": 0.3, "cf": 0.3}) == ("cf", 0.3)
    assert pick_candidate({"cf": math.nan, "dnn": 0.1}) == ("dnn", 0.1)
    assert pick_candidate({"cf": math.nan}) is None
    assert pick_candidate({}) is None


def test_per_task_promotes_for_the_tasks_that_hold_and_says_which_stay_with_a_baseline():
    weak_next_basket = [evidence(value=0.30, base=0.29, low=-0.001, high=0.02), WINS[1]]
    d = gate(evidence=weak_next_basket, per_task=True)
    assert d.promoted and d.tasks == ["completion"]
    stays = [n for n in d.notes if n.startswith("next_basket stays with the best baseline")]
    assert len(stays) == 1 and "not 5% better" in stays[0] and "includes zero" in stays[0]
    # the same figures without per_task: every task must hold
    whole = gate(evidence=weak_next_basket)
    assert not whole.promoted and whole.tasks == [] and len(whole.reasons) == 2


def test_per_task_refuses_when_no_task_holds():
    d = gate(evidence=[evidence(value=0.30, base=0.29), evidence("completion", 0.33, 0.32)], per_task=True)
    assert not d.promoted and d.tasks == []
    assert sum("not 5% better" in r for r in d.reasons) == 2


def test_both_tasks_holding_serve_both():
    assert gate(per_task=True).tasks == ["next_basket", "completion"]
    assert gate().tasks == ["next_basket", "completion"]


def test_per_task_never_hands_a_champions_task_back_to_a_baseline():
    weak_next_basket = [evidence(value=0.30, base=0.29), WINS[1]]
    args = {"evidence": weak_next_basket, "per_task": True, "champion": "version 3 (ranker)"}
    d = gate(**args, champion_value=0.30, champion_tasks=["next_basket", "completion"])
    assert not d.promoted
    assert d.reasons == [
        "the current champion version 3 (ranker) serves next_basket, where ranker does not hold: "
        "promoting it would hand that task back to a baseline"
    ]
    assert gate(**args, champion_value=0.30, champion_tasks=["completion"]).promoted


def test_the_champion_comparison_names_the_metric_it_was_made_on():
    d = gate(champion="version 3", champion_value=0.40, champion_metric="completion/hit_rate@10")
    assert "ranker completion/hit_rate@10 = 0.3200 does not beat" in d.reasons[0]


def test_held_tasks_follow_the_margin():
    from assoc_pipeline.core.recsys.promotion import held_tasks

    weak = [evidence(value=0.30, base=0.29), WINS[1]]
    assert held_tasks(weak, 0.05) == ["completion"]
    assert held_tasks(weak, 0.03) == ["next_basket", "completion"]


def test_without_per_task_a_candidate_with_fewer_tasks_still_cannot_take_the_champions_task():
    d = gate(evidence=[WINS[1]], champion="version 3 (ranker)", champion_value=0.30,
             champion_tasks=["next_basket", "completion"])  # fmt: skip
    assert not d.promoted and "would hand that task back to a baseline" in d.reasons[0]
