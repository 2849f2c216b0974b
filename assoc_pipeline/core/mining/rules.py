"""Association rules from frequent itemsets, vectorised per (itemset length, consequent size).

For every frequent k-itemset S and every choice of consequent positions, the antecedent's key is
``key(S) XOR key(C)``; one ``searchsorted`` per (level, consequent size) finds every antecedent
count at once, for all position choices together, so there is no Python loop over rules nor over
position choices. Confidence is compared inclusively in integer arithmetic. The result is built
as :class:`.rule_arrays.RuleArrays` (pointers into the itemsets) and turned into a table last.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from .hashing import HashCollision, KeyLookup, itemset_keys, zobrist_table
from .itemsets import FrequentItemsets, Levels
from .measures import MEASURES
from .rule_arrays import RuleArrays
from .thresholds import ratio_at_least

if TYPE_CHECKING:
    import pandas as pd

RULE_COLUMNS: tuple[str, ...] = ("antecedent", "consequent", "count", *MEASURES)


def derive_rules(
    itemsets: FrequentItemsets,
    min_confidence: float,
    *,
    max_consequent_len: int | None = 1,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rules A => C with confidence >= ``min_confidence`` (inclusive, exact).

    ``max_consequent_len=1`` gives arules' single-item consequents; ``None`` all splits (mlxtend).
    Columns: antecedent, consequent (tuples of item indices), count, the measures in ``metrics``
    (default: all of :data:`MEASURES`), antecedent_count and consequent_count.
    """
    which = tuple(metrics) if metrics is not None else MEASURES
    for must in ("support", "confidence"):
        if must not in which:
            which = (must, *which)
    return derive_rule_arrays(itemsets, min_confidence, max_consequent_len=max_consequent_len).to_frame(which)


def derive_rule_arrays(
    itemsets: FrequentItemsets, min_confidence: float, *, max_consequent_len: int | None = 1
) -> RuleArrays:
    """The rules of :func:`derive_rules` as :class:`RuleArrays` (no Python object per rule)."""
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if max_consequent_len is not None and max_consequent_len < 1:
        raise ValueError(f"max_consequent_len must be >= 1 or None, got {max_consequent_len}")
    if itemsets.target != "all" or itemsets.min_len > 1:
        raise ValueError("derive_rules needs all frequent itemsets (target='all', min_len=1)")
    levels = itemsets.levels()
    n_items = 1 + max((int(items.max()) for items, _ in levels.values() if items.size), default=0)
    for seed in range(4):
        try:
            return _derive(levels, itemsets.n_baskets, n_items, min_confidence, max_consequent_len, seed)
        except HashCollision:
            continue
    raise HashCollision("could not find collision-free itemset keys")


def _derive(
    levels: Levels,
    n: int,
    n_items: int,
    min_confidence: float,
    max_consequent_len: int | None,
    seed: int,
) -> RuleArrays:
    """Every (level k, consequent size c): all consequent position sets at once, in chunks.

    Rules come out ordered by k, c, consequent positions (``combinations`` order), itemset row.
    Every antecedent and consequent is a frequent itemset, stored once with a unique key (a
    duplicate raises :class:`HashCollision`), so each lookup finds exactly its own row.
    """
    table = zobrist_table(n_items, seed)
    lookups = {k: KeyLookup(itemset_keys(items, table)) for k, (items, _) in levels.items()}
    parts: list[tuple[np.ndarray, ...]] = []
    for k in sorted(levels):
        if k < 2:
            continue
        items, counts = levels[k]
        item_keys = table[items]  # (m, k)
        keys = np.bitwise_xor.reduce(item_keys, axis=1)
        top = k - 1 if max_consequent_len is None else min(k - 1, max_consequent_len)
        for c in range(1, top + 1):
            if k - c not in lookups or c not in lookups:
                raise ValueError(f"derive_rules: itemsets of length {min(k - c, c)} are missing")
            cpos = np.array(list(combinations(range(k), c)), dtype=np.int64)  # (P, c)
            step = max(1, _CHUNK_CELLS // max(1, len(counts) * c))
            for lo in range(0, len(cpos), step):
                chunk = cpos[lo : lo + step]
                parts += _split_rules(levels, lookups, item_keys, keys, counts, chunk, min_confidence)
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return RuleArrays(levels, n, *([empty] * 7))
    cols = [np.concatenate(col) for col in zip(*parts, strict=True)]
    return RuleArrays(levels, n, *cols)


_CHUNK_CELLS = 1 << 22  # (itemset, consequent position) cells per vectorised step


def _split_rules(
    levels: Levels,
    lookups: dict[int, KeyLookup],
    item_keys: np.ndarray,
    keys: np.ndarray,
    counts: np.ndarray,
    cpos: np.ndarray,
    min_confidence: float,
) -> list[tuple[np.ndarray, ...]]:
    """The confident rules of the itemsets of one level for consequent positions ``cpos``
    (P x c), P-major: (ant_len, ant_at, con_len, con_at, count, n_a, n_c), or nothing."""
    k = item_keys.shape[1]
    c = cpos.shape[1]
    cons_key = np.bitwise_xor.reduce(item_keys[:, cpos], axis=2).T.ravel()  # (P * m,)
    ant_key = np.tile(keys, len(cpos)) ^ cons_key
    a_at = lookups[k - c].find(ant_key)
    if bool((a_at < 0).any()):
        raise ValueError("derive_rules: an antecedent's itemset is missing (itemsets truncated?)")
    n_ac = np.tile(counts, len(cpos))
    n_a = levels[k - c][1][a_at]
    ok = ratio_at_least(n_ac, n_a, min_confidence)
    if not ok.any():
        return []
    c_at = lookups[c].find(cons_key[ok])
    if bool((c_at < 0).any()):
        raise ValueError("derive_rules: a consequent's itemset is missing")
    kept = int(ok.sum())
    return [
        (
            np.full(kept, k - c, dtype=np.int64),
            a_at[ok],
            np.full(kept, c, dtype=np.int64),
            c_at,
            n_ac[ok],
            n_a[ok],
            levels[c][1][c_at],
        )
    ]
