"""The `champion` gate, `recommendations` and `assoc-pipeline recommend` against a real Dagster
instance, real Great Expectations checks and a real MLflow registry (SQLite in a tmp dir).

Tests run in file order on one module-scoped pipeline (conftest.py); each sets the alias state it
needs first. The last two break a contract on purpose, so they come last.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from assoc_pipeline.checks.contracts import CONTRACTS_ENV, contracts_dir
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.tables import read_table
from assoc_pipeline.resources.mlflow_tracking import CHAMPION_ALIAS, RECOMMENDER_MODEL

pytestmark = pytest.mark.slow
PRIMARY = ("next_basket", "ndcg", 10)


def alias(p) -> str | None:
    v = p.mlflow.alias_version(RECOMMENDER_MODEL, CHAMPION_ALIAS)
    return str(v.version) if v is not None else None


def clear_alias(p) -> None:
    if alias(p) is not None:
        p.mlflow.client().delete_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS)


def report(p) -> pd.DataFrame:
    return read_table(p.settings.data_dir / "assets" / "evaluation_report.parquet")


def primary(p, column: str = "value") -> pd.Series:
    r = report(p)
    task, metric, k = PRIMARY
    return r[(r.task == task) & (r.metric == metric) & (r.k == k)].set_index("method")[column]


def chosen_on_validation(p) -> str:
    """The model the gate must pick: the best VALIDATION value (not the best test value)."""
    return primary(p, "validation_value").dropna().sort_index().idxmax()


def version_tags(p, version: str) -> dict:
    return p.mlflow.client().get_model_version(RECOMMENDER_MODEL, version).tags


def test_split_asset_persists_a_record_the_models_rebuild(pipeline):
    from assoc_pipeline.core.data.baskets import load_basket_set
    from assoc_pipeline.core.recsys.split import split_from_record

    assets = pipeline.settings.data_dir / "assets"
    record = json.loads((assets / "split.json").read_text())
    assert record["cutoffs_source"].startswith("auto")  # two months cannot hold the 2011 protocol dates
    split = split_from_record(load_basket_set(assets / "baskets"), record)
    assert len(split.test_rows) == record["n_test"] > 0
    assert record["users_test"] > 0


def test_report_links_every_model_to_its_training_run(pipeline):
    r = report(pipeline)
    models = r[r.kind == "model"].drop_duplicates("method").set_index("method")
    assert {m: str(v) for m, v in models["model_version"].items()} == pipeline.report_versions
    client = pipeline.mlflow.client()
    exp = client.get_experiment_by_name(pipeline.mlflow.experiment)
    runs = client.search_runs([exp.experiment_id], "tags.task = 'evaluation'", order_by=["start_time DESC"])
    ev = runs[0]
    assert ev.data.tags["training_run/cf"] == models.loc["cf", "mlflow_run_id"]
    assert ev.data.tags["model_version/dnn"] == pipeline.report_versions["dnn"]
    assert ev.data.metrics["test/next_basket/ndcg_at_10/cf"] == pytest.approx(primary(pipeline)["cf"])
    assert ev.data.metrics["test/completion/hit_rate_at_10/ease"] > 0
    training = client.get_run(models.loc["dnn", "mlflow_run_id"])
    assert training.data.tags["evaluation_run_id"] == ev.info.run_id
    assert {"plots", "evaluation_report.parquet", "evaluation_report.md"} <= {
        a.path for a in client.list_artifacts(ev.info.run_id)
    }


def test_under_default_settings_a_toy_test_set_and_weak_models_are_refused(pipeline):
    clear_alias(pipeline)
    out = pipeline.champion()  # the defaults: 5 % margin, intervals, 200 / 500 queries at least
    assert out["promoted"] is False and alias(pipeline) is None
    assert out["margin"] == 0.05 and out["require_baselines"] is True
    assert out["candidate"] == chosen_on_validation(pipeline)
    users = {e["task"]: e["n_queries"] for e in out["evidence"]}
    assert users["next_basket"] < 200  # two months of data: too few test users for a verdict
    assert any("fewer than the 200 needed for a verdict" in r for r in out["reasons"])
    assert out["checks"]["baskets_contract"]["passed"] is True
    tags = version_tags(pipeline, out["candidate_version"])
    assert tags["promotion/decision"] == "refused" and "needed for a verdict" in tags["promotion/reasons"]
    run = pipeline.mlflow.client().get_run(out["candidate_run_id"])
    assert run.data.tags["promotion/decision"] == "refused"


def test_the_candidate_is_chosen_on_validation_and_confirmed_on_test(pipeline):
    clear_alias(pipeline)
    out = pipeline.champion(require_baselines=False)
    best = chosen_on_validation(pipeline)
    assert out["candidate"] == best
    assert out["candidate_validation_value"] == pytest.approx(primary(pipeline, "validation_value")[best])
    assert out["candidate_value"] == pytest.approx(primary(pipeline)[best])  # its test figure


def test_promotes_when_every_condition_holds_then_stays_put(pipeline):
    clear_alias(pipeline)
    best = chosen_on_validation(pipeline)
    out = pipeline.champion(require_baselines=False)
    assert out["promoted"] is True, out["reasons"]
    assert out["candidate"] == best
    assert alias(pipeline) == pipeline.report_versions[best] == out["champion_version"]
    assert version_tags(pipeline, alias(pipeline))["promotion/decision"] == "promoted"
    assert all(c["passed"] for c in out["checks"].values())
    again = pipeline.champion(require_baselines=False)
    assert again["promoted"] is False and "already the champion" in again["reasons"][0]
    assert alias(pipeline) == pipeline.report_versions[best]


def recommend_command(pipeline, **query) -> str:
    """What `assoc-pipeline recommend` prints for this pipeline's store and tables."""
    from assoc_pipeline.services.recommendations import recommend_command as command

    return command(
        lambda: pipeline.mlflow, pipeline.mlflow.tracking_uri, pipeline.settings.data_dir / "assets", **query
    )


