"""The synthetic event generator produces valid, deterministic canonical events at scale."""

from __future__ import annotations

import pandas as pd

from assoc_pipeline.checks.contracts import validate_contract
from assoc_pipeline.core.data.baskets import basket_set_from_events
from assoc_pipeline.core.data.cleaning import clean_events
from assoc_pipeline.core.data.schema import CANONICAL_COLUMNS
from assoc_pipeline.core.data.synthetic_events import synthetic_events


def test_events_are_canonical_clean_and_seeded() -> None:
    a = synthetic_events(20_000, n_items=300, n_users=500, seed=7)
    b = synthetic_events(20_000, n_items=300, n_users=500, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == list(CANONICAL_COLUMNS)
    assert 15_000 < len(a) < 25_000
    kept, report = clean_events(a)
    assert report.kept_rows == len(a)  # nothing to clean: valid products, prices, quantities
    assert validate_contract("raw_events", a).passed
    share_anonymous = a.drop_duplicates("basket_id")["user_id"].isna().mean()
    assert 0.1 < share_anonymous < 0.3
    bs = basket_set_from_events(kept)
    assert bs.n_items <= 300 and bs.baskets["basket_time"].is_monotonic_increasing


def test_large_logs_keep_their_size_and_order() -> None:
    events = synthetic_events(400_000, seed=1)
    assert 360_000 < len(events) < 440_000
    assert events["event_time"].is_monotonic_increasing
