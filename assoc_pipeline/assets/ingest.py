"""Ingest: the source event log sliced into monthly partitions (canonical schema), then cleaned.

Both assets validate the partition they write against their data contract (blocking checks).
"""

import dataclasses
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from assoc_pipeline.checks.contracts import contract_check_result, contract_check_spec
from assoc_pipeline.checks.data_loss import data_loss_check_result, data_loss_check_spec, reasons_markdown
from assoc_pipeline.core.data.cleaning import CleaningRules
from assoc_pipeline.core.data.cleaning import clean_events as clean
from assoc_pipeline.core.data.data_loss import DataLossFloors, assess_data_loss
from assoc_pipeline.core.data.rule_sets import rule_set_for_format
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.orchestration.config import config_for, settings_from_config
from assoc_pipeline.orchestration.lineage import latest_materialization_run
from assoc_pipeline.orchestration.metadata import event_table_metadata
from assoc_pipeline.orchestration.partitions import monthly_partitions
from assoc_pipeline.resources.event_source import EventSourceResource
from assoc_pipeline.resources.pseudonymiser import PseudonymiserResource
from assoc_pipeline.settings import get_settings


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


# Launchpad-editable; the defaults come from the project file's [cleaning] table (settings.py)
_CLEANING_DEFAULTS = {"rule_set": "auto", **get_settings().cleaning}
CleaningConfig = config_for(
    CleaningRules,
    "CleaningConfig",
    extra={
        f.name: (float, _CLEANING_DEFAULTS.get(f.name, f.default)) for f in dataclasses.fields(DataLossFloors)
    },
    defaults=_CLEANING_DEFAULTS,
)


@dg.asset(
    partitions_def=monthly_partitions,
    group_name="ingest",
    owners=["team:data-engineering"],
    kinds={"pandas", "parquet"},
    check_specs=[contract_check_spec("clean_events"), data_loss_check_spec()],
    description="Purchases only, by the cleaning rules of the source's format (core/data/rule_sets.py): "
    "missing ids, cancellations, returns, non-positive prices, duplicates (Online Retail also non-product "
    "codes and extreme quantities) removed and counted per rule (raw = kept + dropped). The data-loss "
    "check blocks downstream when too much was dropped. Customer ids are pseudonymised here (keyed HMAC) "
    "when ASSOC_PSEUDONYM_KEY is set.",
)
def clean_events(
    context: dg.AssetExecutionContext,
    config: CleaningConfig,
    raw_events: pd.DataFrame,
    pseudonymiser: PseudonymiserResource,
    event_source: EventSourceResource,
) -> Iterator:
    rule_set = config.rule_set
    if rule_set == "auto":
        rule_set = rule_set_for_format(event_source.source_format())
    rules = settings_from_config(CleaningRules, config, rule_set=rule_set)
    kept, report = clean(raw_events, rules)
    verdict = assess_data_loss(raw_events, kept, report, settings_from_config(DataLossFloors, config))
    dropped = {k: v for k, v in report.dropped.items() if v}
    if kept.empty:
        examples = report.examples["item_id"].head(3).tolist() if report.examples is not None else []
        raise InputError(
            f"clean_events: every one of the {report.raw_rows:,} rows of partition {context.partition_key} "
            f"was dropped ({', '.join(f'{k}: {v:,}' for k, v in dropped.items())}; e.g. item ids "
            f"{examples}); nothing written. {verdict.message(report)}"
        )
    # first table after raw: from here on (baskets, models, reports, synthetic data) ids are pseudonyms
    kept = pseudonymiser.pseudonymise(kept)
    privacy = pseudonymiser.metadata()
    ids = f"pseudonymised, key id {privacy['pseudonym_key_id']}" if pseudonymiser.enabled else "as in source"
    context.log.info(
        f"clean_events[{context.partition_key}]: kept {report.kept_rows:,}, dropped {dropped} "
        f"(rule set {rule_set}, customer ids {ids})"
    )
    contract = contract_check_result("clean_events", kept)  # before the write, as in raw_events
    yield dg.Output(
        kept,
        metadata={
            **event_table_metadata(kept),
            **privacy,
            **{f"dropped/{k}": v for k, v in report.dropped.items()},
            "rule_set": rule_set,
            "cleaning_rules": dg.MetadataValue.md(reasons_markdown(report, verdict)),
            "product_code_pattern": rules.pattern or "none",
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
    yield data_loss_check_result(report, verdict)
