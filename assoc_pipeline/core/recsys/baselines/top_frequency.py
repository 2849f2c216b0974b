"""Personal top-frequency: a user's own most frequently bought items (Li et al. 2023 "P-TopFreq").

Repeat purchases dominate grocery-like retail, so this is the baseline next-basket models most
often fail to beat. Ties and users without history fall back to global popularity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.user_history import (
    backoff,
    check_fitted,
    item_popularity,
    lookup,
    user_item_counts,
)
from assoc_pipeline.core.recsys.recommender import Recommender


class PersonalTopFrequencyRecommender(Recommender):
    """Score = baskets of the user holding the item + popularity in [0, 1) as tie-break."""

    name = "personal_top_frequency"
    supports_completion = False  # a partial basket has no purchase history of its own

    def __init__(self) -> None:
        self.users_: pd.Index | None = None
        self.counts_: sp.csr_matrix | None = None
        self.backoff_: np.ndarray | None = None

    def fit(self, train: BasketSet) -> Self:
        self.users_, self.counts_ = user_item_counts(train)
        self.backoff_ = backoff(item_popularity(train))
        return self

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        check_fitted(self, "counts_")
        rows = lookup(self.users_, user_ids)
        out = np.broadcast_to(self.backoff_, (len(rows), len(self.backoff_))).copy()
        known = rows >= 0
        if known.any():
            out[known] += self.counts_[rows[known]].toarray()
        return out
