"""The living pipeline: inbox sensor, schedules and declarative automation on real data."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assoc_pipeline import automation
from assoc_pipeline.core.data.baskets_from_file import load_baskets
from assoc_pipeline.core.mining import derive_rules, mine_itemsets, prune_redundant
from assoc_pipeline.core.tables import read_table
from assoc_pipeline.definitions import all_assets, all_checks, defs
from assoc_pipeline.resources import build_resources
from assoc_pipeline_tests.conftest import SAMPLE_RUN_CONFIG, copy_data_dir, sample_resources

MINING_CONFIG = {"ops": {k: SAMPLE_RUN_CONFIG["ops"][k] for k in ("frequent_itemsets",)}}


@pytest.fixture
def living(demo_run, tmp_path: Path, online_retail_raw: pd.DataFrame):
    """A private copy of the demo's outputs plus two real new monthly files and a malformed one."""
    settings, _, _ = demo_run
    settings = dataclasses.replace(settings, data_dir=tmp_path / "data")
    instance = dg.DagsterInstance.ephemeral()  # its own: the shared run's records stay as they are
    copy_data_dir(demo_run[0], settings.data_dir)
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    months = online_retail_raw["InvoiceDate"].str[:7]
    (settings.data_dir / "kept").mkdir()
    for month in ("2011-02", "2011-03"):
        online_retail_raw[months == month].to_csv(inbox / f"retail_{month}.csv", index=False)
        shutil.copy(inbox / f"retail_{month}.csv", settings.data_dir / "kept")
    online_retail_raw.head(50).drop(columns=["InvoiceDate"]).to_csv(inbox / "broken_export.csv", index=False)
    return settings, instance


def sensor_result(settings, instance) -> dg.SensorResult:
    resources = build_resources(settings)
    with dg.build_sensor_context(instance=instance, resources={"inbox": resources["inbox"]}) as context:
        return automation.inbox_sensor(context)


def test_inbox_files_land_once_trigger_runs_and_rules_equal_a_full_remine(living, text_cache) -> None:
    settings, instance = living
    result = sensor_result(settings, instance)

    # two runs, one per new month; the malformed file is quarantined with its reason
    assert sorted(r.partition_key for r in result.run_requests) == ["2011-02-01", "2011-03-01"]
    reason = (settings.quarantine_dir / "broken_export.csv.reason.txt").read_text()
    assert "missing column(s) 'InvoiceDate'" in reason and "broken_export.csv" in reason
    assert not any(settings.inbox_dir.iterdir())
    before = read_table(settings.data_dir / "assets" / "association_rules.parquet")

    modes = []
    for request in result.run_requests:
        run = dg.materialize(
            [*all_assets, *all_checks],
            selection=automation.REFRESH_KEYS,
            partition_key=request.partition_key,
            tags=request.tags,
            instance=instance,
            resources=sample_resources(settings, text_cache),
            run_config=MINING_CONFIG,
        )
        assert run.success
        assert all(c.passed for c in run.get_asset_check_evaluations())
        (mat,) = run.asset_materializations_for_node("frequent_itemsets")
        modes.append({k: mat.metadata[k].value for k in ("mode", "reason", "seconds")})

    # each new month updated the stored itemsets FUP-style instead of re-mining the history
    print("frequent_itemsets runs:", modes)
    assert [m["mode"] for m in modes] == ["incremental", "incremental"], modes

    # rules were updated with the new months ...
    rules = read_table(settings.data_dir / "assets" / "association_rules.parquet")
    baskets = pd.read_parquet(settings.data_dir / "assets" / "baskets" / "baskets.parquet")
    assert baskets["basket_time"].max() >= pd.Timestamp("2011-03-01") and not rules.equals(before)

    # ... and equal what a full re-mine of all the data (old source + the two new files) gives
    everything = settings.data_dir / "everything.csv"
    months = ("2010-12", "2011-01", "2011-02", "2011-03")
    full = pd.read_csv(
        Path(__file__).resolve().parents[1] / "data" / "sample" / "online_retail.csv.gz", dtype=str
    )
    full[full["InvoiceDate"].str[:7].isin(months)].to_csv(everything, index=False)
    bs, _ = load_baskets(everything)
    expected = prune_redundant(derive_rules(mine_itemsets(bs.matrix, 0.02, max_len=10), 0.5))
    expected = expected[expected["lift"] >= 1.0]

    def as_set(df: pd.DataFrame, names) -> set:
        return {
            (tuple(sorted(names[list(a)])), tuple(names[list(c)]), int(n))
            for a, c, n in zip(df["antecedent"], df["consequent"], df["count"], strict=True)
        }

    stored_names = pd.read_parquet(settings.data_dir / "assets" / "baskets" / "vocabulary.parquet")["item_id"]
    assert as_set(rules, stored_names.to_numpy()) == as_set(expected, bs.vocabulary["item_id"].to_numpy())

    # the same content dropped again, under another name, is recognised and not ingested twice
    shutil.copy(settings.data_dir / "kept" / "retail_2011-02.csv", settings.inbox_dir / "feb_copy.csv")
    again = sensor_result(settings, instance)
    assert again.run_requests == [] and "no new files" in again.skip_reason.skip_message
    assert len(list(settings.landing_dir.glob("*.parquet"))) == 2


def test_schedules_and_sensor_are_defined_and_stopped_by_default() -> None:
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["daily_refresh_schedule"].cron_schedule == "0 3 * * *"
    assert schedules["weekly_retrain_schedule"].cron_schedule == "0 4 * * 0"
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in defs.schedules)
    daily = automation.daily_refresh_schedule
    with dg.build_schedule_context(
        scheduled_execution_time=pd.Timestamp("2011-03-15 03:00", tz="UTC")
    ) as ctx:
        request = daily(ctx)
    assert request.partition_key == "2011-03-01"
    job = defs.resolve_job_def("weekly_retrain")
    assert {"cf_model", "dnn_model", "gan_model", "champion"} <= {
        k.to_user_string() for k in job.asset_layer.executable_asset_keys
    }
