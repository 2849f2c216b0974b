"""The input every kernel starts from: a canonical CSR and its frequent items in rank space.

Items are renumbered by ascending support after dropping the infrequent ones ("rank space"),
so that an itemset's first item is its rarest: Eclat then mines each equivalence class inside
the baskets of its rarest item, the smallest projection there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from assoc_pipeline.core.data.basket_arrays import BasketArrays

if TYPE_CHECKING:
    import scipy.sparse as sp


def canonical_csr(matrix: sp.spmatrix | sp.sparray | BasketArrays) -> sp.csr_matrix | BasketArrays:
    """CSR with sorted, unique, explicitly-true entries (what every backend assumes); a
    :class:`BasketArrays` is one already (only ``indptr``, ``indices`` and ``shape`` are read)."""
    if isinstance(matrix, BasketArrays):
        return matrix
    import scipy.sparse as sp

    x = sp.csr_matrix(matrix)
    if x.nnz and (not x.has_canonical_format or not bool(np.all(x.data))):
        x = x.copy()
        x.sum_duplicates()
        x.eliminate_zeros()
    return x


@dataclass(frozen=True)
class RankSpace:
    """Frequent items of a basket matrix, ranked by ascending support (ties: column order)."""

    item_counts: np.ndarray  # support of every column (int64)
    order: np.ndarray  # rank -> column (int64)
    rank_of: np.ndarray  # column -> rank, -1 when infrequent (int32)
    counts: np.ndarray  # support of every rank (int64, ascending)

    @classmethod
    def of(cls, x: sp.csr_matrix | BasketArrays, min_count: int) -> RankSpace:
        m = x.shape[1]
        item_counts = np.bincount(x.indices, minlength=m).astype(np.int64)
        freq = np.flatnonzero(item_counts >= min_count)
        order = freq[np.argsort(item_counts[freq], kind="stable")].astype(np.int64)
        rank_of = np.full(m, -1, dtype=np.int32)
        rank_of[order] = np.arange(len(order), dtype=np.int32)
        return cls(item_counts, order, rank_of, item_counts[order])

    @property
    def f(self) -> int:
        return len(self.order)
