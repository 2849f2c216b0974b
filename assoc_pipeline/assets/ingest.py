"""Ingest: the source event log sliced into monthly partitions (canonical schema), then cleaned.

Both assets validate the partition they write against their data contract (blocking checks).
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from assoc_pipeline.checks.contracts import contract_check_result, contract_check_spec
from assoc_pipeline.core.data.cleaning import ONLINE_RETAIL_PRODUCT_CODE, CleaningRules
from assoc_pipeline.core.data.cleaning import clean_events as clean
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.orchestration.lineage import latest_materialization_run
from assoc_pipeline.orchestration.metadata import event_table_metadata
from assoc_pipeline.orchestration.partitions import monthly_partitions
from assoc_pipeline.resources.event_source import EventSourceResource
from assoc_pipeline.resources.pseudonymiser import PseudonymiserResource


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="ingest",
    owners=["team:data-engineering"],
    kinds={"pandas", "parquet"},
    check_specs=[contract_check_spec("raw_events")],
    description="Raw events of one month from the configured source, mapped to the canonical schema "
    "(see core/data/schema.py). Validated against data_contracts/raw_events.json.",
)
def raw_events(context: dg.AssetExecutionContext, event_source: EventSourceResource) -> Iterator:
    window = context.partition_time_window
    start, end = window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
    events = event_source.read(start, end)  # Parquet sources: only this month's row groups are decoded
    in_window = (events["event_time"] >= start) & (events["event_time"] < end)
    part = events.loc[in_window].reset_index(drop=True)
    if part.empty:
        raise InputError(
            f"raw_events: no events in partition {context.partition_key} "
            f"({start:%Y-%m-%d} to {end:%Y-%m-%d}) in source {event_source.path}"
        )
    context.log.info(f"raw_events[{context.partition_key}]: {len(part):,} events")
    # validated before the output is stored: a run killed during validation leaves the last good file
    contract = contract_check_result("raw_events", part)
    yield dg.Output(
        part,
        metadata={
            **event_table_metadata(part),
            "source": event_source.path,
            "source_version": event_source.version(),
        },
    )
    yield contract


class CleaningConfig(dg.Config):
    """Cleaning thresholds (Launchpad-editable). See core/data/cleaning.py for the rules."""

    product_code_pattern: str = ONLINE_RETAIL_PRODUCT_CODE
    max_quantity: int = 10_000


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="ingest",
    owners=["team:data-engineering"],
    kinds={"pandas", "parquet"},
    check_specs=[contract_check_spec("clean_events")],
    description="Purchases of real products only: cancellations, returns, non-product codes, bad prices, "
    "extreme quantities and duplicates removed and counted per reason (raw = kept + dropped). "
    "Customer ids are pseudonymised here (keyed HMAC) when ASSOC_PSEUDONYM_KEY is set.",
)
def clean_events(
    context: dg.AssetExecutionContext,
    config: CleaningConfig,
    raw_events: pd.DataFrame,
    pseudonymiser: PseudonymiserResource,
) -> Iterator:
    rules = CleaningRules(product_code_pattern=config.product_code_pattern, max_quantity=config.max_quantity)
    kept, report = clean(raw_events, rules)
    dropped = {k: v for k, v in report.dropped.items() if v}
    if kept.empty:
        raise InputError(
            f"clean_events: every one of the {report.raw_rows:,} rows of partition {context.partition_key} "
            f"was dropped ({', '.join(f'{k}: {v:,}' for k, v in dropped.items())}); nothing written"
        )
    # first table after raw: from here on (baskets, models, reports, synthetic data) ids are pseudonyms
    kept = pseudonymiser.pseudonymise(kept)
    privacy = pseudonymiser.metadata()
    ids = f"pseudonymised, key id {privacy['pseudonym_key_id']}" if pseudonymiser.enabled else "as in source"
    context.log.info(
        f"clean_events[{context.partition_key}]: kept {report.kept_rows:,}, dropped {dropped} "
        f"(customer ids {ids})"
    )
    contract = contract_check_result("clean_events", kept)  # before the write, as in raw_events
    yield dg.Output(
        kept,
        metadata={
            **event_table_metadata(kept),
            **privacy,
            **{f"dropped/{k}": v for k, v in report.dropped.items()},
            "raw_rows": report.raw_rows,
            "raw_events_run": latest_materialization_run(
                context.instance, "raw_events", context.partition_key
            )
            or "",
            "missing_user_id": report.missing_user_id,
            "names_normalised": report.names_normalised,
            "reconciles": report.reconciles(),
        },
    )
    yield contract
