"""Popularity drift on a hand-made log with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.data.baskets import basket_set_from_events
from assoc_pipeline.core.data.drift import popularity_drift


def log(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["event_time", "basket_id", "item_id"])
    return df.assign(
        event_time=pd.to_datetime(df["event_time"]), user_id=None, item_name=df["item_id"], country="UK"
    ).astype({"user_id": "str"})


def test_new_items_and_shift_are_measured() -> None:
    rows = [
        ("2011-01-05", "1", "A"),
        ("2011-01-05", "1", "B"),
        ("2011-01-20", "2", "A"),
        ("2011-02-03", "3", "A"),
        ("2011-02-04", "4", "C"),  # C is new in February
    ]
    report = popularity_drift(basket_set_from_events(log(rows)))
    assert report.current_period.startswith("2011-02-01") and report.current_baskets == 2
    assert report.new_items == 1 and report.new_item_share == pytest.approx(0.5)
    # reference popularity (A 2, B 1, C 0) vs current (A 1, B 0, C 1), normalised, JS in base 2
    p, q = np.array([2, 1, 0]) / 3, np.array([1, 0, 1]) / 2
    m = (p + q) / 2
    kl = lambda a, b: np.sum(np.where(a > 0, a * np.log2(np.where(a > 0, a, 1) / b), 0))  # noqa: E731
    assert report.popularity_js_divergence == pytest.approx(np.sqrt((kl(p, m) + kl(q, m)) / 2))
    top = report.movers.set_index("item_id")["change"]
    assert top["C"] == pytest.approx(0.5) and top["B"] == pytest.approx(-0.5)


def test_needs_both_periods() -> None:
    rows = [("2011-02-03", "3", "A")]
    with pytest.raises(ValueError, match="need baskets both before and from"):
        popularity_drift(basket_set_from_events(log(rows)))
