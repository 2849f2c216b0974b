"""Fixtures for the mining tests: backends, the reference data shipped in the repo, one SparkSession."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: needs pyspark and a Java runtime (slow start-up)")


REFERENCE_DATA = REPO / "data" / "reference"


def dataset(relative: str) -> Path:
    """Path of a reference data set shipped in ``data/reference`` (see its README and PROVENANCE)."""
    path = REFERENCE_DATA / relative
    if not path.exists():  # a missing shipped file is a broken checkout, not a reason to skip
        raise FileNotFoundError(f"reference data {relative} missing from the repository ({path})")
    return path


def spark_skip_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark not installed (install the 'spark' extra)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime on PATH (pyspark needs one)"
    return None


@pytest.fixture(scope="session")
def spark_session():
    reason = spark_skip_reason()
    if reason:
        pytest.skip(reason)
    from assoc_pipeline.core.mining.spark_backend import get_spark

    session = get_spark("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


BACKEND_PARAMS = [
    "native",
    "mlxtend",
    pytest.param("spark", marks=pytest.mark.spark),
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend_options(request: pytest.FixtureRequest) -> dict:
    """``dict(backend=..., **options)`` for mine_itemsets, for every backend."""
    if request.param == "spark":
        return {"backend": "spark", "spark": request.getfixturevalue("spark_session")}
    return {"backend": request.param}