def test_recommendations_and_cli_serve_the_champion(pipeline):
    version = alias(pipeline)
    assert version is not None
    res = pipeline.materialize(["recommendations"])
    meta = res.asset_materializations_for_node("recommendations")[0].metadata
    assert meta["from_champion"].value is True and f"version {version}" in meta["source_users"].value
    table = res.output_for_node("recommendations")
    assert set(table["scope"]) == {"user", "item", "item_content"}
    assert table.groupby(["scope", "query"])["rank"].max().le(10).all()
    items = table[table.scope == "item"]
    assert not (items["query"] == items["item_id"]).any()
    # by description, every product has neighbours, the ones first sold in the test period included
    similar = table[table.scope == "item_content"]
    assert (
        similar["query"].nunique() == meta["items"].value and (similar["query"] != similar["item_id"]).all()
    )
    assert set(similar["source"]) == {"content: description similarity"}
    assert (table["explanation"] != "").any()  # some recommendations are backed by mined rules

    user = table.loc[table.scope == "user", "query"].iloc[0]
    text = recommend_command(pipeline, user=user, k=5)
    assert f"user {user}" in text and f"(version {version})" in text
    assert "  5. " in text and "  6. " not in text
    first_item = items.iloc[0]
    text = recommend_command(pipeline, items=first_item["item_name"].lower())
    assert first_item["item_name"] in text.splitlines()[0]
    with pytest.raises(InputError, match="unknown user 'nobody'"):
        recommend_command(pipeline, user="nobody")
    with pytest.raises(InputError, match="unknown item"):
        recommend_command(pipeline, items="NO SUCH THING,85123A")


