"""The GX suites in data_contracts/ run as real Great Expectations validations."""

from __future__ import annotations

import pandas as pd
import pytest

from assoc_pipeline.checks.contracts import validate_contract
from assoc_pipeline.core.data.baskets import basket_set_from_events
from assoc_pipeline.core.data.cleaning import clean_events
from assoc_pipeline.core.data.schema import read_events


@pytest.fixture(scope="module")
def raw(retail_sample_csv) -> pd.DataFrame:
    return read_events(retail_sample_csv).head(5_000)


@pytest.fixture(scope="module")
def clean(raw: pd.DataFrame) -> pd.DataFrame:
    return clean_events(raw)[0]


def failed(result) -> set[tuple[str, str]]:
    return {(f["expectation"], f["column"]) for f in result.failures}


def test_real_data_passes_every_contract(raw: pd.DataFrame, clean: pd.DataFrame) -> None:
    for name, df in [
        ("raw_events", raw),
        ("clean_events", clean),
        ("baskets", basket_set_from_events(clean).baskets),
    ]:
        result = validate_contract(name, df)
        assert result.passed, result.markdown()
        assert result.evaluated >= 6


def test_missing_column_fails(clean: pd.DataFrame) -> None:
    result = validate_contract("clean_events", clean.drop(columns=["unit_price"]))
    assert not result.passed
    assert ("expect_column_to_exist", "unit_price") in failed(result)


def test_null_ids_fail_with_counts(raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[bad.index[:7], "item_id"] = None
    result = validate_contract("raw_events", bad)
    assert not result.passed
    (failure,) = [f for f in result.failures if f["column"] == "item_id"]
    assert (
        failure["expectation"] == "expect_column_values_to_not_be_null" and failure["unexpected_count"] == 7
    )


def test_negative_prices_after_cleaning_fail(clean: pd.DataFrame) -> None:
    bad = clean.copy()
    bad.loc[bad.index[:3], "unit_price"] = -1.0
    result = validate_contract("clean_events", bad)
    assert ("expect_column_values_to_be_between", "unit_price") in failed(result)
    assert "| 3 |" in result.markdown()


def test_dates_out_of_range_fail(raw: pd.DataFrame) -> None:
    bad = raw.copy()
    bad.loc[bad.index[:2], "event_time"] = pd.Timestamp("1970-01-01")
    result = validate_contract("raw_events", bad)
    assert ("expect_column_values_to_be_between", "event_time") in failed(result)


def test_duplicate_basket_ids_fail(clean: pd.DataFrame) -> None:
    table = basket_set_from_events(clean).baskets
    bad = pd.concat([table, table.tail(1)], ignore_index=True)
    assert ("expect_column_values_to_be_unique", "basket_id") in failed(validate_contract("baskets", bad))


def test_a_contract_runs_in_a_process_without_a_main_file(clean: pd.DataFrame, tmp_path) -> None:
    """`python -c`, a forkserver and an xdist worker have a ``__main__`` without ``__file__``:
    importing Great Expectations there used to end the process with exit 0 (pyspark's doctest exit)."""
    import subprocess
    import sys

    table = tmp_path / "clean.parquet"
    clean.head(200).to_parquet(table)
    code = (
        "import pandas as pd; from assoc_pipeline.checks.contracts import validate_contract; "
        f"r = validate_contract('clean_events', pd.read_parquet({str(table)!r})); "
        "print('validated', r.passed)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validated True" in done.stdout, (done.stdout, done.stderr[-2000:])
