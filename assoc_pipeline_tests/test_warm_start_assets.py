"""Warm start in the living pipeline: new data arrives, the previous model is fine-tuned on it and
compared with a from-scratch retrain in the evaluation report (real Dagster, real MLflow store).

Round 1 trains on December 2010 only: nothing earlier to start from, so `finetuned_model` says so.
Round 2 adds January 2011 (new products among them): the model registered in round 1 is
fine-tuned, logged as ``init=warm_start``, and sits beside ``cf`` / ``dnn`` in the report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import pytest

from assoc_pipeline.assets.evaluation import model_lineage
from assoc_pipeline.core.tables import read_table
from assoc_pipeline.resources.mlflow_tracking import CHAMPION_ALIAS, RECOMMENDER_MODEL
from assoc_pipeline.services.fine_tuning import leak_reason, pick_base
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS
from assoc_pipeline_tests.promotion.conftest import SMALL_MINING, Pipeline

pytestmark = pytest.mark.slow
WEAK = {"config": {"epochs": 1, "patience": 0}}
TRAIN = {
    **{f"{m}_model": WEAK for m in ("cf", "dnn", "sequence", "ranker")},
    "finetuned_model": {"config": {"epochs": 1}},
}
ROUND = ["baskets", "split", "cf_model", "dnn_model", "finetuned_model"]
# the rest of what the report reads (new products' text, the other models)
REPORT_INPUTS = [
    "item_embeddings",
    "baseline_tuning",
    "hybrid_model",
    "sequence_model",
    "ranker_model",
]


def meta(result, node: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path, text_cache: Path):
    import dagster as dg

    from assoc_pipeline.settings import get_settings
    from assoc_pipeline_tests.conftest import sample_resources

    data_dir = tmp_path_factory.mktemp("warm")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    p = Pipeline(settings, dg.DagsterInstance.ephemeral(), sample_resources(settings, text_cache), {}, {})
    p.materialize(["raw_events", "clean_events"], partition_key=DEMO_PARTITIONS[0])
    first = p.materialize(ROUND, {"ops": {k: v for k, v in TRAIN.items() if k in ROUND}})
    p.materialize(["raw_events", "clean_events"], partition_key=DEMO_PARTITIONS[1])
    second = p.materialize(
        [*ROUND, *REPORT_INPUTS, "frequent_itemsets", "association_rules", "evaluation_report"],
        {"ops": {**TRAIN, **SMALL_MINING["ops"]}},
    )
    return p, first, second


@pytest.fixture(scope="module")
def client(rounds) -> mlflow.MlflowClient:
    p, _, _ = rounds
    return p.mlflow.client()


def test_first_training_has_nothing_to_start_from(rounds) -> None:
    _, first, _ = rounds
    m = meta(first, "finetuned_model")
    assert m["status"] == "skipped" and "first training" in m["reason"]
    assert first.output_for_node("finetuned_model") == {"status": "skipped", "reason": m["reason"]}


def test_new_data_fine_tunes_the_previous_model_by_item_id(rounds, client) -> None:
    _, first, second = rounds
    m = meta(second, "finetuned_model")
    round1 = {
        meta(first, n)["mlflow_model_version"]: meta(first, n)["model_type"]
        for n in ("cf_model", "dnn_model")
    }
    newest = max(round1, key=int)
    assert m["init"] == "warm_start" and m["warm_start_from_version"] == newest
    assert m["model_type"] == round1[newest] and m["warm_start_from"].startswith("latest registered")
    assert m["warm_start/new_items"] > 0 and m["warm_start/shared_items"] > 0  # January's new products
    assert m["base_saw_validation"] in ("True", "False")
    p, _, _ = rounds
    assert model_lineage(p.instance, "finetuned_model")["base_saw_validation"] == m["base_saw_validation"]
    run = client.get_run(m["mlflow_run_id"])
    assert run.data.tags["init"] == "warm_start" and run.info.run_name == f"{m['model_type']}_finetuned"
    assert run.data.params["warm_start_from_version"] == newest
    assert run.data.params["warm_start/new_items"] == str(m["warm_start/new_items"])
    version = client.get_model_version(RECOMMENDER_MODEL, m["mlflow_model_version"])
    assert version.run_id == run.info.run_id and version.tags["model_type"] == m["model_type"]
    for node in ("cf_model", "dnn_model"):  # the from-scratch runs say so too, for the MLflow UI
        assert client.get_run(meta(second, node)["mlflow_run_id"]).data.tags["init"] == "scratch"


def test_report_compares_fine_tuned_with_from_scratch(rounds, client, tmp_path: Path) -> None:
    p, _, second = rounds
    m = meta(second, "finetuned_model")
    name = f"{m['model_type']}_finetuned"
    report = read_table(p.settings.data_dir / "assets" / "evaluation_report.parquet")
    rows = report[report["method"] == name]
    assert (
        set(rows["task"]) == {"next_basket", "completion", "cold_start"} and (rows["kind"] == "model").all()
    )
    assert set(rows["model_version"]) == {m["mlflow_model_version"]}
    scratch = report[report["method"] == m["model_type"]]
    assert len(rows) == len(scratch)  # the same metrics on the same queries
    rep = meta(second, "evaluation_report")
    table = rep["warm_vs_scratch"]
    header = table.split("\n")[0]
    assert f" {m['model_type']} " in header and f" {name} " in header and "delta" in header
    assert "next_basket/ndcg@10" in table and "warm start from version" in table
    nb = rows[(rows.task == "next_basket") & (rows.metric == "ndcg") & (rows.k == 10)]["value"].iloc[0]
    assert f"{nb:.4f}" in table  # the table shows the report's own figure
    # a fine-tune whose base trained on the validation months has no figure to be chosen on
    assert rows["validation_value"].isna().all() == (m["base_saw_validation"] == "True")
    local = client.download_artifacts(rep["mlflow_run_id"], "evaluation_report.md", str(tmp_path))
    assert "## Warm start vs from scratch" in Path(local).read_text()


def test_the_champion_is_preferred_and_a_leaky_base_is_refused(rounds) -> None:
    p, first, second = rounds
    assert pick_base(p.mlflow, "champion", "no-such-run") == (None, "no fine-tunable champion promoted yet")
    assert pick_base(p.mlflow, "none", "x")[0] is None
    cf_version = meta(first, "cf_model")["mlflow_model_version"]
    p.mlflow.set_alias(RECOMMENDER_MODEL, cf_version, CHAMPION_ALIAS)
    try:
        version, how = pick_base(p.mlflow, "champion_else_latest", "no-such-run")
        assert (str(version.version), how) == (cf_version, "champion")
        ranker_version = meta(second, "ranker_model")["mlflow_model_version"]
        p.mlflow.set_alias(RECOMMENDER_MODEL, ranker_version, CHAMPION_ALIAS)  # fine-tunable too
        version, how = pick_base(p.mlflow, "champion_else_latest", "no-such-run")
        assert (str(version.version), how) == (ranker_version, "champion")
        gru_version = meta(second, "sequence_model")["mlflow_model_version"]
        p.mlflow.set_alias(RECOMMENDER_MODEL, gru_version, CHAMPION_ALIAS)  # not fine-tunable
        version, how = pick_base(p.mlflow, "champion_else_latest", "no-such-run")
        assert str(version.version) != gru_version
        assert how == (
            f"latest registered (the champion, version {gru_version}, is a sequence: not fine-tunable)"
        )
    finally:
        p.mlflow.client().delete_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS)
    # with no champion the fallback is the newest CF / DNN version, never the (newer) ranker: its
    # fine-tune rebuilds its training lists, so it is fine-tuned as the champion only
    version, how = pick_base(p.mlflow, "champion_else_latest", "no-such-run")
    assert how == "latest registered (no champion yet)"
    assert version.tags["model_type"] in ("cf", "dnn") and str(version.version) != ranker_version
    with pytest.raises(ValueError, match="start_from='best'"):
        pick_base(p.mlflow, "best", "x")
    assert leak_reason("2011-01-10", "2011-01-20") is None
    assert "leak the test period" in leak_reason("2011-01-25", "2011-01-20")
    assert "no test_cutoff" in leak_reason(None, "2011-01-20")


def test_a_base_that_saw_the_validation_months_leaves_no_selection_figure() -> None:
    from assoc_pipeline.services.evaluation import selection_figures

    lineage = {"next_basket/ndcg@10": "0.35", "completion/hit_rate@10": "0.34"}
    assert selection_figures(lineage) == ({"next_basket": 0.35, "completion": 0.34}, [])
    leaky = {**lineage, "base_saw_validation": "True", "warm_start_from_version": "7"}
    assert selection_figures(leaky) == (
        {},
        ["not a candidate: its base (version 7) trained on the validation months"],
    )
    assert selection_figures({**leaky, "base_saw_validation": "False"})[0] == {
        "next_basket": 0.35,
        "completion": 0.34,
    }
