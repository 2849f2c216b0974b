"""The one interface every recommender implements, so evaluation treats rules, baselines and
neural models alike (same split, same candidates, same metrics)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet


class Recommender(ABC):
    """Scores the whole catalogue (``n_items`` columns of the BasketSet vocabulary).

    * ``fit`` sees only training baskets (everything before a cutoff);
    * ``score_next_basket`` scores items for a user's next basket from that user's training
      history (users without history get whatever the method can offer, e.g. popularity);
    * ``score_completion`` scores items to complete partial baskets (item-to-item task).

    Higher score = more relevant. Evaluation masks items already in a partial basket itself.
    """

    name: str = "recommender"
    supports_next_basket: bool = True
    supports_completion: bool = True
    # True: scores come from a purchase history given as input (``with_history``), so the model
    # follows new history without retraining; False: what it knows of users is learned state,
    # and it must be refit to know newer history.
    reads_history: ClassVar[bool] = False
    explains_scores: ClassVar[bool] = False  # per-feature contributions (core/recsys/explanations.py)
    # True: ``score_completion`` also takes ``user_ids=`` (the customer of each partial basket, None
    # when anonymous) and reads that customer's history; evaluation and serving pass it then
    personal_completion: ClassVar[bool] = False

    @abstractmethod
    def fit(self, train: BasketSet) -> Self: ...

    def with_history(self, baskets: BasketSet) -> Self:
        """Score users from the history in ``baskets`` from now on (e.g. everything before the test
        cutoff). Models with ``reads_history`` replace their history; the others keep what they
        learned (refit them instead), so calling this is always safe."""
        return self

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        """(len(user_ids), n_items) float32 scores."""
        raise NotImplementedError(f"{self.name} does not do next-basket recommendation")

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        """(len(partial_baskets), n_items) float32 scores; each partial basket = item indices."""
        raise NotImplementedError(f"{self.name} does not do basket completion")
