"""A real pipeline for the promotion gate: real Dagster instance, real GX checks, real MLflow registry.

Built once per module on the two-month Online Retail sample (its own data dir and instance, so
the shared ``demo_run`` is left alone): ingest with contract checks, baskets, split, small mining,
then *twin* versions of both models (same config and seed as the report's, so identical scores:
an incumbent the candidate cannot beat whichever model the report picks) and two 1-epoch models
whose report is the one the gate reads. Tests drive the `champion` asset against this state.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assoc_pipeline_tests.conftest import DEMO_PARTITIONS

SMALL_MINING = {"ops": {"frequent_itemsets": {"config": {"min_support": 0.02, "max_len": 3}}}}


@dataclasses.dataclass
class Pipeline:
    settings: object
    instance: object
    resources: dict
    twin_versions: dict[str, str]
    report_versions: dict[str, str]

    def materialize(
        self,
        selection: list[str],
        run_config: dict | None = None,
        partition_key: str | None = None,
        raise_on_error: bool = True,
    ):
        import dagster as dg

        from assoc_pipeline.definitions import all_assets, all_checks

        return dg.materialize(
            [*all_assets, *all_checks],
            selection=selection,
            instance=self.instance,
            resources=self.resources,
            run_config=run_config or {},
            partition_key=partition_key,
            raise_on_error=raise_on_error,
        )

    def champion(self, **config):
        result = self.materialize(["champion"], {"ops": {"champion": {"config": config}}})
        return result.output_for_node("champion")

    @property
    def mlflow(self):
        return self.resources["mlflow"]


def _version(result, node: str) -> str:
    return str(result.asset_materializations_for_node(node)[0].metadata["mlflow_model_version"].value)


TRAINED = ("cf", "dnn", "sequence", "ranker")  # every trained model the report (and gate) sees
COMPLETION_SAMPLE = 60  # the report scores a fixed-seed sample of this many completion queries
WEAK = {"ops": {f"{m}_model": {"config": {"epochs": 1, "patience": 0}} for m in TRAINED}}


def weak_models(pipeline: Pipeline) -> dict[str, str]:
    """Train every model for one epoch; their registered versions by report name."""
    res = pipeline.materialize([f"{m}_model" for m in TRAINED], WEAK)
    return {m: _version(res, f"{m}_model") for m in TRAINED}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path, text_cache: Path) -> Pipeline:
    import dagster as dg

    from assoc_pipeline.settings import get_settings
    from assoc_pipeline_tests.conftest import sample_resources

    data_dir = tmp_path_factory.mktemp("gate")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    p = Pipeline(settings, dg.DagsterInstance.ephemeral(), sample_resources(settings, text_cache), {}, {})
    for key in DEMO_PARTITIONS:
        p.materialize(["raw_events", "clean_events"], partition_key=key)
    p.materialize(
        [
            "baskets",
            "split",
            "frequent_itemsets",
            "association_rules",
            "item_embeddings",
            "baseline_tuning",
            "hybrid_model",
        ],
        SMALL_MINING,
    )
    p.twin_versions = weak_models(p)
    # no warm start here: a fine-tuned twin would be another candidate and void the premise above
    p.report_versions = weak_models(p)
    no_warm = {
        "ops": {
            "finetuned_model": {"config": {"start_from": "none"}},
            "evaluation_report": {"config": {"max_completion_queries": COMPLETION_SAMPLE}},
        }
    }
    p.materialize(["finetuned_model", "evaluation_report"], no_warm)
    return p
