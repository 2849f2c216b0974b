"""Association rules from frequent itemsets, vectorised per (itemset length, consequent positions).

For every frequent k-itemset S and every choice of consequent positions, the antecedent's key is
``key(S) XOR key(C)``; one ``searchsorted`` per level finds every antecedent count at once, so
there is no Python loop over rules. Confidence is compared inclusively in integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from .hashing import HashCollision, KeyLookup, itemset_keys, zobrist_table
from .itemsets import FrequentItemsets, Levels
from .measures import MEASURES, rule_measures
from .thresholds import ratio_at_least

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
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if max_consequent_len is not None and max_consequent_len < 1:
        raise ValueError(f"max_consequent_len must be >= 1 or None, got {max_consequent_len}")
    if itemsets.target != "all" or itemsets.min_len > 1:
        raise ValueError("derive_rules needs all frequent itemsets (target='all', min_len=1)")
    which = tuple(metrics) if metrics is not None else MEASURES
    for must in ("support", "confidence"):
        if must not in which:
            which = (must, *which)
    levels = itemsets.levels()
    n_items = 1 + max((int(items.max()) for items, _ in levels.values() if items.size), default=0)
    for seed in range(4):
        try:
            return _derive(
                levels, itemsets.n_baskets, n_items, min_confidence, max_consequent_len, which, seed
            )
        except HashCollision:
            continue
    raise HashCollision("could not find collision-free itemset keys")


def _derive(
    levels: Levels,
    n: int,
    n_items: int,
    min_confidence: float,
    max_consequent_len: int | None,
    which: tuple[str, ...],
    seed: int,
) -> pd.DataFrame:
    table = zobrist_table(n_items, seed)
    lookups = {k: KeyLookup(itemset_keys(items, table)) for k, (items, _) in levels.items()}
    ants: list[list[tuple[int, ...]]] = []
    cons: list[list[tuple[int, ...]]] = []
    n_ac_parts: list[np.ndarray] = []
    n_a_parts: list[np.ndarray] = []
    n_c_parts: list[np.ndarray] = []
    for k in sorted(levels):
        if k < 2:
            continue
        items, counts = levels[k]
        keys = itemset_keys(items, table)
        top = k - 1 if max_consequent_len is None else min(k - 1, max_consequent_len)
        for c in range(1, top + 1):
            if k - c not in lookups or c not in lookups:
                raise ValueError(f"derive_rules: itemsets of length {min(k - c, c)} are missing")
            for cpos in combinations(range(k), c):
                cpos_l = list(cpos)
                apos = [i for i in range(k) if i not in cpos]
                cons_key = itemset_keys(items[:, cpos_l], table)
                a_at = lookups[k - c].find(keys ^ cons_key)
                if bool((a_at < 0).any()):
                    raise ValueError("derive_rules: an antecedent's itemset is missing (itemsets truncated?)")
                n_a = levels[k - c][1][a_at]
                ok = ratio_at_least(counts, n_a, min_confidence)
                if not ok.any():
                    continue
                c_at = lookups[c].find(cons_key[ok])
                if bool((c_at < 0).any()):
                    raise ValueError("derive_rules: a consequent's itemset is missing")
                ants.append(list(map(tuple, items[ok][:, apos].tolist())))
                cons.append(list(map(tuple, items[ok][:, cpos_l].tolist())))
                n_ac_parts.append(counts[ok])
                n_a_parts.append(n_a[ok])
                n_c_parts.append(levels[c][1][c_at])
    if not n_ac_parts:
        empty = {col: [] for col in ("antecedent", "consequent")}
        df = pd.DataFrame(empty, dtype=object)
        df["count"] = np.zeros(0, np.int64)
        for name in which:
            df[name] = np.zeros(0, np.float64)
        df["antecedent_count"] = np.zeros(0, np.int64)
        df["consequent_count"] = np.zeros(0, np.int64)
        return df
    n_ac = np.concatenate(n_ac_parts)
    n_a = np.concatenate(n_a_parts)
    n_c = np.concatenate(n_c_parts)
    data: dict[str, object] = {
        "antecedent": pd.Series([t for part in ants for t in part], dtype=object),
        "consequent": pd.Series([t for part in cons for t in part], dtype=object),
        "count": n_ac,
    }
    data.update(rule_measures(n, n_ac, n_a, n_c, which))
    data["antecedent_count"] = n_a
    data["consequent_count"] = n_c
    return pd.DataFrame(data)
