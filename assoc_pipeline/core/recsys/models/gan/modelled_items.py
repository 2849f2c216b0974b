"""Which items the basket GAN models (the rest, the tail, is drawn independently of everything).

Why not simply the most frequent: a rule needs both of its items modelled, and many of a retail
log's rules join items that are not among the most frequent. On the shipped data 54% of the fit
baskets' item pairs with a rule (confidence 0.5 at 0.5% support) had both items among the 1,000
most frequent, while only 720 items hold any pair at that support. Modelling those alone puts
every such pair within the generator's reach; the frequent items left to the tail rarely share a
basket with another frequent item, so independent draws lose little of what they do. Measured in
benchmarks/RESULTS.md, "Follow-up 2026-12-05 (6)". Pure numpy / scipy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def items_holding_a_pair(baskets: sp.csr_matrix, min_support: float) -> np.ndarray:
    """Items (column indices, sorted) that share at least ``min_support`` (> 0) of the baskets
    (rows of a 0/1 matrix) with some other item. Only items at that support themselves can, so
    the pair counts are taken over those columns alone: at most mean basket size / support of them
    (1,362 of the shipped log's 3,899 items at 0.5%)."""
    if min_support <= 0:
        raise ValueError(f"gan: the pair support must be positive, got {min_support}")
    n = max(baskets.shape[0], 1)
    share = np.asarray(baskets.sum(axis=0)).ravel() / n
    frequent = np.flatnonzero(share >= min_support)
    sub = sp.csr_matrix(baskets[:, frequent], dtype=np.float64)
    together = sp.triu(sub.T @ sub, k=1).tocoo()
    keep = together.data / n >= min_support
    return frequent[np.union1d(together.row[keep], together.col[keep])]


def choose_modelled_items(
    order: np.ndarray, baskets: sp.csr_matrix, most: int, pair_support: float | None
) -> np.ndarray:
    """The generator's items, sorted: the first ``most`` of ``order`` (candidates, most wanted
    first) that hold a pair at ``pair_support``; the first ``most`` of ``order`` when
    ``pair_support`` is None or 0 (every pair: no choice) or fewer than two items hold one
    (nothing joint to learn there)."""
    chosen = order[:most]
    if pair_support is not None and pair_support > 0:
        paired = order[np.isin(order, items_holding_a_pair(baskets, pair_support))][:most]
        if len(paired) >= 2:
            chosen = paired
    return np.sort(chosen)
