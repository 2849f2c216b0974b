"""Shared fixtures: real data paths, a small real event sample, isolated Dagster/MLflow state."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = REPO / "data" / "sample" / "online_retail.csv.gz"


def shared_datasets_dir() -> Path:
    return Path(os.environ.get("ASSOC_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    path = shared_datasets_dir()
    if not path.exists():
        pytest.skip(f"shared datasets not found at {path} (set ASSOC_SHARED_DATASETS)")
    return path


@pytest.fixture(scope="session")
def online_retail_raw() -> pd.DataFrame:
    """The shipped Online Retail file as written (original column names, strings untouched)."""
    return pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def retail_sample_csv(tmp_path_factory: pytest.TempPathFactory, online_retail_raw: pd.DataFrame) -> Path:
    """Real rows: the first two months (Dec 2010, Jan 2011) of Online Retail, as the original CSV."""
    months = online_retail_raw["InvoiceDate"].str[:7]
    sample = online_retail_raw[months.isin(["2010-12", "2011-01"])]
    path = tmp_path_factory.mktemp("sample") / "online_retail_sample.csv"
    sample.to_csv(path, index=False)
    return path
