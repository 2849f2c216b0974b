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


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path) -> Pipeline:
    import dagster as dg

    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.settings import get_settings

    data_dir = tmp_path_factory.mktemp("gate")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    p = Pipeline(settings, dg.DagsterInstance.ephemeral(), build_resources(settings), {}, {})
    for key in DEMO_PARTITIONS:
        p.materialize(["raw_events", "clean_events"], partition_key=key)
    p.materialize(["baskets", "split", "frequent_itemsets", "association_rules"], SMALL_MINING)
    weak = {"config": {"epochs": 1, "patience": 0}}
    twins = p.materialize(["cf_model", "dnn_model"], {"ops": {"cf_model": weak, "dnn_model": weak}})
    p.twin_versions = {"cf": _version(twins, "cf_model"), "dnn": _version(twins, "dnn_model")}
    res = p.materialize(
        ["cf_model", "dnn_model", "evaluation_report"], {"ops": {"cf_model": weak, "dnn_model": weak}}
    )
    p.report_versions = {"cf": _version(res, "cf_model"), "dnn": _version(res, "dnn_model")}
    return p
