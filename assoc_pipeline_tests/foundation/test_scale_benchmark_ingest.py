"""benchmarks/scale.py reports the contracts of its ingest truthfully (every check of the two
assets, the data-loss guard included), so a scale table never says "checks failed" when none did."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCALE = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("scale_benchmark", SCALE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_ingest_counts_every_check_of_a_partition(scale, tmp_path: Path) -> None:
    generated = scale.stage_generate(tmp_path, n_events=4_400, n_items=200, n_users=300)
    partitions = scale._partition_keys()[:2]
    out = scale.stage_ingest(tmp_path, ",".join(partitions))
    assert out["checks_passed"], out
    assert out["checks"] == 3 * len(partitions)  # raw contract, clean contract, data-loss guard
    assert out["clean_rows"] == out["raw_rows"] > 0  # the synthetic log has nothing to clean
    assert out["raw_rows"] < generated["events"]  # two of the eleven months
