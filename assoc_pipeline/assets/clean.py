"""Clean layer: cleaned events, the item catalogue and baskets (the mining/model input)."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.assets.metadata import event_table_metadata, preview, time_range
from assoc_pipeline.assets.partitions import monthly_partitions
from assoc_pipeline.checks.contracts import contract_check_result, contract_check_spec
from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_partitions
from assoc_pipeline.core.data.catalog import build_item_catalog
from assoc_pipeline.core.data.cleaning import ONLINE_RETAIL_PRODUCT_CODE, CleaningRules
from assoc_pipeline.core.data.cleaning import clean_events as clean
from assoc_pipeline.core.data.drift import popularity_drift
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.privacy.pseudonymise import pseudonym_share
from assoc_pipeline.resources.pseudonymiser import PseudonymiserResource


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
    yield dg.Output(
        kept,
        metadata={
            **event_table_metadata(kept),
            **privacy,
            **{f"dropped/{k}": v for k, v in report.dropped.items()},
            "raw_rows": report.raw_rows,
            "missing_user_id": report.missing_user_id,
            "names_normalised": report.names_normalised,
            "reconciles": report.reconciles(),
        },
    )
    yield contract_check_result("clean_events", kept)


@dg.asset(
    group_name="ingest",
    owners=["team:data-engineering"],
    kinds={"pandas", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="One row per product: most common name, events, baskets, units, revenue, first/last seen.",
)
def item_catalog(context: dg.AssetExecutionContext, clean_events: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    catalog = build_item_catalog(clean_events)
    return dg.Output(
        catalog,
        metadata={
            "dagster/row_count": len(catalog),
            "top_items": preview(catalog.sort_values("n_baskets", ascending=False), 10),
        },
    )


@dg.asset(
    group_name="ingest",
    owners=["team:data-engineering"],
    kinds={"scipy", "parquet"},
    deps=[clean_events],
    required_resource_keys={"io_manager"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Baskets (an invoice's distinct products) as a sparse basket x item matrix with its "
    "vocabulary, stored as Parquet (item lists + vocabulary table). Input of mining and models. "
    "Built partition by partition from the stored clean_events files (never all events in pandas).",
)
def baskets(context: dg.AssetExecutionContext) -> dg.Output[BasketSet]:
    io_manager = context.resources.io_manager
    keys = clean_events.partitions_def.get_partition_keys(dynamic_partitions_store=context.instance)
    paths = [p for p in (Path(io_manager.stored_path(clean_events.key, k)) for k in keys) if p.exists()]
    if not paths:
        raise FileNotFoundError(
            f"clean_events: no materialized partition among {len(keys)}; materialize it first"
        )
    context.log.info(f"baskets: streaming {len(paths)} of {len(keys)} clean_events partitions")
    bs = basket_set_from_partitions(paths)
    sizes = bs.baskets["n_items"]
    context.log.info(f"baskets: {bs.n_baskets:,} baskets x {bs.n_items:,} items, {bs.matrix.nnz:,} entries")
    pseudonymised = pseudonym_share(bs.baskets["user_id"])
    if 0 < pseudonymised < 1:
        context.log.warning(
            f"baskets: only {pseudonymised:.0%} of the customer ids are pseudonyms: some clean_events "
            "partitions were written without ASSOC_PSEUDONYM_KEY; re-materialize them all with the key"
        )
    return dg.Output(
        bs,
        metadata={
            "dagster/row_count": bs.n_baskets,
            "items": bs.n_items,
            "users": int(bs.baskets["user_id"].nunique()),
            "anonymous_baskets": int(bs.baskets["user_id"].isna().sum()),
            "ids_pseudonymised": bool(pseudonymised == 1),
            "nonzeros": int(bs.matrix.nnz),
            "density": float(bs.matrix.nnz / max(1, bs.n_baskets * bs.n_items)),
            "mean_basket_size": float(sizes.mean()),
            "max_basket_size": int(sizes.max()),
            **time_range(bs.baskets["basket_time"]),
            "preview": preview(bs.baskets),
        },
    )


class DriftConfig(dg.Config):
    """Start of the 'current' period; empty = the start of the newest month in the data."""

    since: str = ""


@dg.asset(
    group_name="ingest",
    owners=["team:data-engineering"],
    kinds={"pandas"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Drift of the newest month against the history models learn from: item popularity "
    "shift (Jensen-Shannon), new items and their share, the biggest movers.",
)
def data_drift(
    context: dg.AssetExecutionContext, config: DriftConfig, baskets: BasketSet
) -> dg.Output[pd.DataFrame]:
    report = popularity_drift(baskets, config.since or None)
    context.log.info(
        f"drift {report.current_period} vs {report.reference_period}: "
        f"JS {report.popularity_js_divergence:.3f}, "
        f"{report.new_items} new items ({report.new_item_share:.1%} of line items)"
    )
    return dg.Output(
        report.movers,
        metadata={
            **report.metrics(),
            "reference_period": report.reference_period,
            "current_period": report.current_period,
            "top_movers": dg.MetadataValue.md(report.movers.to_markdown(index=False)),
        },
    )
