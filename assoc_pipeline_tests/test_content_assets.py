"""Product-text assets in the shared real-data run: embeddings (and their cache through Dagster),
the tuned hybrid, category rules and the report's cold-start slice."""

from __future__ import annotations

import dataclasses
import shutil

import dagster as dg
import mlflow
import numpy as np
import pytest

from assoc_pipeline.core.content.embeddings import DIM
from assoc_pipeline.core.content.hybrid import WEIGHT_GRID
from assoc_pipeline.core.data.baskets import load_basket_set
from assoc_pipeline.core.tables import read_table

COLLABORATIVE = ("popularity", "item_knn", "ease", "rules", "cf", "dnn")


def latest(instance: dg.DagsterInstance, key: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.fixture(scope="module")
def assets_dir(demo_run):
    settings, _, _ = demo_run
    return settings.data_dir / "assets"


@pytest.fixture(scope="module")
def client(demo_run) -> mlflow.MlflowClient:
    settings, _, _ = demo_run
    uri = settings.mlflow_tracking_uri
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_item_embeddings_cover_the_vocabulary_with_unit_vectors(demo_run, assets_dir) -> None:
    _, instance, _ = demo_run
    meta = latest(instance, "item_embeddings")
    baskets = load_basket_set(assets_dir / "baskets")
    table = read_table(assets_dir / "item_embeddings.parquet")
    assert len(table) == baskets.n_items == meta["dagster/row_count"]
    assert table["item_id"].tolist() == baskets.vocabulary["item_id"].astype(str).tolist()
    vectors = np.stack(table["embedding"].to_numpy())
    assert vectors.shape == (baskets.n_items, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert meta["computed"] + meta["cached"] == baskets.n_items  # the cache is shared by the session
    assert meta["model_loaded"] == (meta["computed"] > 0)
    assert "embedding_map_png" in meta and table["cluster"].nunique() == 20


def test_rematerializing_with_unchanged_descriptions_hits_the_cache(
    demo_run, assets_dir, text_cache, tmp_path
) -> None:
    """A fresh instance and data dir holding only the baskets and the embedding cache."""
    from assoc_pipeline.definitions import all_assets
    from assoc_pipeline.resources import build_resources

    settings, _, _ = demo_run
    copy = dataclasses.replace(settings, data_dir=tmp_path)
    shutil.copytree(assets_dir / "baskets", tmp_path / "assets" / "baskets")
    (tmp_path / "cache").mkdir()
    shutil.copy(text_cache, tmp_path / "cache" / "text_embeddings.parquet")  # where build_resources looks
    result = dg.materialize(
        all_assets,
        resources=build_resources(copy),
        instance=dg.DagsterInstance.ephemeral(),
        selection=["item_embeddings"],
    )
    meta = {
        k: v.value for k, v in result.asset_materializations_for_node("item_embeddings")[0].metadata.items()
    }
    assert (meta["computed"], meta["model_loaded"]) == (0, False)
    assert meta["cached"] == meta["dagster/row_count"]
    again = read_table(tmp_path / "assets" / "item_embeddings.parquet")
    first = read_table(assets_dir / "item_embeddings.parquet")
    assert np.array_equal(np.stack(again["embedding"].to_numpy()), np.stack(first["embedding"].to_numpy()))


def test_hybrid_weights_are_tuned_on_validation_and_logged(demo_run, client) -> None:
    _, instance, _ = demo_run
    meta = latest(instance, "hybrid_model")
    run = client.get_run(meta["mlflow_run_id"])
    for task in ("next_basket", "completion"):
        assert meta[f"weight/{task}"] in WEIGHT_GRID
        assert float(run.data.params[f"weight/{task}"]) == meta[f"weight/{task}"]
    history = client.get_metric_history(run.info.run_id, "validation/completion/hit_rate_at_10")
    assert len(history) == len(WEIGHT_GRID)
    best = max(h.value for h in history)
    assert meta["validation/completion/hit_rate@10"] == pytest.approx(best)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {"plots/weight_curve.png"}


def test_the_retired_text_dnn_is_out_of_the_graph_and_the_report(demo_run, client) -> None:
    """dnn_text was retired (dominated by dnn); its text path stays tested in
    models/test_dnn_text_features.py."""
    from assoc_pipeline.definitions import defs

    _, instance, _ = demo_run
    run = client.get_run(latest(instance, "dnn_model")["mlflow_run_id"])
    assert run.data.params["text_features"] == "False"
    assert dg.AssetKey("dnn_text_model") not in defs.resolve_asset_graph().get_all_asset_keys()
    report = latest(instance, "evaluation_report")
    assert "dnn_text" not in report["methods"] and "dnn" in report["methods"]


def test_report_has_a_cold_start_slice_where_only_text_can_score(demo_run, assets_dir) -> None:
    _, instance, _ = demo_run
    report = read_table(assets_dir / "evaluation_report.parquet")
    cold = report[(report.task == "cold_start") & (report.metric == "hit_rate") & (report.k == 10)]
    hits = cold.set_index("method")["value"]
    assert {"content", "hybrid", *COLLABORATIVE} <= set(hits.index)
    assert cold["n_queries"].nunique() == 1 and cold["n_queries"].iloc[0] > 10
    assert hits["popularity"] == 0.0  # never sold before the test cutoff: scored 0, ranked last
    assert max(hits[m] for m in COLLABORATIVE) <= 0.05  # ~0 by construction
    assert hits["content"] > 0.05 and hits["hybrid"] > 0.0
    md = latest(instance, "evaluation_report")["cold_start"]
    assert "by construction" in md and "| content" in md


def test_category_rules_count_what_the_clusters_hold(demo_run, assets_dir) -> None:
    """Recount the top rule's baskets from the cluster labels, outside the code under test."""
    _, instance, _ = demo_run
    rules = read_table(assets_dir / "category_rules.parquet")
    table = read_table(assets_dir / "item_embeddings.parquet").sort_values("item_idx")
    baskets = load_basket_set(assets_dir / "baskets")
    assert len(rules) == latest(instance, "category_rules")["dagster/row_count"] > 0
    labels = table["cluster_label"].to_numpy()
    sets = [set(labels[items]) for items in baskets.item_lists()]
    for rule in rules.head(5).itertuples():
        both = set(rule.antecedent_names) | set(rule.consequent_names)
        assert rule.count == sum(both <= s for s in sets)
        assert rule.confidence == pytest.approx(
            rule.count / sum(set(rule.antecedent_names) <= s for s in sets)
        )
