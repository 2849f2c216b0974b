"""An example log of another retailer, for the "run it on your own data" walkthrough and its test.

Not the shipped Online Retail file in another costume: its own column names (``ts``, ``order_id``,
``customer``, ``sku``, ``product``, ``qty``, ``price``), 7-digit numeric product ids, a grocery
rhythm (customers re-buy their staples every one to four weeks and add items that go together),
returns as negative quantities, and one calendar year. It exercises what a new retailer's log
does: the column mapping, the generic cleaning rules, partitions from the data's own months and
split cutoffs from the data's own time range. Seeded: the same arguments give the same file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMN_MAPPING = {
    "event_time": "ts",
    "basket_id": "order_id",
    "user_id": "customer",
    "item_id": "sku",
    "item_name": "product",
    "quantity": "qty",
    "unit_price": "price",
}
AISLES = ("DAIRY", "BAKERY", "PRODUCE", "PANTRY", "DRINKS", "FROZEN", "HOUSEHOLD", "SNACKS")


def example_retailer_log(
    n_customers: int = 800,
    n_products: int = 600,
    year: int = 2023,
    return_share: float = 0.01,
    seed: int = 7,
) -> pd.DataFrame:
    """One row per order line, in the example retailer's own column names (see :data:`COLUMN_MAPPING`)."""
    if n_customers < 1 or n_products < 20:
        raise ValueError("example_retailer_log: needs at least 1 customer and 20 products")
    rng = np.random.default_rng(seed)
    skus = rng.choice(np.arange(1_000_000, 9_999_999), n_products, replace=False)
    aisle = rng.integers(0, len(AISLES), n_products)
    names = [f"{AISLES[a]} PRODUCT {i:04d}" for i, a in enumerate(aisle)]
    prices = np.round(rng.lognormal(1.2, 0.6, n_products), 2) + 0.05
    popularity = 1.0 / np.arange(1, n_products + 1) ** 0.9
    popularity /= popularity.sum()
    companions = rng.integers(0, n_products, size=(n_products, 3))  # items that go with each item
    start = pd.Timestamp(f"{year}-01-01")
    last = pd.Timestamp(f"{year}-12-31 23:59")  # returns stay in the year: no month of returns only
    rows = []
    for c in range(n_customers):
        staples = rng.choice(n_products, rng.integers(3, 9), replace=False, p=popularity)
        every = rng.uniform(7, 28)  # days between orders
        day = rng.uniform(0, every)
        order = 0
        while day < 364:
            items = set(staples[rng.random(len(staples)) < 0.6].tolist())
            for extra in rng.choice(n_products, rng.integers(1, 5), p=popularity):
                items.add(int(extra))
                if rng.random() < 0.5:
                    items.add(int(companions[extra, rng.integers(3)]))
            when = (start + pd.Timedelta(days=float(day))).floor("D") + pd.Timedelta(
                hours=int(rng.integers(8, 21)), minutes=int(rng.integers(0, 60))
            )
            oid = f"{c:05d}{order:03d}"
            for i in sorted(items):
                qty = int(rng.integers(1, 4))
                rows.append((when, oid, f"{c:06d}", skus[i], names[i], qty, prices[i]))
                if rng.random() < return_share:  # returned a few days later
                    back = min(when + pd.Timedelta(days=int(rng.integers(1, 5))), last)
                    rows.append((back, f"R{oid}", f"{c:06d}", skus[i], names[i], -qty, prices[i]))
            order += 1
            day += rng.exponential(every)
    log = pd.DataFrame(rows, columns=["ts", "order_id", "customer", "sku", "product", "qty", "price"])
    return log.sort_values("ts", kind="stable").reset_index(drop=True)
