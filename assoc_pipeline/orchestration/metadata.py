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


def as_metadata(values: dict[str, object]) -> dict[str, object]:
    """Plain service output -> Dagster metadata: markdown, links and pictures get their own kinds.

    A :class:`~assoc_pipeline.core.rich_values.Image` under key ``k`` becomes ``k`` (inline picture)
    and ``k_png`` (the file), as :func:`~assoc_pipeline.orchestration.images.image_metadata` does.
    """
    from assoc_pipeline.core.rich_values import Image, Markdown, Url
    from assoc_pipeline.orchestration.images import image_metadata

    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, Image):
            out.update(image_metadata(value, key))
        elif isinstance(value, Markdown):
            out[key] = dg.MetadataValue.md(value)
        elif isinstance(value, Url):
            out[key] = dg.MetadataValue.url(value)
        elif isinstance(value, dict | list):
            out[key] = dg.MetadataValue.json(value)
        else:
            out[key] = value
    return out
