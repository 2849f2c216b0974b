"""Metadata a user wants to see in the Dagster UI for table assets."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def preview(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False))


def time_range(times: pd.Series) -> dict[str, str]:
    if times.dropna().empty:
        return {"first_event": "n/a", "last_event": "n/a"}
    return {"first_event": str(times.min()), "last_event": str(times.max())}


def top_items(events: pd.DataFrame, n: int = 10) -> dg.MetadataValue:
    top = (
        events.groupby(["item_id"], dropna=True)
        .agg(item_name=("item_name", "first"), baskets=("basket_id", "nunique"))
        .sort_values("baskets", ascending=False)
        .head(n)
        .reset_index()
    )
    return dg.MetadataValue.md(top.to_markdown(index=False))


def event_table_metadata(events: pd.DataFrame) -> dict[str, object]:
    return {
        "dagster/row_count": len(events),
        "baskets": int(events["basket_id"].nunique()),
        "users": int(events["user_id"].nunique()),
        "items": int(events["item_id"].nunique()),
        **time_range(events["event_time"]),
        "top_items": top_items(events),
        "preview": preview(events),
    }
