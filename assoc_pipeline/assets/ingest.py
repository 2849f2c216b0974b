"""Ingest layer: the source event log, sliced into monthly partitions, in the canonical schema."""

from collections.abc import Iterator

import dagster as dg

from assoc_pipeline.assets.metadata import event_table_metadata
from assoc_pipeline.assets.partitions import monthly_partitions
from assoc_pipeline.checks.contracts import contract_check_result, contract_check_spec
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.resources.event_source import EventSourceResource


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
    yield dg.Output(
        part,
        metadata={
            **event_table_metadata(part),
            "source": event_source.path,
            "source_version": event_source.version(),
        },
    )
    yield contract_check_result("raw_events", part)
