"""Closed and maximal itemsets, derived from all frequent itemsets without Python loops.

Checking immediate supersets is enough: if X has a frequent superset, it has one with one more
item, and if a superset keeps X's count, so does X plus any one of its extra items. Each
(k+1)-itemset looks up its k one-item-smaller subsets by Zobrist key and marks them.
"""

from __future__ import annotations

import numpy as np

from .hashing import HashCollision, KeyLookup, itemset_keys, zobrist_table
from .itemsets import Levels


def condense(levels: Levels, n_items: int, target: str) -> Levels:
    """Keep the closed (no superset with the same count) or maximal (no frequent superset) ones."""
    if target == "all":
        return levels
    if target not in ("closed", "maximal"):
        raise ValueError(f"target must be 'all', 'closed' or 'maximal', got {target!r}")
    for seed in range(4):
        try:
            return _condense(levels, n_items, target, seed)
        except HashCollision:
            continue
    raise HashCollision("could not find collision-free itemset keys")


def _condense(levels: Levels, n_items: int, target: str, seed: int) -> Levels:
    table = zobrist_table(n_items, seed)
    out: Levels = {}
    for k in sorted(levels):
        items, counts = levels[k]
        drop = np.zeros(len(counts), dtype=bool)
        if k + 1 in levels:
            sup_items, sup_counts = levels[k + 1]
            lookup = KeyLookup(itemset_keys(items, table))
            sup_keys = itemset_keys(sup_items, table)
            for j in range(k + 1):
                pos = lookup.find(sup_keys ^ table[sup_items[:, j]])
                pos = pos[pos >= 0] if target == "maximal" else pos[(pos >= 0) & (sup_counts == counts[pos])]
                drop[pos] = True
        if (~drop).any():
            out[k] = (items[~drop], counts[~drop])
    return out
