"""Drift between the newest data and what models were trained on: popularity shift, new items.

Compares the baskets of the latest period (default: the last calendar month present) with all
baskets before it, on the shared vocabulary: Jensen-Shannon divergence of item popularity (0 =
same distribution, 1 = disjoint; base 2), items never seen before and the share of line items
they take, and the items whose basket share moved most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from assoc_pipeline.core.data.baskets import BasketSet


@dataclass
class DriftReport:
    reference_period: str
    current_period: str
    reference_baskets: int
    current_baskets: int
    popularity_js_divergence: float
    new_items: int
    new_item_share: float  # share of the current period's basket-item entries on new items
    movers: pd.DataFrame  # item_id, item_name, reference_share, current_share, change

    def metrics(self) -> dict[str, float]:
        return {
            "popularity_js_divergence": self.popularity_js_divergence,
            "new_items": float(self.new_items),
            "new_item_share": self.new_item_share,
            "reference_baskets": float(self.reference_baskets),
            "current_baskets": float(self.current_baskets),
        }


def popularity_drift(bs: BasketSet, since: str | pd.Timestamp | None = None, top: int = 10) -> DriftReport:
    """Drift of the baskets from ``since`` (default: start of the last month) vs those before."""
    times = pd.to_datetime(bs.baskets["basket_time"])
    if since is None:
        since = times.max().to_period("M").start_time
    since = pd.Timestamp(since)
    current = (times >= since).to_numpy()
    if current.all() or not current.any():
        raise ValueError(f"drift: need baskets both before and from {since:%Y-%m-%d}")
    ref_counts = np.asarray(bs.matrix[~current].sum(axis=0)).ravel().astype(float)
    cur_counts = np.asarray(bs.matrix[current].sum(axis=0)).ravel().astype(float)
    js = float(jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum(), base=2))
    new = (ref_counts == 0) & (cur_counts > 0)
    ref_share = ref_counts / (~current).sum()
    cur_share = cur_counts / current.sum()
    change = cur_share - ref_share
    order = np.argsort(-np.abs(change))[:top]
    movers = pd.DataFrame(
        {
            "item_id": bs.vocabulary["item_id"].to_numpy()[order],
            "item_name": bs.vocabulary["item_name"].to_numpy()[order],
            "reference_share": ref_share[order].round(4),
            "current_share": cur_share[order].round(4),
            "change": change[order].round(4),
        }
    )
    return DriftReport(
        reference_period=f"{times[~current].min():%Y-%m-%d} .. {since - pd.Timedelta(seconds=1):%Y-%m-%d}",
        current_period=f"{since:%Y-%m-%d} .. {times.max():%Y-%m-%d}",
        reference_baskets=int((~current).sum()),
        current_baskets=int(current.sum()),
        popularity_js_divergence=js,
        new_items=int(new.sum()),
        new_item_share=float(cur_counts[new].sum() / cur_counts.sum()),
        movers=movers,
    )
