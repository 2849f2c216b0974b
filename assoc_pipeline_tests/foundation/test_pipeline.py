"""The ingest layer through real Dagster runs (in-process executor, ephemeral instance)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from assoc_pipeline.definitions import all_assets, all_checks
from assoc_pipeline.resources import build_resources
from assoc_pipeline.settings import Settings
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS as PARTITIONS
from assoc_pipeline_tests.conftest import copy_data_dir


def materialize(
    settings: Settings, instance: dg.DagsterInstance, selection: list[str], partition: str | None = None
):
    return dg.materialize(
        [*all_assets, *all_checks],
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=build_resources(settings),
        raise_on_error=False,
    )


@pytest.fixture
def scratch(demo_run, tmp_path: Path) -> tuple[Settings, dg.DagsterInstance]:
    """A private copy of the demo's outputs, for tests that try to damage them."""
    settings, _, _ = demo_run
    copy = dataclasses.replace(settings, data_dir=tmp_path / "data")
    copy_data_dir(settings, copy.data_dir)
    return copy, dg.DagsterInstance.ephemeral()  # its own: the shared run's records stay as they are


def failure(result: dg.ExecuteInProcessResult, node: str) -> str:
    """The user-facing error of a failed step, including the InputError under Dagster's wrapper."""
    return result.failure_data_for_node(node).error.to_string()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_materializes_every_asset_on_real_rows(demo_run, retail_sample_csv: Path) -> None:
    _, instance, summary = demo_run
    n_rows = len(pd.read_csv(retail_sample_csv))
    assert summary["partitions"] == 2
    assert summary["raw_rows"] == n_rows
    assert summary["raw_rows"] == summary["kept_rows"] + sum(summary["dropped"].values())
    assert summary["dropped"]["cancellation"] > 0 and summary["dropped"]["non_product_code"] > 0
    assert all(all(v) for v in summary["checks"].values())
    assert {"raw_events_contract", "clean_events_contract", "baskets_contract"} <= set(summary["checks"])
    for key in all_assets_keys():
        assert instance.get_latest_materialization_event(key) is not None, key


def test_outputs_are_plain_parquet(demo_run) -> None:
    settings, _, summary = demo_run
    assets = settings.data_dir / "assets"
    assert sorted(p.name for p in (assets / "clean_events").iterdir()) == [f"{p}.parquet" for p in PARTITIONS]
    table = pq.read_table(assets / "baskets" / "baskets.parquet")
    assert table.num_rows == summary["baskets"]
    assert pq.read_table(assets / "baskets" / "vocabulary.parquet").num_rows == summary["items"]
    catalog = pd.read_parquet(assets / "item_catalog.parquet")
    assert len(catalog) == summary["items"] and catalog["n_baskets"].min() >= 1


def test_metadata_shows_what_a_user_needs(demo_run) -> None:
    _, instance, _ = demo_run
    clean = instance.get_latest_materialization_event(dg.AssetKey("clean_events")).asset_materialization
    assert {
        "dagster/row_count",
        "dropped/cancellation",
        "top_items",
        "preview",
        "first_event",
        "last_event",
    } <= set(clean.metadata)
    assert clean.metadata["reconciles"].value is True
    baskets = instance.get_latest_materialization_event(dg.AssetKey("baskets")).asset_materialization
    assert baskets.metadata["anonymous_baskets"].value > 0


def test_all_cancelled_partition_fails_and_keeps_last_good_output(
    scratch, tmp_path: Path, retail_sample_csv
) -> None:
    settings, instance = scratch
    clean_file = settings.data_dir / "assets" / "clean_events" / "2011-01-01.parquet"
    before = digest(clean_file)
    df = pd.read_csv(retail_sample_csv, dtype=str)
    jan = df["InvoiceDate"].str.startswith("2011-01")
    df.loc[jan, "InvoiceNo"] = "C" + df.loc[jan, "InvoiceNo"]
    df.to_csv(tmp_path / "cancelled.csv", index=False)
    result = materialize(
        dataclasses.replace(settings, source_path=tmp_path / "cancelled.csv"),
        instance,
        ["raw_events", "clean_events"],
        "2011-01-01",
    )
    assert not result.success
    message = failure(result, "clean_events")
    assert "every one of the" in message and "2011-01-01" in message and "cancellation" in message
    assert digest(clean_file) == before


def test_missing_source_is_named_and_nothing_is_overwritten(scratch, tmp_path: Path) -> None:
    settings, instance = scratch
    raw_file = settings.data_dir / "assets" / "raw_events" / "2010-12-01.parquet"
    before = digest(raw_file)
    result = materialize(
        dataclasses.replace(settings, source_path=tmp_path / "gone.csv"),
        instance,
        ["raw_events"],
        "2010-12-01",
    )
    assert not result.success
    assert f"{tmp_path / 'gone.csv'}: file or folder not found" in failure(result, "raw_events")
    assert digest(raw_file) == before


def test_failed_contract_blocks_downstream(scratch, tmp_path: Path, retail_sample_csv) -> None:
    settings, instance = scratch
    df = pd.read_csv(retail_sample_csv, dtype=str)
    dec = df.index[df["InvoiceDate"].str.startswith("2010-12")][:25]
    df.loc[dec, "StockCode"] = None
    df.to_csv(tmp_path / "null_ids.csv", index=False)
    result = materialize(
        dataclasses.replace(settings, source_path=tmp_path / "null_ids.csv"),
        instance,
        ["raw_events", "clean_events"],
        "2010-12-01",
    )
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "raw_events_contract" and not check.passed
    assert check.metadata["unexpected_rows"].value == 25
    assert result.asset_materializations_for_node("clean_events") == []  # blocked


def all_assets_keys() -> list[dg.AssetKey]:
    return [key for a in all_assets for key in a.keys]


def test_steps_share_their_ease_inverses_on_disk(demo_run) -> None:
    """Each step of the two-lane run is a process of its own: what baseline_tuning fitted at every
    lambda of its grid is in the run's EASE cache, and is the inverse computed now, to the bit."""
    from assoc_pipeline.core.data.baskets import load_basket_set
    from assoc_pipeline.core.recsys.baseline_tuning import EASE_GRID
    from assoc_pipeline.core.recsys.baselines import ease
    from assoc_pipeline.core.recsys.baselines.ease_disk_cache import EaseDiskCache
    from assoc_pipeline.core.recsys.split import split_from_record

    settings, _, _ = demo_run
    assets = settings.data_dir / "assets"
    baskets = load_basket_set(assets / "baskets")
    train = split_from_record(baskets, json.loads((assets / "split.json").read_text())).train.matrix
    cache = EaseDiskCache(settings.ease_cache_dir)
    key = ease._matrix_key(train)
    stored = {l2: cache.read((key, float(l2))) for l2 in EASE_GRID}
    assert all(v is not None for v in stored.values()), sorted(settings.ease_cache_dir.iterdir())
    active, block = stored[EASE_GRID[0]]
    assert not block.flags.writeable
    assert np.array_equal(block, ease._ease_block(train[:, active], EASE_GRID[0]))
