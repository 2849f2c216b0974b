"""Bounds shared by every miner: bytes of one temporary, and the itemset-explosion guard.

Public so that every module that counts itemsets (the kernels, :mod:`.incremental`,
:mod:`.aggregate`) stops at the same limit with the same error.
"""

from __future__ import annotations

from assoc_pipeline.core.errors import InputError

CHUNK_BYTES = 32 << 20  # bound on one AND/popcount temporary
BUCKET_BYTES = 64 << 20  # bound on the stacked tidsets of one bucket of classes
PAIR_CHUNK = 2 << 20  # pairs enumerated per chunk of rows
DENSE_PAIR_CELLS = 8 << 20  # f x f pair tables kept dense up to this many cells
MAX_ITEMSETS = 5_000_000  # default explosion guard: stop before memory runs out


class ItemsetExplosion(InputError):
    """More frequent itemsets than ``max_itemsets``: mining stopped before memory ran out.

    An :class:`InputError` (so a ``ValueError``): the fix is a setting the user chose.
    """

    def __init__(
        self,
        reached: int,
        max_itemsets: int,
        min_count: int,
        n_baskets: int,
        max_len: int | None,
        *,
        min_support: float | int | None = None,
    ) -> None:
        self.reached, self.max_itemsets = reached, max_itemsets
        self.min_count, self.n_baskets, self.max_len = min_count, n_baskets, max_len
        self.min_support = min_support
        super().__init__(self.describe())

    def describe(self) -> str:
        frac = self.min_count / max(self.n_baskets, 1)
        support = f"min_support={self.min_support!r}, " if self.min_support is not None else ""
        return (
            f"itemset explosion: mining stopped after {self.reached:,} frequent itemsets (more than "
            f"max_itemsets={self.max_itemsets:,}) with {support}min count {self.min_count:,} "
            f"(= {frac:.4g} of {self.n_baskets:,} baskets) and max_len={self.max_len}; raise min_support "
            f"or lower max_len (or raise max_itemsets if the memory is there)"
        )


class ItemsetBudget:
    """Counts emitted itemsets and raises :class:`ItemsetExplosion` past the limit."""

    def __init__(self, limit: int | None, min_count: int, n_baskets: int, max_len: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max_itemsets must be >= 1 or None, got {limit}")
        self.limit, self.total = limit, 0
        self.args = (min_count, n_baskets, max_len)

    def add(self, n: int) -> None:
        self.total += int(n)
        if self.limit is not None and self.total > self.limit:
            raise ItemsetExplosion(self.total, self.limit, *self.args)
