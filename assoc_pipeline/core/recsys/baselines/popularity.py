"""Global popularity: the floor every method must clear (same list for every query)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.user_history import check_fitted, item_popularity
from assoc_pipeline.core.recsys.recommender import Recommender


class PopularityRecommender(Recommender):
    """Scores each item by the number of training baskets that hold it."""

    name = "popularity"

    def __init__(self) -> None:
        self.popularity_: np.ndarray | None = None

    def fit(self, train: BasketSet) -> Self:
        self.popularity_ = item_popularity(train)
        return self

    def _rows(self, n: int) -> np.ndarray:
        check_fitted(self, "popularity_")
        return np.broadcast_to(self.popularity_, (n, len(self.popularity_))).copy()

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        return self._rows(len(user_ids))

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        return self._rows(len(partial_baskets))
