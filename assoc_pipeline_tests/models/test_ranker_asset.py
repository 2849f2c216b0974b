"""The ranker through the real graph: the `ranker_model` asset trains on the two-month sample with
early stopping, logs an MLflow run, registers a version, and that version reloads with the scores
the pipeline's own model gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from assoc_pipeline.core.recsys.models.checkpoint_files import load_model
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS
from assoc_pipeline_tests.promotion.conftest import Pipeline

pytestmark = pytest.mark.slow


def test_ranker_asset_trains_logs_registers_and_reloads(
    tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path, text_cache: Path, tmp_path: Path
) -> None:
    import dagster as dg

    from assoc_pipeline.settings import get_settings
    from assoc_pipeline_tests.conftest import sample_resources

    data_dir = tmp_path_factory.mktemp("ranker")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    p = Pipeline(settings, dg.DagsterInstance.ephemeral(), sample_resources(settings, text_cache), {}, {})
    for key in DEMO_PARTITIONS:
        p.materialize(["raw_events", "clean_events"], partition_key=key)
    result = p.materialize(
        ["baskets", "split", "ranker_model"], {"ops": {"ranker_model": {"config": {"epochs": 3}}}}
    )
    meta = {k: v.value for k, v in result.asset_materializations_for_node("ranker_model")[0].metadata.items()}
    assert meta["model_type"] == "ranker" and meta["best_epoch"] >= 1
    assert meta["validation/val_ndcg@10"] > 0
    client = p.mlflow.client()
    run = client.get_run(meta["mlflow_run_id"])
    assert run.data.tags["model_type"] == "ranker"
    assert run.data.params["n_neighbours"] == str(RankerParams().n_neighbours)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "fit/loss")][:1] == [1]

    model = load_model(Path(meta["path"]))
    assert isinstance(model, RankerRecommender)
    version = client.get_model_version(RECOMMENDER_MODEL, meta["mlflow_model_version"])
    reloaded = load_model(client.download_artifacts(version.run_id, "model.pt", str(tmp_path)))
    users = list(model.history.baskets["user_id"].dropna().astype(str).unique()[:50])
    scores = model.score_next_basket(users)
    np.testing.assert_array_equal(reloaded.score_next_basket(users), scores)
    # the top of every list is a candidate the network scored, not the popularity floor
    assert (scores.max(axis=1) > -1e3).all()
