"""The `ab_report` asset in a real Dagster run: instant and empty without exposures (as in `make
demo`), a markdown table, a verdict and a PNG on a replayed experiment."""

from __future__ import annotations

import dataclasses
import time

import dagster as dg

from assoc_pipeline.core.experiments.exposure_table import EXPOSURES_DIR
from assoc_pipeline.resources import build_resources
from assoc_pipeline_tests.experiments.test_ab_report import replayed


def materialize(settings, config: dict | None = None) -> dg.ExecuteInProcessResult:
    from assoc_pipeline.definitions import all_assets

    return dg.materialize(
        all_assets,
        selection=["ab_report"],
        instance=dg.DagsterInstance.ephemeral(),
        resources=build_resources(settings),
        run_config={"ops": {"ab_report": {"config": config or {}}}},
    )


def test_without_exposures_the_asset_reports_an_empty_experiment_at_once(tmp_path, ab_state):
    settings = dataclasses.replace(ab_state.settings, data_dir=tmp_path)  # no baskets, no exposures
    materialize(settings)  # the first run pays for importing the asset graph
    started = time.perf_counter()
    result = materialize(settings)
    seconds = time.perf_counter() - started
    assert seconds < 10, seconds  # a whole Dagster run on a loaded 2-core machine; the report itself ~ms
    meta = result.asset_materializations_for_node("ab_report")[0].metadata
    assert result.output_for_node("ab_report")["experiment"] is None
    assert "no exposures recorded" in meta["verdict"].value
    print(f"ab_report without exposures: {seconds:.2f} s (the Dagster run included)")


def test_on_a_replayed_experiment_the_asset_shows_the_table_verdict_and_chart(ab_state):
    replayed(ab_state, ab_state.assets / EXPOSURES_DIR, "popularity", "personal_top_frequency")
    name = "planted-popularity-vs-personal_top_frequency"
    result = materialize(ab_state.settings, {"experiment": name, "window_days": 7.0})
    record = result.output_for_node("ab_report")
    meta = result.asset_materializations_for_node("ab_report")[0].metadata
    assert record["experiment"] == name and record["verdict"].startswith("challenger better")
    report = meta["report"].value
    assert "| arm" in report and "hit_rate" in report and "minimum 200 units per arm" in report
    assert (
        meta["arms_chart_png"].value.endswith("arms.png")
        and "data:image/png;base64" in meta["arms_chart"].value
    )
    print(report)
