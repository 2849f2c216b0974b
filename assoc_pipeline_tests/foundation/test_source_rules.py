"""Cleaning rules belong to a source format, and the data-loss guard stops a run that lost data.

Another retailer's log (core/data/example_retailer.py: its own column names, 7-digit numeric
product ids, returns as negative quantities) read as format ``events`` keeps every valid row
through clean_events and baskets; the same log under rules that reject its ids (Online Retail's
rule set, or a user pattern that fits a third of the ids) stops at clean_events, naming the rule.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assoc_pipeline.checks.data_loss import DATA_LOSS_CHECK
from assoc_pipeline.core.data.cleaning import CleaningRules, clean_events
from assoc_pipeline.core.data.data_loss import DataLossFloors, assess_data_loss
from assoc_pipeline.core.data.example_retailer import COLUMN_MAPPING, example_retailer_log
from assoc_pipeline.core.data.rule_sets import rule_set_for_format
from assoc_pipeline.core.data.schema import read_events
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.definitions import all_assets, all_checks
from assoc_pipeline.demo import run_demo
from assoc_pipeline.resources import build_resources
from assoc_pipeline.settings import get_settings
from assoc_pipeline_tests.foundation.test_cleaning import event, frame

MONTHS = ["2011-01-01", "2011-02-01"]  # inside the project's partitions (the shipped log's year)
A_THIRD_OF_THE_IDS = r"^[1-3]\d{6}$"  # a user pattern that rejects two thirds of the 7-digit ids


@pytest.fixture(scope="module")
def example_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retailer") / "orders.csv"
    example_retailer_log(n_customers=60, year=2011, return_share=0.03).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def canonical(example_log: Path) -> pd.DataFrame:
    return read_events(example_log, "events", COLUMN_MAPPING)


def test_generic_rules_keep_any_product_code() -> None:
    rows = [
        event("1", "1234567"),  # kept: a 7-digit id
        event("1", "SKU-9"),  # kept: no product-code convention for events
        event("1", "POST", price=18.0),  # kept too (only a user pattern would drop it)
        event("2", "6000001", qty=80_995),  # kept: no quantity cap unless enabled
        event("1", "1234567"),  # duplicate
        event("3", "1234567", qty=-1, kind="cancellation"),  # cancellation by event_type
        event("4", "1234567", qty=-2),  # return by negative quantity
        event("4", "7654321", kind="return"),  # return by event_type
        event("5", "7654321", price=0.0),  # non-positive price
        event("5", "7654322", qty=0),  # zero quantity
        event("6", None),  # missing item id
    ]
    kept, report = clean_events(frame(rows), CleaningRules(rule_set_for_format("events")))
    assert report.dropped == {
        "missing_id": 1,
        "cancellation": 1,
        "return": 2,
        "non_positive_price": 1,
        "zero_quantity": 1,
        "duplicate": 1,
    }
    assert kept["item_id"].tolist() == ["1234567", "SKU-9", "POST", "6000001"] and report.reconciles()
    assert report.examples.groupby("reason").size().to_dict() == {
        k: v for k, v in report.dropped.items() if v
    }
    assert "user_id" not in report.examples  # examples land in run metadata: no customer ids

    own = CleaningRules("events", product_code_pattern=r"^\d{7}$")  # the user's convention
    kept, report = clean_events(frame(rows), own)
    assert report.dropped["non_product_code"] == 2 and kept["item_id"].tolist() == ["1234567", "6000001"]
    listed = CleaningRules("events", rules=["missing_id", "extreme_quantity"], max_quantity=100)
    assert clean_events(frame(rows), listed)[1].dropped == {"missing_id": 1, "extreme_quantity": 1}


def test_the_format_chooses_the_rule_set() -> None:
    assert CleaningRules(rule_set_for_format("online_retail")).enabled == CleaningRules().enabled
    assert "non_product_code" in CleaningRules().enabled and CleaningRules().pattern == r"^\d{5}[A-Za-z]*$"
    for fmt in ("events", "basket_lines", "fimi"):
        rules = CleaningRules(rule_set_for_format(fmt))
        assert "non_product_code" not in rules.enabled and "extreme_quantity" not in rules.enabled
    assert "non_product_code" not in CleaningRules(product_code_pattern="").enabled
    with pytest.raises(InputError, match="'parquet' has no cleaning rule set"):
        rule_set_for_format("parquet")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rules": ["missing_id", "cancelation"]}, r"unknown rule\(s\) \['cancelation'\]"),
        ({"rule_set": "events", "rules": ["non_product_code"]}, "no product_code_pattern"),
        ({"rule_set": "shopify"}, "rule_set='shopify'"),
        ({"product_code_pattern": "[0-9"}, "product_code_pattern='\\[0-9' is not a regex"),
    ],
)
def test_bad_rule_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        CleaningRules(**settings)


def test_bad_floors_are_named() -> None:
    with pytest.raises(InputError, match="min_kept_rows=80"):
        DataLossFloors(min_kept_rows=80)


def test_example_log_keeps_every_valid_row(canonical: pd.DataFrame) -> None:
    kept, report = clean_events(canonical, CleaningRules("events"))
    purchases = canonical[canonical["quantity"] > 0]
    assert report.kept_rows == len(purchases) == len(canonical) - report.dropped["return"]
    assert canonical["item_id"].str.fullmatch(r"\d{7}").all()
    verdict = assess_data_loss(canonical, kept, report)
    assert verdict.passed and verdict.kept_shares["products"] == verdict.kept_shares["customers"] == 1.0


def test_online_retail_rules_on_the_example_log_fail_the_guard(canonical: pd.DataFrame) -> None:
    kept, report = clean_events(canonical, CleaningRules("online_retail"))
    assert kept.empty and report.dropped["non_product_code"] == report.raw_rows - report.dropped["return"]
    verdict = assess_data_loss(canonical, kept, report)
    assert not verdict.passed
    assert "kept 0.0% of rows (floor 80%)" in verdict.problems
    assert any(p.startswith("non_product_code dropped 9") for p in verdict.problems)
    assert "rule set online_retail" in verdict.message(report)


def test_a_share_above_a_floor_passes_and_below_fails(canonical: pd.DataFrame) -> None:
    kept, report = clean_events(canonical, CleaningRules("events", product_code_pattern=A_THIRD_OF_THE_IDS))
    verdict = assess_data_loss(canonical, kept, report)
    rows = verdict.kept_shares["rows"]
    assert 0.05 < rows < 0.8 and not verdict.passed
    lenient = DataLossFloors(0.0, 0.0, 0.0, 0.0, max_reason_share=1.0)
    assert assess_data_loss(canonical, kept, report, lenient).passed


def pipeline_settings(tmp_path: Path, source: Path, **cleaning):
    return dataclasses.replace(
        get_settings(),
        data_dir=tmp_path / "data",
        source_path=source,
        source_format="events",
        column_mapping=dict(COLUMN_MAPPING),
        cleaning=cleaning,
    )


def materialize(settings, instance, selection: list[str], partition: str | None = None, cleaning=None):
    config = {"ops": {"clean_events": {"config": cleaning}}} if cleaning else None
    return dg.materialize(
        [*all_assets, *all_checks],
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=build_resources(settings),
        run_config=config,
        raise_on_error=False,
    )


def test_generic_log_keeps_its_rows_through_clean_events_and_baskets(
    tmp_path: Path, example_log: Path, canonical: pd.DataFrame
) -> None:
    settings, instance = pipeline_settings(tmp_path, example_log), dg.DagsterInstance.ephemeral()
    for month in MONTHS:
        result = materialize(settings, instance, ["raw_events", "clean_events"], month)
        assert result.success
        assert all(e.passed for e in result.get_asset_check_evaluations())
        (mat,) = result.asset_materializations_for_node("clean_events")
        start = pd.Timestamp(month)
        raw = canonical[
            (canonical["event_time"] >= start) & (canonical["event_time"] < start + pd.offsets.MonthBegin(1))
        ]
        assert mat.metadata["rule_set"].value == "events"
        assert mat.metadata["dagster/row_count"].value == int((raw["quantity"] > 0).sum())
        assert mat.metadata["dropped/return"].value == int((raw["quantity"] < 0).sum()) > 0
        assert "dropped/non_product_code" not in mat.metadata
    result = materialize(settings, instance, ["baskets"])
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    (mat,) = result.asset_materializations_for_node("baskets")
    in_months = canonical[(canonical["event_time"] >= MONTHS[0]) & (canonical["event_time"] < "2011-03-01")]
    bought = in_months[in_months["quantity"] > 0]
    assert mat.metadata["dagster/row_count"].value == bought["basket_id"].nunique()
    assert mat.metadata["items"].value == bought["item_id"].nunique()
    assert mat.metadata["users"].value == bought["user_id"].nunique()


def test_online_retail_rules_on_the_example_log_stop_the_run(tmp_path: Path, example_log: Path) -> None:
    settings = pipeline_settings(tmp_path, example_log)
    result = materialize(
        settings, dg.DagsterInstance.ephemeral(), ["raw_events", "clean_events"], MONTHS[0],
        cleaning={"rule_set": "online_retail"},
    )  # fmt: skip
    assert not result.success
    message = result.failure_data_for_node("clean_events").error.to_string()
    assert "every one of the" in message and "non_product_code" in message
    assert "rule set online_retail" in message and r"^\d{5}[A-Za-z]*$" in message
    assert result.asset_materializations_for_node("clean_events") == []


def test_a_pattern_that_rejects_the_ids_fails_the_blocking_guard(tmp_path: Path, example_log: Path) -> None:
    settings = pipeline_settings(tmp_path, example_log)
    result = materialize(
        settings, dg.DagsterInstance.ephemeral(), ["raw_events", "clean_events", "item_catalog"], MONTHS[0],
        cleaning={"product_code_pattern": A_THIRD_OF_THE_IDS},
    )  # fmt: skip
    guard = next(e for e in result.get_asset_check_evaluations() if e.check_name == DATA_LOSS_CHECK)
    assert not guard.passed and guard.blocking
    assert "non_product_code dropped" in guard.description and "of rows (floor 80%)" in guard.description
    assert guard.metadata["dropped/non_product_code"].value > 0
    assert "non_product_code" in guard.metadata["examples_dropped"].value
    assert guard.metadata["kept_share/rows"].value < 0.8
    assert result.asset_materializations_for_node("item_catalog") == []  # blocked downstream


def test_the_demo_stops_at_the_guard(tmp_path: Path, example_log: Path) -> None:
    """`assoc-pipeline demo` with [cleaning] product_code_pattern set: it stops after ingest."""
    settings = pipeline_settings(tmp_path, example_log, product_code_pattern=A_THIRD_OF_THE_IDS)
    with pytest.raises(
        InputError, match=f"partition {MONTHS[0]}: blocking check.*{DATA_LOSS_CHECK}: data loss"
    ):
        run_demo([MONTHS[0]], settings=settings, instance=dg.DagsterInstance.ephemeral())


def test_the_demo_names_a_partition_that_lost_every_row(tmp_path: Path, example_log: Path) -> None:
    settings = pipeline_settings(tmp_path, example_log, rule_set="online_retail")
    with pytest.raises(InputError, match=r"every one of the .* rows of partition 2011-01-01 was dropped"):
        run_demo([MONTHS[0]], settings=settings, instance=dg.DagsterInstance.ephemeral())


def test_project_file_cleaning_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[cleaning] in assoc-pipeline.toml: read into the settings, a typo named with the file."""
    project = tmp_path / "assoc-pipeline.toml"
    monkeypatch.setenv("ASSOC_CONFIG", str(project))
    project.write_text("[cleaning]\nproduct_code_pattern = '^\\d{7}$'\nmin_kept_rows = 0.9\n")
    assert get_settings().cleaning == {"product_code_pattern": r"^\d{7}$", "min_kept_rows": 0.9}
    project.write_text("[cleaning]\nmin_kept_row = 0.9\n")
    with pytest.raises(
        InputError, match=r"assoc-pipeline.toml: \[cleaning\]: unknown setting\(s\) \['min_kept_row'\]"
    ):
        get_settings()
    project.write_text("[cleaning]\nrules = ['missing_id', 'returns']\n")
    with pytest.raises(InputError, match=r"\[cleaning\]: setting rules: unknown rule\(s\) \['returns'\]"):
        get_settings()
