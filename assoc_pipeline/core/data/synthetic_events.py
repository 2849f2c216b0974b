"""A seeded synthetic event log (Quest-style baskets with users, timestamps, prices) for scale tests.

Baskets come from :func:`quest_baskets`; each is given a customer (Zipf-like activity, some
anonymous baskets), a timestamp spread uniformly over a date range and a per-item price, then
exploded to canonical event lines. Sizes reach millions of events in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from assoc_pipeline.core.data.quest_baskets import quest_baskets
from assoc_pipeline.core.data.schema import CANONICAL_COLUMNS


def synthetic_events(
    n_events: int,
    n_items: int = 2000,
    n_users: int = 5000,
    avg_basket_len: float = 5.0,
    start: str = "2011-01-01",
    end: str = "2011-12-31",
    anonymous_share: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """About ``n_events`` canonical events (whole baskets, so the count is approximate)."""
    if n_events < 1 or n_users < 1:
        raise ValueError("synthetic_events: n_events and n_users must be >= 1")
    rng = np.random.default_rng(seed)
    n_baskets = max(1, round(n_events / avg_basket_len))
    bs = quest_baskets(n_baskets, n_items=n_items, avg_len=avg_basket_len, seed=seed)
    m = bs.matrix
    sizes = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), sizes)

    activity = 1.0 / np.arange(1, n_users + 1) ** 0.8  # a few heavy buyers, a long tail
    users = rng.choice(n_users, size=n_baskets, p=activity / activity.sum())
    anonymous = rng.random(n_baskets) < anonymous_share
    user_ids = pd.Series(np.char.add("U", users.astype(str)), dtype="str").where(~anonymous, None)
    t0, t1 = pd.Timestamp(start).value, pd.Timestamp(end).value
    times = pd.to_datetime(np.sort(rng.integers(t0, t1, size=n_baskets))).floor("min")
    item_codes = np.char.add("1", np.char.zfill(np.arange(n_items).astype(str), 4))  # 5-digit product codes
    prices = np.round(rng.lognormal(1.0, 0.7, size=n_items), 2) + 0.01

    events = pd.DataFrame(
        {
            "event_time": times[rows],
            "basket_id": np.char.add("S", rows.astype(str)),
            "user_id": user_ids.to_numpy()[rows],
            "item_id": item_codes[m.indices],
            "item_name": np.char.add("SYNTHETIC ITEM ", item_codes[m.indices]),
            "quantity": rng.integers(1, 13, size=len(rows)),
            "unit_price": prices[m.indices],
            "event_type": "purchase",
            "country": "Synthetia",
        }
    )
    return events.astype({c: t for c, t in CANONICAL_COLUMNS.items() if c != "user_id"}).astype(
        {"user_id": "str"}
    )
