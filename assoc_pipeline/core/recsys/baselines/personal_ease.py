"""EASE completion that also knows the customer: the partial basket's EASE scores plus the
customer's own buying habit.

Why a baseline of its own: about three quarters of the completion queries on the shipped log come
from a known customer, and what that customer usually buys is a strong hint of what is missing from
the basket. A model given the customer's history must beat *this*, not history-blind EASE, or the
comparison flatters it. Score of item i for a basket of customer u:

    z_i + weight * log(1 + scale * share_ui)

with z the basket's EASE scores standardised over the catalogue (so ``weight`` means the same for a
2-item and a 40-item basket) and share_ui the fraction of u's history baskets holding i. An
anonymous basket, or a customer without history, gets EASE's ranking unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.ease import EASERecommender
from assoc_pipeline.core.recsys.baselines.user_history import check_fitted, lookup, user_item_counts


def history_shares(history: BasketSet) -> tuple[pd.Index, sp.csr_matrix]:
    """(users, user x item CSR): the share of each known user's baskets that hold each item."""
    users, counts = user_item_counts(history)
    known = history.baskets["user_id"].dropna().astype(str)
    n_baskets = known.value_counts().reindex(users).to_numpy(dtype=np.float32)
    return users, (sp.diags(1.0 / np.maximum(n_baskets, 1.0)).astype(np.float32) @ counts).tocsr()


def add_customer_habit(
    basket_scores: np.ndarray,
    user_ids: Sequence[str | None] | None,
    users: pd.Index,
    shares: sp.csr_matrix,
    weight: float,
    scale: float,
) -> np.ndarray:
    """``basket_scores`` standardised per row, plus ``weight * log1p(scale * share)`` for rows whose
    customer has history (the others: standardised only, i.e. the same ranking)."""
    out = np.asarray(basket_scores, dtype=np.float32)
    out = (out - out.mean(axis=1, keepdims=True)) / (out.std(axis=1, keepdims=True) + 1e-9)
    if user_ids is None or weight == 0:
        return out
    if len(user_ids) != len(out):
        raise ValueError(f"personal completion: {len(user_ids)} user ids for {len(out)} baskets")
    ids = [u if isinstance(u, str) and u else "\0anonymous" for u in user_ids]
    return add_habit(out, lookup(users, ids), shares, weight, scale)


def add_habit(
    scores: np.ndarray, rows: np.ndarray, shares: sp.csr_matrix, weight: float, scale: float
) -> np.ndarray:
    """``scores`` plus ``weight * log1p(scale * share)`` (in place) for the rows whose customer row
    in ``shares`` is known (``rows`` >= 0): the habit term of personal EASE."""
    known = np.flatnonzero(rows >= 0)
    if len(known):
        habit = shares[rows[known]].tocoo()  # (row, item) pairs are unique: += adds each once
        scores[known[habit.row], habit.col] += weight * np.log1p(scale * habit.data)
    return scores


class PersonalEASERecommender(EASERecommender):
    """EASE of the partial basket plus the customer's habit (module docstring); completion only."""

    name = "ease_personal"
    supports_next_basket = False
    personal_completion: ClassVar[bool] = True

    def __init__(
        self, l2: float = 50.0, weight: float = 2.0, scale: float = 10.0, max_items: int | None = None
    ) -> None:
        super().__init__(l2, max_items)
        if weight < 0 or scale <= 0:
            raise ValueError(f"personal EASE: weight must be >= 0 and scale > 0, got {weight}, {scale}")
        self.weight, self.scale = weight, scale
        self.shares_: sp.csr_matrix | None = None
        self.share_users_: pd.Index | None = None

    def fit(self, train: BasketSet) -> Self:
        super().fit(train)
        self.share_users_, self.shares_ = history_shares(train)
        return self

    def with_weight(self, weight: float) -> PersonalEASERecommender:
        """The same fitted model at another habit ``weight`` (no refit: tuning scores a grid of
        weights on one EASE inverse, which costs minutes on a 100k-item catalogue)."""
        if weight < 0:
            raise ValueError(f"personal EASE: weight must be >= 0, got {weight}")
        other = copy.copy(self)
        other.weight = weight
        return other

    def score_completion(
        self, partial_baskets: Sequence[np.ndarray], user_ids: Sequence[str | None] | None = None
    ) -> np.ndarray:
        check_fitted(self, "shares_")
        scores = super().score_completion(partial_baskets)
        return add_customer_habit(scores, user_ids, self.share_users_, self.shares_, self.weight, self.scale)
