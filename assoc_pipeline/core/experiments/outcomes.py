"""What happened after each exposure: which shown items the person bought within a window.

An exposure of a user is followed by that user's baskets in ``(time, time + window]``; an exposure
of an anonymous basket (no user, a basket/session id) by the basket of that id, if it was bought
in the window. An exposure whose window has not closed by the last purchase in the data is
*pending*: its purchases may not have arrived through ingest yet, so it is left out of the rates
(counting it would read "no purchase yet" as "no purchase").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OUTCOME_COLUMNS = ("time", "experiment", "unit_id", "arm", "query_kind", "n_shown", "n_bought", "n_hit")


def as_naive_utc(times: pd.Series) -> pd.Series:
    """Timestamps on one clock: tz-aware ones in UTC without the zone, naive ones as they are."""
    times = pd.to_datetime(times)
    return times.dt.tz_convert("UTC").dt.tz_localize(None) if times.dt.tz is not None else times


def _followed_by(exposures: pd.DataFrame, baskets: pd.DataFrame) -> pd.DataFrame:
    """(exposure, basket_id, basket_time) for every basket that may follow an exposure."""
    known_user = exposures["user_id"].notna()
    by_user = exposures.loc[known_user, ["exposure", "user_id"]].merge(
        baskets.dropna(subset=["user_id"]), on="user_id"
    )
    anonymous = exposures.loc[~known_user & exposures["basket_id"].notna(), ["exposure", "basket_id"]]
    by_basket = anonymous.merge(baskets.drop(columns=["user_id"]), on="basket_id")
    cols = ["exposure", "basket_id", "basket_time"]
    return pd.concat([by_user[cols], by_basket[cols]], ignore_index=True)


def exposure_outcomes(
    exposures: pd.DataFrame, purchases: pd.DataFrame, window: pd.Timedelta
) -> tuple[pd.DataFrame, int]:
    """(one row per closed exposure with shown / bought / hit counts, number of pending exposures).

    ``exposures`` has the exposure table's columns; ``purchases`` one row per (basket, item):
    ``basket_id``, ``user_id``, ``basket_time``, ``item_id``.
    """
    exp = exposures.reset_index(drop=True)
    exp = exp.assign(exposure=np.arange(len(exp)), time=as_naive_utc(exp["time"]))
    if purchases.empty or exp.empty:
        return _frame(exp.iloc[:0], 0, 0, 0), len(exp)
    data_end = as_naive_utc(purchases["basket_time"]).max()
    closed = exp[exp["time"] + window <= data_end]
    baskets = purchases[["basket_id", "user_id", "basket_time"]].drop_duplicates("basket_id")
    baskets = baskets.assign(basket_time=as_naive_utc(baskets["basket_time"]))
    pairs = _followed_by(closed, baskets)
    start = closed.set_index("exposure")["time"].reindex(pairs["exposure"]).to_numpy()
    when = pairs["basket_time"].to_numpy()
    pairs = pairs[(when > start) & (when <= start + window)]
    bought = (
        pairs[["exposure", "basket_id"]]
        .merge(purchases[["basket_id", "item_id"]].astype({"item_id": str}), on="basket_id")[
            ["exposure", "item_id"]
        ]
        .drop_duplicates()
    )
    shown = (
        closed[["exposure", "items"]]
        .explode("items")
        .dropna()
        .rename(columns={"items": "item_id"})
        .astype({"item_id": str})
        .drop_duplicates()
    )
    hits = shown.merge(bought, on=["exposure", "item_id"])

    def count(table: pd.DataFrame) -> np.ndarray:
        return table.groupby("exposure").size().reindex(closed["exposure"], fill_value=0).to_numpy()

    return _frame(closed, count(shown), count(bought), count(hits)), len(exp) - len(closed)


def _frame(closed: pd.DataFrame, n_shown, n_bought, n_hit) -> pd.DataFrame:
    out = closed[list(OUTCOME_COLUMNS[:5])].reset_index(drop=True)
    return out.assign(n_shown=n_shown, n_bought=n_bought, n_hit=n_hit).astype(
        {"n_shown": int, "n_bought": int, "n_hit": int}
    )
