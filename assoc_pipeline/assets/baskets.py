"""Baskets: the mining and model input, built from the cleaned events; the catalogue; drift."""

from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_partitions, fingerprint
from assoc_pipeline.core.data.catalog import build_item_catalog
from assoc_pipeline.core.data.drift import popularity_drift
from assoc_pipeline.core.privacy.pseudonymise import pseudonym_share
from assoc_pipeline.orchestration.lineage import latest_materialization_run
from assoc_pipeline.orchestration.metadata import preview, time_range
from assoc_pipeline.orchestration.partitions import monthly_partitions

CLEAN_EVENTS = dg.AssetKey("clean_events")


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
    deps=[CLEAN_EVENTS],
    required_resource_keys={"io_manager"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Baskets (an invoice's distinct products) as a sparse basket x item matrix with its "
    "vocabulary, stored as Parquet (item lists + vocabulary table). Input of mining and models. "
    "Built partition by partition from the stored clean_events files (never all events in pandas).",
)
def baskets(context: dg.AssetExecutionContext) -> dg.Output[BasketSet]:
    io_manager = context.resources.io_manager
    keys = monthly_partitions.get_partition_keys(dynamic_partitions_store=context.instance)
    stored = {k: Path(io_manager.stored_path(CLEAN_EVENTS, k)) for k in keys}
    stored = {k: p for k, p in stored.items() if p.exists()}
    paths = list(stored.values())
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
            "data_version": fingerprint(bs),
            # the clean_events materializations read: the gate checks their contracts
            "clean_events_runs": dg.MetadataValue.json(
                {k: latest_materialization_run(context.instance, "clean_events", k) for k in stored}
            ),
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
