"""The item catalogue: what each product is and how it sells."""

from __future__ import annotations

import pandas as pd


def build_item_catalog(events: pd.DataFrame) -> pd.DataFrame:
    """One row per item_id from clean events; the name is the most frequent normalised name."""
    revenue = events["quantity"] * events["unit_price"]
    grouped = events.assign(revenue=revenue).groupby("item_id", sort=True)
    names = grouped["item_name"].agg(lambda s: s.mode().iat[0] if s.notna().any() else None)
    catalog = pd.DataFrame(
        {
            "item_name": names,
            "n_events": grouped.size(),
            "n_baskets": grouped["basket_id"].nunique(),
            "n_users": grouped["user_id"].nunique(),
            "total_quantity": grouped["quantity"].sum(),
            "revenue": grouped["revenue"].sum(),
            "mean_unit_price": grouped["unit_price"].mean(),
            "first_seen": grouped["event_time"].min(),
            "last_seen": grouped["event_time"].max(),
        }
    ).reset_index()
    catalog["item_name"] = catalog["item_name"].fillna(catalog["item_id"])
    return catalog
