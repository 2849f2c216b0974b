"""Small shared pieces of the baselines: user indexing, user x item histories, query matrices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet

_CODES_ATTRIBUTE = "_user_codes"


def user_codes(bs: BasketSet) -> tuple[pd.Index, np.ndarray]:
    """Known users (sorted ids) and, per basket row, the user's position (-1 = anonymous).

    Kept on the (frozen) basket set, read-only: a sorted factorisation of 2M baskets' user ids
    takes ~1 s, and the ranker asks for it three times per batch of users it scores."""
    known_codes = bs.__dict__.get(_CODES_ATTRIBUTE)
    if known_codes is not None:
        return known_codes
    users = bs.baskets["user_id"]
    known = users.notna().to_numpy()
    codes = np.full(len(users), -1, dtype=np.int64)
    code_vals, uniq = pd.factorize(users[known].astype(str), sort=True)
    codes[known] = code_vals
    codes.setflags(write=False)
    bs.__dict__[_CODES_ATTRIBUTE] = out = (pd.Index(np.asarray(uniq, dtype=object)), codes)
    return out


def baskets_of(codes: np.ndarray, only: np.ndarray | None) -> np.ndarray:
    """Basket rows of known users, in order; with ``only`` (user positions), of those users only."""
    rows = np.flatnonzero(codes >= 0)
    if only is None:
        return rows
    only = np.asarray(only, dtype=np.int64)
    wanted = np.zeros(max(int(codes.max(initial=-1)), int(only.max(initial=-1))) + 1, dtype=bool)
    wanted[only] = True
    return rows[wanted[codes[rows]]]


def user_item_counts(
    bs: BasketSet, weights: np.ndarray | None = None, only: np.ndarray | None = None
) -> tuple[pd.Index, sp.csr_matrix]:
    """(users, user x item matrix): how many of a user's baskets hold each item (optionally weighted).
    ``only`` (user positions): the other users' rows are left empty (the same values for these)."""
    users, codes = user_codes(bs)
    rows = baskets_of(codes, only)
    w = np.ones(len(rows), dtype=np.float32) if weights is None else np.asarray(weights, np.float32)[rows]
    assign = sp.csr_matrix((w, (codes[rows], rows)), shape=(len(users), bs.n_baskets))
    mat = (assign @ bs.matrix.astype(np.float32)).tocsr()
    mat.sort_indices()
    return users, mat


def item_popularity(bs: BasketSet) -> np.ndarray:
    """Baskets holding each item, as float32."""
    return np.asarray(bs.matrix.getnnz(axis=0)).ravel().astype(np.float32)


def lookup(users: pd.Index, user_ids: Sequence[str]) -> np.ndarray:
    """Row of each user id in ``users`` (-1 for users without training history)."""
    return users.get_indexer(pd.Index([str(u) for u in user_ids], dtype=object))


def basket_matrix(partial_baskets: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary (n, n_items) float32 CSR matrix of partial baskets."""
    lens = np.array([len(b) for b in partial_baskets], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lens)])
    indices = (
        np.concatenate([np.asarray(b, dtype=np.int64) for b in partial_baskets])
        if lens.sum()
        else np.zeros(0, np.int64)
    )
    data = np.ones(len(indices), dtype=np.float32)
    m = sp.csr_matrix((data, indices, indptr), shape=(len(partial_baskets), n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def backoff(popularity: np.ndarray) -> np.ndarray:
    """Popularity squashed into [0, 1): adds to integer-ish scores as a tie-break / back-off only."""
    return (popularity / (popularity.max() + 1.0)).astype(np.float32) if popularity.size else popularity


def check_fitted(obj: object, attr: str) -> None:
    if getattr(obj, attr, None) is None:
        raise RuntimeError(f"{type(obj).__name__}: call fit() before scoring")
