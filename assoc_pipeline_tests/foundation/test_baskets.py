"""Baskets: the sparse matrix is right, survives Parquet, and is replaced atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from assoc_pipeline.core.data import baskets as baskets_mod
from assoc_pipeline.core.data.baskets import basket_set_from_events, load_basket_set, save_basket_set


def events() -> pd.DataFrame:
    t = pd.Timestamp("2011-01-01")
    rows = [
        (t + pd.Timedelta(hours=2), "B2", "u2", "20000", "MUG"),
        (t, "B1", "u1", "10000", "CUP"),
        (t, "B1", "u1", "20000", "MUG"),
        (t, "B1", "u1", "20000", "MUG"),  # same item twice in a basket counts once
        (t + pd.Timedelta(hours=1), "B3", None, "30000", "JUG"),
    ]
    df = pd.DataFrame(rows, columns=["event_time", "basket_id", "user_id", "item_id", "item_name"])
    return df.assign(country="UK").astype({"user_id": "str"})


def test_matrix_rows_are_baskets_in_time_order() -> None:
    bs = basket_set_from_events(events())
    assert bs.baskets["basket_id"].tolist() == ["B1", "B3", "B2"]
    assert bs.vocabulary["item_id"].tolist() == ["10000", "20000", "30000"]
    assert bs.matrix.toarray().astype(int).tolist() == [[1, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert bs.baskets["n_items"].tolist() == [2, 1, 1]
    assert bs.vocabulary["n_baskets"].tolist() == [1, 2, 1]
    assert pd.isna(bs.baskets["user_id"].iloc[1])


def test_parquet_round_trip_is_exact_and_readable_without_us(tmp_path: Path) -> None:
    bs = basket_set_from_events(events())
    save_basket_set(bs, tmp_path / "baskets")
    back = load_basket_set(tmp_path / "baskets")
    assert (back.matrix != bs.matrix).nnz == 0
    pd.testing.assert_frame_equal(back.baskets, bs.baskets)
    # Plain Parquet: the item lists are a list<int32> column any tool can read.
    table = pq.read_table(tmp_path / "baskets" / "baskets.parquet")
    assert table.column("items").to_pylist() == [[0, 1], [2], [1]]


def test_failed_write_keeps_last_good_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = basket_set_from_events(events())
    save_basket_set(good, tmp_path / "baskets")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(baskets_mod.pq, "write_table", boom)
    smaller = good.subset(np.array([0]))
    with pytest.raises(OSError, match="disk full"):
        save_basket_set(smaller, tmp_path / "baskets")
    assert load_basket_set(tmp_path / "baskets").n_baskets == 3
    assert [p.name for p in tmp_path.iterdir()] == ["baskets"]  # no temp leftovers


def test_empty_events_are_refused() -> None:
    with pytest.raises(ValueError, match="no clean events"):
        basket_set_from_events(events().iloc[:0])
