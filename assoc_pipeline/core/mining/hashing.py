"""Zobrist hashing of itemsets: look up many itemsets at once with one sort and a searchsorted.

An itemset's key is the XOR of random 64-bit keys of its items, so the key of a subset is the
superset's key XOR the removed items' keys — no Python loop over itemsets is needed. Keys are
kept per itemset length, and a duplicate key among the stored itemsets (probability ~1e-10) is
detected and answered by re-drawing the random table.
"""

from __future__ import annotations

import numpy as np


class HashCollision(RuntimeError):
    """Two different stored itemsets got the same 64-bit key; retry with another seed."""


def zobrist_table(n_items: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(0x5EED_0000 + seed)
    return rng.integers(0, np.iinfo(np.uint64).max, size=max(n_items, 1), dtype=np.uint64, endpoint=True)


def itemset_keys(items: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Keys of the rows of ``items`` (an (m, k) int array)."""
    if items.shape[1] == 0:
        return np.zeros(items.shape[0], dtype=np.uint64)
    return np.bitwise_xor.reduce(table[items], axis=1)


class KeyLookup:
    """Sorted keys -> row positions; ``find`` returns -1 for keys not stored."""

    def __init__(self, keys: np.ndarray) -> None:
        self.order = np.argsort(keys, kind="stable")
        self.sorted = keys[self.order]
        if len(self.sorted) > 1 and bool(np.any(self.sorted[1:] == self.sorted[:-1])):
            raise HashCollision("duplicate Zobrist key among stored itemsets")

    def find(self, queries: np.ndarray) -> np.ndarray:
        if len(self.sorted) == 0:
            return np.full(len(queries), -1, dtype=np.int64)
        pos = np.searchsorted(self.sorted, queries)
        pos = np.minimum(pos, len(self.sorted) - 1)
        hit = self.sorted[pos] == queries
        return np.where(hit, self.order[pos], -1).astype(np.int64)


def level_lookups(
    levels: dict[int, tuple[np.ndarray, np.ndarray]], table: np.ndarray
) -> dict[int, KeyLookup]:
    return {k: KeyLookup(itemset_keys(items, table)) for k, (items, _) in levels.items()}
