"""Data contracts: the Great Expectations 1.x suites in ``data_contracts/``, run as real GX
validations, turned into Dagster asset-check results with the failures in the metadata.

(``dagster-ge`` pins great-expectations<1, so this small bridge is ours.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.checks.gx_import import import_great_expectations
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.settings import project_root

CONTRACTS_ENV = "ASSOC_CONTRACTS_DIR"


def contracts_dir() -> Path:
    return Path(os.environ.get(CONTRACTS_ENV, project_root() / "data_contracts"))


@dataclass
class ContractResult:
    suite: str
    passed: bool
    evaluated: int
    failures: list[dict] = field(default_factory=list)

    def markdown(self) -> str:
        if not self.failures:
            return f"All {self.evaluated} expectations of `{self.suite}` passed."
        lines = ["| expectation | column | unexpected | sample / error |", "|---|---|---|---|"]
        for f in self.failures:
            lines.append(f"| {f['expectation']} | {f['column']} | {f['unexpected_count']} | {f['detail']} |")
        return "\n".join(lines)


def load_suite_json(name: str) -> dict:
    path = contracts_dir() / f"{name}.json"
    if not path.exists():
        raise InputError(f"data contract {name!r}: suite file {path} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"data contract {path}: not valid JSON: {exc}") from exc


@cache
def _batch_definition(name: str):
    """One ephemeral GX context per suite (no GX project on disk to keep in sync)."""
    gx = import_great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas(f"{name}_source").add_dataframe_asset(name)
    return asset.add_batch_definition_whole_dataframe("whole_table")


def validate_contract(name: str, df: pd.DataFrame) -> ContractResult:
    """Validate ``df`` against ``data_contracts/<name>.json`` with Great Expectations."""
    gx = import_great_expectations()

    suite = gx.ExpectationSuite(**load_suite_json(name))
    result = _batch_definition(name).get_batch(batch_parameters={"dataframe": df}).validate(suite)
    failures = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        res = r.result or {}
        error = (r.exception_info or {}).get("exception_message")
        sample = res.get("partial_unexpected_list") or res.get("observed_value")
        failures.append(
            {
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list", []) or []),
                "unexpected_count": int(res.get("unexpected_count") or 0),
                "detail": str(error or (sample[:5] if isinstance(sample, list) else sample))[:200],
            }
        )
    return ContractResult(
        suite=name, passed=bool(result.success), evaluated=len(result.results), failures=failures
    )


def contract_check_spec(asset_name: str) -> dg.AssetCheckSpec:
    """Spec of a blocking contract check emitted by the asset itself.

    Dagster runs checks per asset, not per partition, so partitioned assets validate the
    partition they just wrote and report it here; downstream steps of the run are skipped
    when it fails.
    """
    return dg.AssetCheckSpec(
        name=f"{asset_name}_contract",
        asset=asset_name,
        blocking=True,
        description=f"Great Expectations suite data_contracts/{asset_name}.json",
    )


def contract_check_result(asset_name: str, df: pd.DataFrame) -> dg.AssetCheckResult:
    res = validate_contract(asset_name, df)
    return dg.AssetCheckResult(
        check_name=f"{asset_name}_contract",
        asset_key=asset_name,
        passed=res.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "suite": f"data_contracts/{asset_name}.json",
            "expectations_evaluated": res.evaluated,
            "expectations_failed": len(res.failures),
            "unexpected_rows": sum(f["unexpected_count"] for f in res.failures),
            "failures": dg.MetadataValue.md(res.markdown()),
        },
    )
