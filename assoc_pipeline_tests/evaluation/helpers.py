"""Tiny hand-made basket sets with users and times, for split/baseline tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_events


def make_baskets(rows: list[tuple[str | None, str, list[int]]], n_items: int) -> BasketSet:
    """rows = (user_id or None, ISO time, item indices); kept in time order like the real builder."""
    rows = sorted(rows, key=lambda r: r[1])
    indptr = np.concatenate([[0], np.cumsum([len(set(r[2])) for r in rows])])
    indices = np.concatenate([sorted(set(r[2])) for r in rows]).astype(np.int64)
    m = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(rows), n_items))
    baskets = pd.DataFrame(
        {
            "basket_id": [f"b{i}" for i in range(len(rows))],
            "user_id": pd.array([r[0] for r in rows], dtype="string"),
            "basket_time": pd.to_datetime([r[1] for r in rows]),
            "country": "UK",
            "n_items": np.diff(indptr),
        }
    )
    vocab = pd.DataFrame(
        {
            "item_idx": np.arange(n_items),
            "item_id": [f"i{i}" for i in range(n_items)],
            "item_name": [f"item {i}" for i in range(n_items)],
            "n_baskets": np.asarray(m.sum(axis=0)).ravel(),
        }
    )
    return BasketSet(m, baskets, vocab)


def baskets_of(rows: list[tuple[str, str | None, list[str]]]) -> BasketSet:
    """(day, customer or None, item ids) rows -> a BasketSet through the real event builder, one
    basket per row (item names = ids)."""
    events = [
        (pd.Timestamp(day), f"b{i}", user, item, "GB")
        for i, (day, user, items) in enumerate(rows)
        for item in items
    ]
    ev = pd.DataFrame(events, columns=["event_time", "basket_id", "user_id", "item_id", "country"])
    ev["item_name"] = ev["item_id"]
    ev["user_id"] = ev["user_id"].astype("string")
    return basket_set_from_events(ev)
