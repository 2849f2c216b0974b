"""The data-loss guard as a blocking asset check of ``clean_events`` (emitted by the asset, per
partition, like the contract checks): the partition's downstream steps do not run when cleaning
dropped more than the floors allow, and the check says by which rule, with examples."""

from __future__ import annotations

import dagster as dg

from assoc_pipeline.core.data.cleaning import CleaningReport
from assoc_pipeline.core.data.data_loss import DataLossVerdict

DATA_LOSS_CHECK = "clean_events_data_loss"


def data_loss_check_spec() -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=DATA_LOSS_CHECK,
        asset="clean_events",
        blocking=True,
        description="Cleaning kept enough of the source: shares of rows, products, baskets and "
        "customers above their floors, no single drop reason above its ceiling",
    )


def reasons_markdown(report: CleaningReport, verdict: DataLossVerdict) -> str:
    lines = ["| rule | rows dropped | share of raw rows |", "|---|---|---|"]
    for rule, n in report.dropped.items():
        lines.append(f"| {rule} | {n:,} | {verdict.reason_shares.get(rule, 0.0):.2%} |")
    return "\n".join(lines)


def data_loss_check_result(report: CleaningReport, verdict: DataLossVerdict) -> dg.AssetCheckResult:
    examples = report.examples
    return dg.AssetCheckResult(
        check_name=DATA_LOSS_CHECK,
        asset_key="clean_events",
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=verdict.message(report),
        metadata={
            **{f"kept_share/{m}": s for m, s in verdict.kept_shares.items() if s is not None},
            **{f"dropped/{rule}": n for rule, n in report.dropped.items()},
            "dropped_by_rule": dg.MetadataValue.md(reasons_markdown(report, verdict)),
            "examples_dropped": dg.MetadataValue.md(
                examples.to_markdown(index=False) if examples is not None and len(examples) else "none"
            ),
            "floors": dg.MetadataValue.json(vars(verdict.floors)),
            "problems": dg.MetadataValue.json(verdict.problems),
            "rule_set": report.rule_set,
        },
    )