def test_a_ranker_champion_says_which_features_ranked_each_item(pipeline):
    """The asset's user and item rows and the CLI carry the ranker's top feature contributions
    (the item rows: its completion head's, over its own groups); rows by description carry none."""
    if not (pipeline.settings.data_dir / "assets" / "champion.parquet").exists():
        pipeline.champion()  # run alone: `recommendations` reads the last gate record
    pipeline.mlflow.set_alias(RECOMMENDER_MODEL, pipeline.report_versions["ranker"], CHAMPION_ALIAS)
    few_users = {"ops": {"recommendations": {"config": {"max_users": 50}}}}
    res = pipeline.materialize(["recommendations"], few_users)
    meta = res.asset_materializations_for_node("recommendations")[0].metadata
    assert "ranker" in meta["source_users"].value and meta["contributions_share_users"].value > 0.9
    table = res.output_for_node("recommendations")
    users, items = table[table.scope == "user"], table[table.scope == "item"]
    assert (table.loc[table.scope == "item_content", "contributions"] == "").all()
    first = json.loads(users.loc[users["contributions"] != "", "contributions"].iloc[0])
    assert len(first) == 3 and first[0]["why"] and {"group", "feature", "value"} <= set(first[0])
    text = recommend_command(pipeline, user=users["query"].iloc[0], k=3)
    assert text.count("       ranked by ") >= 2 and "integrated gradients" in text
    explain_top = meta["explain_top"].value
    assert (items.loc[items["rank"] > explain_top, "contributions"] == "").all()
    assert meta["contributions_share_items"].value > 0.9
    completion = [json.loads(c) for c in items.loc[items["rank"] <= explain_top, "contributions"] if c]
    assert {g["group"] for cell in completion for g in cell} <= {"basket", "habit", "item"}


def test_refuses_a_candidate_worse_than_the_current_champion(pipeline):
    candidate = chosen_on_validation(pipeline)
    incumbent = pipeline.twin_versions[candidate]  # same config and seed: the same scores
    pipeline.mlflow.set_alias(RECOMMENDER_MODEL, incumbent, CHAMPION_ALIAS)
    out = pipeline.champion(require_baselines=False)
    # the champion is not in this report: it is re-scored on the same test queries
    assert out["previous_champion_value_source"] == "re-evaluated on this test set"
    assert out["previous_champion_value"] == pytest.approx(out["candidate_value"])  # a tie is no win
    assert out["promoted"] is False
    assert len(out["reasons"]) == 1 and "does not beat the current champion" in out["reasons"][0]
    assert alias(pipeline) == incumbent


def test_an_incumbent_is_re_scored_on_the_reports_own_sample_of_completion_queries(pipeline):
    """The report scored a fixed-seed sample of the completion queries: a champion absent from the
    report is re-scored on that sample, not on every query, so its twin ties the candidate."""
    from .conftest import COMPLETION_SAMPLE

    r = report(pipeline)
    assert set(r.loc[r.task == "completion", "n_queries"]) == {COMPLETION_SAMPLE}
    metric = "completion/hit_rate@10"
    at = r[(r.task == "completion") & (r.metric == "hit_rate") & (r.k == 10) & (r.kind == "model")]
    candidate = at.set_index("method")["validation_value"].dropna().sort_index().idxmax()
    incumbent = pipeline.twin_versions[candidate]
    pipeline.mlflow.set_alias(RECOMMENDER_MODEL, incumbent, CHAMPION_ALIAS)
    out = pipeline.champion(metric=metric, require_baselines=False)
    assert out["candidate"] == candidate
    assert out["previous_champion_value_source"] == "re-evaluated on this test set"
    assert out["previous_champion_value"] == pytest.approx(out["candidate_value"])
    assert out["promoted"] is False and alias(pipeline) == incumbent
    clear_alias(pipeline)


