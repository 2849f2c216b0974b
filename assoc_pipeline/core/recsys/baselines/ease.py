"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a closed-form item x item linear model,
B = I - P diagMat(1 / diag(P)), P = (X'X + lambda I)^-1. A dense inverse is fine at a few
thousand items and makes a strong, tuning-light baseline for both tasks.

A catalogue of 100k products would need a 40 GB inverse: above ``max_items`` bought items
(default :data:`MAX_ITEMS`, above any catalogue the demo sees) only the ``max_items`` items in
most baskets take part in B, kept as that block (:class:`EaseWeights`), never as n x n; the other
items score their popularity back-off (docs/models.md, "Catalogues of 100k products").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.ease_disk_cache import EaseDiskCache
from assoc_pipeline.core.recsys.baselines.user_history import (
    backoff,
    basket_matrix,
    check_fitted,
    item_popularity,
    lookup,
    user_item_counts,
)
from assoc_pipeline.core.recsys.recommender import Recommender


class EASERecommender(Recommender):
    """Rows of X are training baskets; next-basket scores the user's binary history vector."""

    name = "ease"

    def __init__(self, l2: float = 200.0, max_items: int | None = None) -> None:
        if l2 <= 0:
            raise ValueError(f"EASE: l2 (lambda) must be positive, got {l2}")
        self.l2 = l2
        self.max_items = MAX_ITEMS if max_items is None else max_items
        self.weights_: EaseWeights | None = None
        self.users_: pd.Index | None = None
        self.history_: sp.csr_matrix | None = None
        self.backoff_: np.ndarray | None = None

    def fit(self, train: BasketSet) -> Self:
        self.weights_ = ease_item_weights(train.matrix, self.l2, self.max_items)
        self.users_, hist = user_item_counts(train)
        hist.data[:] = 1.0
        self.history_ = hist
        self.backoff_ = backoff(item_popularity(train)) * 1e-6
        return self

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        check_fitted(self, "weights_")
        rows = lookup(self.users_, user_ids)
        out = np.broadcast_to(self.backoff_, (len(rows), len(self.backoff_))).copy()
        known = rows >= 0
        if known.any():
            out[known] += self.weights_.scores(self.history_[rows[known]])
        return out

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        check_fitted(self, "weights_")
        q = basket_matrix(partial_baskets, self.weights_.n_items)
        return self.weights_.scores(q) + self.backoff_


MAX_ITEMS = 10_000  # B of 10k items: 400 MB float32, ~1.6 GB at the peak of its inverse


@dataclass(frozen=True)
class EaseWeights:
    """B of the ``items`` (sorted indices into ``n_items``) as a dense block; every other item's
    row and column are zero. ``items`` is None when the block is the whole n x n matrix."""

    items: np.ndarray | None
    block: np.ndarray
    n_items: int

    def scores(self, q: sp.spmatrix) -> np.ndarray:
        """``q @ B`` (rows x n_items, float32) without an n x n matrix."""
        if self.items is None:
            return self.block_scores(q)
        out = np.zeros((q.shape[0], self.n_items), dtype=np.float32)
        out[:, self.items] = self.block_scores(q)
        return out

    def block_scores(self, q: sp.spmatrix) -> np.ndarray:
        """``q @ B`` at the block's columns only (rows x len(items)): every other column is zero."""
        if self.items is None:
            return np.asarray(q @ self.block)
        return np.asarray(sp.csr_matrix(q)[:, self.items] @ self.block)

    def dense(self) -> np.ndarray:
        """The n x n matrix (only for catalogues where that is small)."""
        if self.items is None:
            return self.block
        out = np.zeros((self.n_items, self.n_items), dtype=np.float32)
        out[np.ix_(self.items, self.items)] = self.block
        return out


def ease_item_weights(
    matrix: sp.spmatrix, l2: float, max_items: int = MAX_ITEMS, *, keep: bool = True
) -> EaseWeights:
    """EASE weights of at most ``max_items`` items: every item when the catalogue is that small
    (the exact B of :func:`ease_weights`), else the block of exactly ``max_items`` items: those in
    most baskets of ``matrix`` (ties: the lower index), so a refit keeps the block's shape. Cached
    like :func:`ease_weights`; ``keep=False``: a block computed now is not stored (a caller that
    copies it into a model of its own), a stored one is still read."""
    if max_items < 1:
        raise ValueError(f"EASE: max_items must be >= 1, got {max_items}")
    n = matrix.shape[1]
    if n <= max_items:
        return EaseWeights(None, ease_weights(matrix, l2), n)
    support = np.asarray(matrix.getnnz(axis=0)).ravel()
    items = np.sort(np.argsort(-support, kind="stable")[:max_items])
    return EaseWeights(items, _cached_block(sp.csr_matrix(matrix)[:, items], l2, keep), n)


def _cached_block(matrix: sp.spmatrix, l2: float, keep: bool = True) -> np.ndarray:
    """B of every column of ``matrix`` (an unbought column: a zero row and column), computed once
    per (matrix, lambda) in a process and read-only; ``keep=False``: a block computed now is
    the caller's own (writable, not stored in this process)."""

    def compute() -> tuple[np.ndarray, np.ndarray]:
        return np.arange(matrix.shape[1]), _ease_block(sp.csc_matrix(matrix), l2)

    return _stored((_matrix_key(matrix), float(l2)), compute, keep)[1]


def _stored(
    key: tuple[str, float], compute: Callable[[], tuple[np.ndarray, np.ndarray]], keep: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The (active items, block) of ``key``: from this process's recent results, else the disk
    cache (:func:`share_on_disk`), else ``compute()``d now and stored in both. With ``keep=False``
    a block computed now or read from disk is the caller's own (writable, not kept in this process;
    a computed one is still written to disk); every other block is read-only."""
    with _LOCK:
        hit = _RECENT.get(key)
    if hit is not None:
        return hit
    disk = _DISK
    hit = disk.read(key, own=not keep) if disk is not None else None
    if hit is None:
        hit = compute()
        if disk is not None:
            disk.write(key, *hit)
        if not keep:
            return hit
        hit[1].setflags(write=False)
    return _keep(key, hit) if keep else hit


def share_on_disk(cache: EaseDiskCache | None) -> None:
    """Read and write this process's EASE inverses through ``cache`` (None: this process only).

    Set by the pipeline's ``ease_cache`` resource for the steps that fit EASE."""
    global _DISK
    _DISK = cache


def _keep(key: tuple[str, float], entry: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Store a computed inverse, dropping the oldest beyond ``_CACHE_BYTES`` (thread-safe: the
    evaluation report scores methods side by side)."""
    with _LOCK:
        _RECENT[key] = entry
        while sum(b.nbytes for _, b in _RECENT.values()) > _CACHE_BYTES and len(_RECENT) > 1:
            _RECENT.pop(next(iter(_RECENT)))
    return entry


def ease_weights(matrix: sp.spmatrix, l2: float) -> np.ndarray:
    """Closed-form EASE item-item weights B (zero diagonal) of a basket x item matrix, float32.

    Only items bought in ``matrix`` take part in the inverse: an item with an empty column has the
    row and column ``e_j / lambda`` in P, so its B row and column are zero, exactly. A history cut
    before an early prediction time holds ~70% of the catalogue, so its inverse costs ~1/3.

    The same (baskets, lambda) is fitted by the baseline, the hybrid, the tuning and the ranker's
    candidate lists (before fit and refit): recent results are kept (compact, read-only, within
    ``_CACHE_BYTES``), so each inverse is computed once per process, and once per run where the
    steps share a disk cache (:func:`share_on_disk`).
    """

    def compute() -> tuple[np.ndarray, np.ndarray]:
        active = np.flatnonzero(np.asarray(matrix.getnnz(axis=0)) > 0)
        return active, _ease_block(sp.csc_matrix(matrix)[:, active], l2)

    active, block = _stored((_matrix_key(matrix), float(l2)), compute)
    n = matrix.shape[1]
    if len(active) == n:
        return block
    out = np.zeros((n, n), dtype=np.float32)
    out[np.ix_(active, active)] = block
    out.setflags(write=False)
    return out


_CACHE_BYTES = 3 << 28  # 768 MB: the demo ranker's 13 histories (~3,200 items each) fit
_RECENT: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}
_LOCK = threading.Lock()
_DISK: EaseDiskCache | None = None  # shared with other processes: share_on_disk


def _matrix_key(matrix: sp.spmatrix) -> str:
    import hashlib

    m = sp.csr_matrix(matrix)
    h = hashlib.sha1(np.asarray(m.shape, dtype=np.int64).tobytes())
    h.update(m.indptr.astype(np.int64).tobytes())
    h.update(m.indices.astype(np.int64).tobytes())
    return h.hexdigest()


def _ease_block(matrix: sp.spmatrix, l2: float) -> np.ndarray:
    """B of the given columns, float32, every step in place (a 3,600-item float64 copy is 100 MB)."""
    x = sp.csr_matrix(matrix, dtype=np.float32)
    # P is exactly symmetric (its lower triangle mirrored), so its Fortran-order array read
    # transposed is P in C order, for free: scipy's sparse @ dense reads C order and copies
    # anything else first (400 MB per product at 10k items: 1.46 s instead of 5 ms per batch)
    p = _spd_inverse(_gram(x, l2), again=lambda: _gram(x, l2)).T
    d = np.diag(p).copy()
    p /= -d[None, :]
    np.fill_diagonal(p, 0.0)
    return p


GRAM_ROWS = 1 << 16  # baskets whose co-occurrences are added to the Gram matrix at a time


def _gram(x: sp.csr_matrix, l2: float) -> np.ndarray:
    """X'X + lambda I as one dense float32 array in Fortran order (LAPACK's), summed over chunks of
    :data:`GRAM_ROWS` baskets straight into it: the sparse product of a whole 2M-basket log at 10k
    items is nearly dense (~1 GB as CSR) beside the 400 MB result, and a dense copy for the Fortran
    order is another 400 MB. Basket matrices are binary, so the counts are exact in any order."""
    n = x.shape[1]
    g = np.zeros((n, n), dtype=np.float32, order="F")
    flat = g.ravel(order="F")  # a view: (row, col) is flat[col * n + row]
    for lo in range(0, x.shape[0], GRAM_ROWS):
        chunk = x[lo : lo + GRAM_ROWS]
        part = sp.csc_matrix(chunk.T @ chunk)  # scipy's product holds each (row, col) once
        at = np.repeat(np.arange(n, dtype=np.int64) * n, np.diff(part.indptr))
        at += part.indices
        flat[at] += part.data
    flat[:: n + 1] += l2
    return g


def _spd_inverse(g: np.ndarray, again: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix via Cholesky (LAPACK potrf + potri), float32
    (the scores only rank items; ~5x faster than a float64 ``inv``); float64 if float32 fails.

    With ``again``, ``g`` (float32, Fortran order) is factorised in place, without an n x n copy,
    and ``again()`` makes it anew for the float64 retry."""
    for dtype in (np.float32, np.float64):
        if again is None:
            a = np.array(g, dtype=dtype, order="F")
        else:
            a = g if dtype == np.float32 else np.array(again(), dtype=dtype, order="F")
        potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (a,))
        c, info = potrf(a, lower=True, overwrite_a=True)
        if info != 0:
            continue
        inv, info = potri(c, lower=True, overwrite_c=True)
        if info != 0:
            continue
        return _mirror_lower(inv).astype(np.float32, copy=False)  # potri fills the lower triangle only
    raise np.linalg.LinAlgError("EASE: Gram matrix + lambda I is not positive definite")


def _mirror_lower(a: np.ndarray, block: int = 512) -> np.ndarray:
    """Copy the lower triangle of square ``a`` onto its upper one, in place, a band of rows at a
    time: no n x n temporaries (``tril`` twice cost about a third of a 3,600-item inverse)."""
    n = a.shape[0]
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        corner = a[lo:hi, lo:hi]
        corner[...] = np.tril(corner) + np.tril(corner, -1).T
        a[lo:hi, hi:] = a[hi:, lo:hi].T
    return a
