"""The A/B report: what the server's experiment showed, against what people bought afterwards."""

from pathlib import Path

import dagster as dg

from assoc_pipeline.core.data.baskets import load_basket_set
from assoc_pipeline.core.experiments.exposure_table import EXPOSURES_DIR
from assoc_pipeline.orchestration.config import config_for, settings_from_config
from assoc_pipeline.orchestration.metadata import as_metadata
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.services.ab_report import ABReportSettings, build_ab_report

ABReportConfig = config_for(ABReportSettings, "ABReportConfig")


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"pandas"},
    deps=[dg.AssetKey("baskets")],
    required_resource_keys={"io_manager", "artifacts"},
    description="Champion vs challenger from the serving exposure log (`serve --challenger`, or "
    "`ab-replay` on the test period): per arm hit rate and recall of the exposed items among the "
    "purchases that followed within the window, the difference with a 95% bootstrap interval over "
    "users, and a verdict only above a minimum number of users per arm. Empty (and instant) while "
    "no experiment ran.",
)
def ab_report(
    context: dg.AssetExecutionContext,
    config: ABReportConfig,  # type: ignore[valid-type]
) -> dg.Output[dict]:
    io_manager = context.resources.io_manager
    artifacts: ArtifactStore = context.resources.artifacts
    record, metadata = build_ab_report(
        Path(io_manager.base_dir) / EXPOSURES_DIR,
        lambda: load_basket_set(io_manager.stored_path("baskets").with_suffix("")),  # only if needed
        settings_from_config(ABReportSettings, config),
        chart_path=artifacts.path("ab_report", "arms.png"),
    )
    context.log.info(f"ab_report: {record['verdict']}")
    return dg.Output(record, metadata=as_metadata(metadata))