def test_without_champion_recommendations_fall_back_and_the_cli_says_so(pipeline):
    clear_alias(pipeline)
    res = pipeline.materialize(["recommendations"])
    meta = res.asset_materializations_for_node("recommendations")[0].metadata
    assert meta["from_champion"].value is False
    assert meta["status"].value.startswith("NO CHAMPION PROMOTED YET")
    assert "no champion promoted yet" in meta["source_users"].value
    # the CLI serves what the asset serves: the same baseline, labelled, and the same items
    table = res.output_for_node("recommendations")
    user = table.loc[table.scope == "user", "query"].iloc[0]
    text = recommend_command(pipeline, user=user, k=3)
    assert meta["source_users"].value in text.splitlines()[0] and "no champion promoted yet" in text
    served = table[(table.scope == "user") & (table["query"] == user)].nsmallest(3, "rank")
    printed = [line.split()[1] for line in text.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert printed == served["item_id"].astype(str).tolist()


@pytest.fixture
def broken_contracts(tmp_path, monkeypatch):
    """A copy of data_contracts/ to break one suite in; the env var points the checks at it."""
    target = tmp_path / "contracts"
    shutil.copytree(contracts_dir(), target)
    monkeypatch.setenv(CONTRACTS_ENV, str(target))
    return target


def _break(path, expectation: dict) -> None:
    suite = json.loads(path.read_text())
    suite["expectations"].append(expectation)
    path.write_text(json.dumps(suite))


def test_a_failed_report_contract_blocks_and_refuses(pipeline, broken_contracts):
    clear_alias(pipeline)
    _break(
        broken_contracts / "evaluation_report.json",
        {
            "type": "expect_column_distinct_values_to_contain_set",
            "kwargs": {"column": "method", "value_set": ["gbdt"]},
        },
    )
    res = pipeline.materialize(["evaluation_report", "champion"], raise_on_error=False)
    [check] = [e for e in res.get_asset_check_evaluations() if e.check_name == "evaluation_report_contract"]
    assert check.passed is False
    assert not res.asset_materializations_for_node("champion")  # blocking: the gate never ran
    out = pipeline.champion(require_baselines=False)  # a later run: the gate reads the failed check
    assert out["promoted"] is False and alias(pipeline) is None
    assert out["checks"]["evaluation_report_contract"]["passed"] is False
    assert any("evaluation report's contract evaluation_report_contract failed" in r for r in out["reasons"])


def test_a_model_trained_on_data_that_failed_its_contract_stays_refused(pipeline, broken_contracts):
    """Train on baskets whose contract failed (a later run reads them: blocking only stops the run
    it fails in), then fix the contract and re-materialize the baskets: the gate still checks the
    data the candidate was trained on, and refuses."""
    from assoc_pipeline_tests.promotion.conftest import weak_models

    clear_alias(pipeline)
    suite = broken_contracts / "baskets.json"
    original = suite.read_text()
    _break(suite, {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}})
    res = pipeline.materialize(["baskets"], raise_on_error=False)
    [check] = [e for e in res.get_asset_check_evaluations() if e.check_name == "baskets_contract"]
    assert check.passed is False
    trained_on_failed = weak_models(pipeline)  # a later run trains on the failed baskets
    pipeline.materialize(
        ["finetuned_model", "evaluation_report"],
        {"ops": {"finetuned_model": {"config": {"start_from": "none"}}}},
    )
    out = pipeline.champion(require_baselines=False)
    assert out["candidate_version"] == trained_on_failed[out["candidate"]]
    assert out["promoted"] is False and alias(pipeline) is None
    assert out["checks"]["baskets_contract"]["passed"] is False
    assert any(
        r.startswith("data contract baskets_contract failed: failed on baskets run") for r in out["reasons"]
    )
    assert out["checks"]["raw_events_contract"]["passed"] is True

    suite.write_text(original)  # the contract is fixed and the baskets pass it again ...
    res = pipeline.materialize(["baskets"])
    assert all(e.passed for e in res.get_asset_check_evaluations())
    again = pipeline.champion(require_baselines=False)  # ... but the candidate saw the failed data
    assert again["promoted"] is False and again["checks"]["baskets_contract"]["passed"] is False
