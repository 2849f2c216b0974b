"""TIFU-KNN (Hu et al. 2020, "Modeling Personalized Item Frequency Information for Next-basket
Recommendation"): a user's time-decayed item-frequency vector blended with that of their nearest
neighbours. Among the strongest next-basket methods in Li et al.'s 2023 reality check.

User vector: the user's baskets (oldest first) are cut into groups of ``group_size`` from the
most recent end (the oldest group holds the remainder); a group vector is
(1/|g|) sum_j r_b^(|g|-j) b_j and the user vector (1/G) sum_i r_g^(G-i) v_i. Prediction:
alpha * u + (1 - alpha) * mean of the ``n_neighbors`` nearest user vectors (Euclidean; the
user is among its own neighbours, as in the authors' code). Defaults are the authors' code
defaults: k=300, r_b=0.9, r_g=0.7, alpha=0.7, group size 7.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.neighbour_blend import blend_rows, sparse_blend
from assoc_pipeline.core.recsys.baselines.user_history import (
    backoff,
    check_fitted,
    item_popularity,
    lookup,
    user_codes,
)
from assoc_pipeline.core.recsys.metrics import best_columns
from assoc_pipeline.core.recsys.recommender import Recommender


class TIFUKNNRecommender(Recommender):
    """Next-basket only: it needs a user's basket sequence."""

    name = "tifu_knn"
    supports_completion = False

    def __init__(
        self,
        n_neighbors: int = 300,
        within_decay: float = 0.9,
        group_decay: float = 0.7,
        alpha: float = 0.7,
        group_size: int = 7,
    ) -> None:
        if group_size < 1 or n_neighbors < 1:
            raise ValueError("TIFU-KNN: group_size and n_neighbors must be >= 1")
        self.n_neighbors = n_neighbors
        self.within_decay = within_decay
        self.group_decay = group_decay
        self.alpha = alpha
        self.group_size = group_size
        self.users_: pd.Index | None = None
        self.vectors_: sp.csr_matrix | None = None
        self.predictions_: sp.csr_matrix | None = None
        self.backoff_: np.ndarray | None = None
        self._search: tuple[np.ndarray, sp.csc_matrix] | None = None

    def fit(self, train: BasketSet, predict: bool = False) -> Self:
        """User vectors of ``train``; scoring blends the users asked for (:meth:`predictions_for`).
        ``predict=True`` also keeps every user's prediction (``predictions_``): GBs at 20k users x
        100k items (each row is the union of ~300 neighbours' items), so only where the same users
        are scored again and again. The same scores either way."""
        users, codes = user_codes(train)
        rows = np.flatnonzero(codes >= 0)
        # rows are in time order; rank each basket within its user's sequence
        order = np.lexsort((rows, codes[rows]))
        r, c = rows[order], codes[rows][order]
        n_per_user = np.bincount(c, minlength=len(users))
        start = np.concatenate([[0], np.cumsum(n_per_user)[:-1]])
        pos = np.arange(len(c)) - start[c]  # 0 = oldest
        from_end = n_per_user[c] - 1 - pos
        m = self.group_size
        g_from_end = from_end // m
        w_in_group = from_end % m  # exponent: 0 for the group's most recent basket
        n_groups = -(-n_per_user // m)
        last = g_from_end == n_groups[c] - 1
        group_len = np.where(last, n_per_user[c] - m * (n_groups[c] - 1), m)
        weight = (
            self.within_decay**w_in_group / group_len * self.group_decay**g_from_end / n_groups[c]
        ).astype(np.float32)
        assign = sp.csr_matrix((weight, (c, r)), shape=(len(users), train.n_baskets))
        u = (assign @ train.matrix.astype(np.float32)).tocsr()
        self.users_ = users
        self.vectors_ = u
        self._search = None
        self.predictions_ = self.predictions_for(np.arange(len(users))) if predict else None
        self.backoff_ = backoff(item_popularity(train)) * 1e-6
        return self

    def predictions_for(self, rows: np.ndarray) -> sp.csr_matrix:
        """Predictions of the users at ``rows`` of ``users_`` (one row each, canonical CSR)."""
        check_fitted(self, "vectors_")
        out = self._blend(np.asarray(rows, dtype=np.int64))
        out.sum_duplicates()  # sorted columns: read at (user, item) pairs by binary search
        return out

    def dense_predictions(self, rows: np.ndarray) -> np.ndarray:
        """The predictions of the users at ``rows`` as a dense block: what scoring and pair reads
        take (sorting the sparse rows for a binary search cost more than the blend itself)."""
        check_fitted(self, "vectors_")
        rows = np.asarray(rows, dtype=np.int64)
        out = [blend_rows(self.vectors_, at, nn, self.alpha) for at, nn in self._neighbour_blocks(rows)]
        return np.concatenate(out) if out else np.zeros((0, self.vectors_.shape[1]), dtype=np.float32)

    def _neighbour_search(self) -> tuple[np.ndarray, sp.csc_matrix]:
        """Squared norms and the transpose of the user vectors, made once per fit: the ranker
        asks for a few hundred users at a time."""
        if self._search is None:
            u = self.vectors_
            self._search = (np.asarray(u.multiply(u).sum(axis=1)).ravel().astype(np.float64), u.T.tocsc())
        return self._search

    def _blend(self, rows: np.ndarray) -> sp.csr_matrix:
        """alpha * own vector + (1 - alpha) * mean of the nearest user vectors, for ``rows``, in
        blocks (each row's result depends on that row alone: any subset gives the same rows).

        User vectors are sparse (a user buys a few dozen of thousands of items), so distances
        and neighbour means are sparse products, not dense (users x users x items) work; the
        predictions stay sparse too (20k users x 100k items would be 8 GB dense), the same values.
        """
        u = self.vectors_
        out = [sparse_blend(u, at, nn, self.alpha) for at, nn in self._neighbour_blocks(rows)]
        return sp.vstack(out, format="csr") if out else sp.csr_matrix((0, u.shape[1]), dtype=np.float32)

    def _neighbour_blocks(
        self, rows: np.ndarray, block: int = 1024
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, their nearest users' rows) per block of ``rows`` (each row's own result)."""
        u = self.vectors_
        n = u.shape[0]
        k = min(self.n_neighbors, n)
        sq, ut = self._neighbour_search()
        for s in range(0, len(rows), block):
            at = rows[s : s + block]
            closeness = (u[at] @ ut).toarray().astype(np.float64)  # minus the squared distance:
            closeness *= 2.0  # 2 <u, v> - (|u|^2 + |v|^2), in place (1024 x 20k float64 blocks)
            closeness -= sq[at, None] + sq[None, :]
            # the k nearest: the set argpartition picks on the distances (best_columns: torch.topk)
            yield at, (best_columns(closeness, k) if k < n else np.argsort(-closeness, axis=1))

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        check_fitted(self, "vectors_")
        rows = lookup(self.users_, user_ids)
        out = np.broadcast_to(self.backoff_, (len(rows), len(self.backoff_))).copy()
        known = rows >= 0
        kept = self.predictions_
        out[known] += kept[rows[known]].toarray() if kept is not None else self.dense_predictions(rows[known])
        return out
