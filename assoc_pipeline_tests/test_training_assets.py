"""Training assets in the shared real-data run: read the real MLflow store back, reload models."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.recsys.models.checkpoint_files import load_model
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL


def latest(instance: dg.DagsterInstance, key: str) -> dict:
    return instance.get_latest_materialization_event(dg.AssetKey(key)).asset_materialization.metadata


@pytest.fixture(scope="module")
def client(demo_run) -> mlflow.MlflowClient:
    settings, _, _ = demo_run
    return mlflow.MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )


@pytest.mark.parametrize(("asset", "epochs"), [("cf_model", 3), ("dnn_model", 2)])
def test_training_run_is_fully_logged(demo_run, client, asset: str, epochs: int) -> None:
    _, instance, _ = demo_run
    meta = latest(instance, asset)
    run = client.get_run(meta["mlflow_run_id"].value)
    params = run.data.params
    assert params["epochs"] == str(epochs) and params["device"] == "cpu"
    assert {"lr", "dim", "seed", "data_version", "torch_version", "test_cutoff"} <= set(params)
    assert run.data.tags["dagster_run_id"] and run.data.tags["model_type"] == asset.removesuffix("_model")
    assert run.data.tags["git_sha"]
    history = client.get_metric_history(run.info.run_id, "fit/loss")
    assert [m.step for m in history] == list(range(1, epochs + 1))
    assert "best/val_ndcg_at_10" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.pt", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/training_curves.png"}
    version = client.get_model_version(RECOMMENDER_MODEL, meta["mlflow_model_version"].value)
    assert version.run_id == run.info.run_id and version.tags["model_type"] == asset.removesuffix("_model")
    assert meta["mlflow_run"].value.endswith(run.info.run_id)


@pytest.mark.parametrize("asset", ["cf_model", "dnn_model"])
def test_registered_version_reloads_and_reproduces_scores(
    demo_run, client, asset: str, tmp_path: Path
) -> None:
    settings, instance, _ = demo_run
    meta = latest(instance, asset)
    stored = load_model(Path(meta["path"].value))  # what the pipeline hands downstream
    version = client.get_model_version(RECOMMENDER_MODEL, meta["mlflow_model_version"].value)
    local = client.download_artifacts(version.run_id, "model.pt", str(tmp_path))
    reloaded = load_model(local)
    users = [str(u) for u in stored.user_index[:50]]
    assert np.array_equal(stored.score_next_basket(users), reloaded.score_next_basket(users))
    baskets = [np.array([0, 1]), np.array([2])]
    assert np.allclose(stored.score_completion(baskets), reloaded.score_completion(baskets))
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)  # other tests point it at their stores
    # the registered version is the pyfunc model (weights-only checkpoint inside, no pickle)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{RECOMMENDER_MODEL}/{version.version}")
    answer = pyfunc.predict(pd.DataFrame({"user_id": users[:1], "items": [[]], "k": [5]}))
    assert len(answer) == 5 and set(answer["query"]) == {users[0]}


def test_gan_and_synthetic_baskets_report_fidelity_privacy_utility(demo_run, client) -> None:
    _, instance, _ = demo_run
    gan = latest(instance, "gan_model")
    assert client.get_model_version("assoc-basket-gan", gan["mlflow_model_version"].value).run_id == (
        gan["mlflow_run_id"].value
    )
    syn = latest(instance, "synthetic_baskets")
    assert syn["dagster/row_count"].value > 100
    for key in (
        "fidelity/item_freq_pearson",
        "fidelity/pair_corr",
        "fidelity/pair_corr_ceiling",
        "privacy/exact_match_share",
        "privacy/dcr_ratio",
        "utility/delta_ndcg@10",
    ):
        assert key in syn, key
    assert 0.0 <= syn["privacy/exact_match_share"].value <= 1.0
    assert -1.0 <= syn["fidelity/item_freq_pearson"].value <= 1.0
    run = client.get_run(syn["mlflow_run_id"].value)
    assert "privacy/exact_match_share" in run.data.metrics


def test_the_report_reads_what_the_ranker_relies_on(demo_run) -> None:
    """Issue 13's ablation table in the report's metadata: every feature group and the item
    embedding of the ranker held at its mean on the test period, next basket and completion."""
    from assoc_pipeline.core.recsys.ranking_features import FEATURE_GROUPS

    _, instance, _ = demo_run
    md = latest(instance, "evaluation_report")["ranker_reading"].value
    next_basket, _, completion = md.partition("completion head")
    assert "ranker, next basket" in next_basket and "test users" in next_basket
    for group in [*dict.fromkeys(FEATURE_GROUPS.values()), "item embedding"]:
        assert f"| {group} |" in next_basket, group
    assert "`rule_features` off" in next_basket  # the shipped default, said where rules would be
    rows = [line for line in next_basket.splitlines() if line.startswith("| (none) |")]
    assert len(rows) == 1 and rows[0].endswith("+0.0000 |")
    table = [line for line in next_basket.splitlines() if line.startswith("| ") and "held at" not in line]
    changes = [float(line.rsplit("|", 2)[1]) for line in table]
    assert any(c != 0.0 for c in changes)  # holding something changes the ranking
    for group in ("basket", "habit", "item"):
        assert f"| {group} |" in completion, group
