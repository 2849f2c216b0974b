"""A small planted-pattern dataset: users with stable favourite items plus co-occurring item groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_events
from assoc_pipeline.core.recsys.split import BasketSplit, temporal_split

N_ITEMS = 40


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module (small nets: threads only add scheduling noise), then back."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


GROUPS = [list(range(g * 4, g * 4 + 4)) for g in range(6)]  # items 0..23 come in groups of four


def planted_baskets(n_users: int = 80, n_baskets: int = 10, seed: int = 0) -> BasketSet:
    """Each user re-buys 3 favourite items (from 24..39) and adds one of their 2 preferred groups.

    Popularity cannot know a user's favourites; a model that learns users and co-occurrence can.
    """
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for u in range(n_users):
        favs = rng.choice(np.arange(24, N_ITEMS), 3, replace=False)
        groups = rng.choice(len(GROUPS), 2, replace=False)
        days = np.sort(rng.uniform(0, 200, n_baskets))
        for b, day in enumerate(days):
            items = set(favs[rng.random(3) < 0.8].tolist())
            items |= set(GROUPS[groups[rng.integers(2)]][: rng.integers(2, 5)])
            if rng.random() < 0.3:
                items.add(int(rng.integers(N_ITEMS)))
            for it in items:
                rows.append(
                    (start + pd.Timedelta(days=float(day)), f"u{u}-b{b}", f"u{u}", f"I{it:02d}", "GB")
                )
    ev = pd.DataFrame(rows, columns=["event_time", "basket_id", "user_id", "item_id", "country"])
    ev["item_name"] = ev["item_id"]
    ev["user_id"] = ev["user_id"].astype("string")
    return basket_set_from_events(ev)


@pytest.fixture(scope="session")
def planted() -> BasketSet:
    return planted_baskets()


@pytest.fixture(scope="session")
def planted_split(planted: BasketSet) -> BasketSplit:
    return temporal_split(planted, "2024-05-20", "2024-06-19")
