"""Item-kNN with cosine similarity on the basket x item matrix (Sarwar et al. 2001, Deshpande &
Karypis 2004): the classic item-to-item "bought together" baseline the rules must be set beside."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.user_history import (
    backoff,
    basket_matrix,
    check_fitted,
    item_popularity,
    lookup,
    user_item_counts,
)
from assoc_pipeline.core.recsys.recommender import Recommender


class ItemKNNRecommender(Recommender):
    """Completion: sum of cosine similarities to the basket's items. Next-basket: the user's
    history (baskets per item) times the similarity matrix plus ``self_weight`` times the history
    itself, so an item the user buys often keeps its place (repeats count in this domain; the
    default was picked on the validation period, train < 2011-06-01).

    ``n_neighbors`` keeps only each item's most similar items (None = all); ``shrink`` damps
    similarities resting on few co-occurrences. Above :data:`DENSE_MAX_ITEMS` items the
    similarity matrix is kept sparse (only pairs bought together): the same similarities, without
    a 40 GB matrix at 100k items.
    """

    name = "item_knn"

    def __init__(self, n_neighbors: int | None = None, shrink: float = 0.0, self_weight: float = 4.0) -> None:
        self.n_neighbors = n_neighbors
        self.shrink = shrink
        self.self_weight = self_weight
        self.similarity_: np.ndarray | None = None
        self.users_: pd.Index | None = None
        self.history_: sp.csr_matrix | None = None
        self.backoff_: np.ndarray | None = None

    def fit(self, train: BasketSet) -> Self:
        x = train.matrix.astype(np.float32)
        self.users_, self.history_ = user_item_counts(train)
        self.backoff_ = backoff(item_popularity(train)) * 1e-3
        if x.shape[1] > DENSE_MAX_ITEMS:
            self.similarity_ = sparse_cosine(x, self.shrink, self.n_neighbors)
            return self
        co = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(co)).astype(np.float32)
        denom = np.outer(norms, norms) + self.shrink
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = np.where(denom > 0, co / denom, 0.0).astype(np.float32)
        np.fill_diagonal(sim, 0.0)
        if self.n_neighbors is not None and self.n_neighbors < sim.shape[0] - 1:
            drop = np.argpartition(-sim, self.n_neighbors, axis=1)[:, self.n_neighbors :]
            np.put_along_axis(sim, drop, 0.0, axis=1)
        self.similarity_ = sim
        return self

    def _times_similarity(self, q: sp.spmatrix) -> np.ndarray:
        s = q @ self.similarity_
        return s.toarray() if sp.issparse(s) else np.asarray(s)

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        check_fitted(self, "similarity_")
        rows = lookup(self.users_, user_ids)
        out = np.broadcast_to(self.backoff_, (len(rows), len(self.backoff_))).copy()
        known = rows >= 0
        if known.any():
            h = self.history_[rows[known]]
            s = self._times_similarity(h)
            if self.self_weight:
                s += self.self_weight * h.toarray()
            out[known] += s
        return out

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        check_fitted(self, "similarity_")
        q = basket_matrix(partial_baskets, self.similarity_.shape[0])
        return self._times_similarity(q) + self.backoff_


DENSE_MAX_ITEMS = 20_000  # a dense similarity matrix of 20k items: 1.6 GB float32


def sparse_cosine(x: sp.spmatrix, shrink: float, n_neighbors: int | None) -> sp.csr_matrix:
    """Cosine similarity of the columns of ``x`` over the pairs that co-occur (CSR, zero diagonal),
    each row cut to its ``n_neighbors`` largest (None = all)."""
    co = sp.csr_matrix(x.T @ x)
    co.setdiag(0.0)
    co.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel()).astype(np.float32)
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    co.data = (co.data / (norms[rows] * norms[co.indices] + shrink)).astype(np.float32)
    if n_neighbors is not None:
        order = np.lexsort((-co.data, rows))  # by row, most similar first
        rank = np.arange(len(order)) - co.indptr[rows[order]]
        keep = np.zeros(len(order), dtype=bool)
        keep[order[rank < n_neighbors]] = True
        co.data[~keep] = 0.0
        co.eliminate_zeros()
    return co
