"""The GAN assets on the real two-month sample: fitted on the train period only, every fidelity
figure logged beside its ceiling (run metrics, version tags, asset metadata), DP epsilon reported."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import mlflow
import pytest

from assoc_pipeline_tests.conftest import DEMO_PARTITIONS
from assoc_pipeline_tests.promotion.conftest import Pipeline

pytestmark = pytest.mark.slow
SMALL_GAN = {"epochs": 2, "pretrain_epochs": 1, "eval_samples": 200, "hidden": 64, "n_modelled_items": 300}


def meta(result, node: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path, text_cache: Path) -> Pipeline:
    import dagster as dg

    from assoc_pipeline.settings import get_settings
    from assoc_pipeline_tests.conftest import sample_resources

    data_dir = tmp_path_factory.mktemp("gan")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    p = Pipeline(settings, dg.DagsterInstance.ephemeral(), sample_resources(settings, text_cache), {}, {})
    for part in DEMO_PARTITIONS:
        p.materialize(["raw_events", "clean_events"], partition_key=part)
    p.materialize(["baskets", "split"])  # two months: the split falls back to quantile cutoffs
    return p


def test_gan_logs_fidelity_beside_ceiling_and_synthetic_baskets_show_tables(pipeline: Pipeline) -> None:
    result = pipeline.materialize(
        ["gan_model", "synthetic_baskets"],
        {
            "ops": {
                "gan_model": {"config": SMALL_GAN},
                "synthetic_baskets": {"config": {"measure_utility": False}},
            }
        },
    )
    gan = meta(result, "gan_model")
    for key in ("pair_corr", "item_freq_pearson", "rules_jaccard", "two_sample_auc"):
        assert math.isfinite(gan[f"fidelity/{key}"]) and math.isfinite(gan[f"fidelity/{key}_ceiling"]), key
    assert gan["fidelity/sizes_resampled_from_real"] == 1.0 and "fidelity/basket_size_wasserstein" not in gan
    assert "privacy/membership_auc" in gan and "not private" in gan["differential_privacy"]
    client = pipeline.mlflow.client()
    run = client.get_run(gan["mlflow_run_id"])
    assert "fidelity/pair_corr" in run.data.metrics and "fidelity/pair_corr_ceiling" in run.data.metrics
    n_fit, n_choice, n_hold = (int(run.data.params[k]) for k in ("n_fit", "n_epoch_choice", "n_holdout"))
    assert n_fit > n_hold > n_choice > 0  # 70 / 20 / 10% of the train period
    version = client.get_model_version("assoc-basket-gan", gan["mlflow_model_version"])
    tagged = float(version.tags["fidelity/pair_corr_ceiling"])
    assert tagged == pytest.approx(gan["fidelity/pair_corr_ceiling"], abs=1e-4)
    syn = meta(result, "synthetic_baskets")
    assert syn["dagster/row_count"] == int(run.data.params["n_fit"])
    assert "associations/synthetic_extra_rules" in syn and "| pair_corr |" in syn["quality"]


def test_dp_gan_reports_epsilon_in_metadata_and_run(pipeline: Pipeline) -> None:
    result = pipeline.materialize(
        ["gan_model"], {"ops": {"gan_model": {"config": {**SMALL_GAN, "dp": True, "dp_epsilon": 3.0}}}}
    )
    gan = meta(result, "gan_model")
    assert 0 < gan["dp/epsilon"] <= 3.0 * 1.01 and gan["dp/delta"] == 1e-5
    assert "epsilon=" in gan["differential_privacy"]
    run = mlflow.MlflowClient(pipeline.mlflow.tracking_uri).get_run(gan["mlflow_run_id"])
    assert run.data.metrics["dp/epsilon"] == pytest.approx(gan["dp/epsilon"])
