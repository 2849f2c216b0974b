"""Redundant rules, as arules' ``is.redundant``.

A rule A => C is redundant when the rule set holds a more general rule A' => C (A' a proper,
non-empty subset of A, same consequent) whose confidence is at least A => C's. Subsets are found
by Zobrist key (antecedent key XOR a consequent key from a second table), one lookup per
(antecedent length, subset mask); confidences are compared exactly as count ratios.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from .hashing import HashCollision, KeyLookup, itemset_keys, zobrist_table


def is_redundant(rules: pd.DataFrame) -> np.ndarray:
    """Boolean mask over ``rules`` rows: True where a more general rule is at least as confident."""
    for seed in range(4):
        try:
            return _is_redundant(rules, seed)
        except HashCollision:
            continue
    raise HashCollision("could not find collision-free rule keys")


def prune_redundant(rules: pd.DataFrame) -> pd.DataFrame:
    """The rules that are not redundant (index reset)."""
    return rules.loc[~is_redundant(rules)].reset_index(drop=True)


def _padded(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter((len(t) for t in col), dtype=np.int64, count=len(col))
    width = int(lens.max(initial=0))
    out = np.zeros((len(col), max(width, 1)), dtype=np.int64)
    if len(col):
        flat = np.fromiter((i for t in col for i in t), dtype=np.int64, count=int(lens.sum()))
        rows = np.repeat(np.arange(len(col)), lens)
        pos = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
        out[rows, pos] = flat
    return out, lens


def _is_redundant(rules: pd.DataFrame, seed: int) -> np.ndarray:
    m = len(rules)
    redundant = np.zeros(m, dtype=bool)
    if m == 0:
        return redundant
    ant, ant_len = _padded(rules["antecedent"])
    con, con_len = _padded(rules["consequent"])
    n_items = int(max(ant.max(initial=0), con.max(initial=0))) + 1
    t_ant = zobrist_table(n_items, seed)
    t_con = zobrist_table(n_items, seed + 1000)
    con_mask = np.arange(con.shape[1])[None, :] < con_len[:, None]
    con_key = np.bitwise_xor.reduce(np.where(con_mask, t_con[con], np.uint64(0)), axis=1)
    ant_mask = np.arange(ant.shape[1])[None, :] < ant_len[:, None]
    ant_key = np.bitwise_xor.reduce(np.where(ant_mask, t_ant[ant], np.uint64(0)), axis=1)
    rule_key = ant_key ^ con_key
    if "antecedent_count" in rules.columns:
        num = rules["count"].to_numpy(dtype=np.int64)
        den = rules["antecedent_count"].to_numpy(dtype=np.int64)
    else:
        num, den = None, None
    conf = rules["confidence"].to_numpy(dtype=np.float64)
    by_len = {int(a): np.flatnonzero(ant_len == a) for a in np.unique(ant_len)}
    lookups = {a: KeyLookup(rule_key[rows]) for a, rows in by_len.items()}
    for a, rows in by_len.items():
        if a < 2:
            continue
        items = ant[rows][:, :a]
        for sub in range(1, a):
            if sub not in lookups:
                continue
            for pos in combinations(range(a), sub):
                key = itemset_keys(items[:, list(pos)], t_ant) ^ con_key[rows]
                hit = lookups[sub].find(key)
                found = hit >= 0
                if not found.any():
                    continue
                me = rows[found]
                other = by_len[sub][hit[found]]
                if num is not None and den is not None:
                    ge = num[other] * den[me] >= num[me] * den[other]
                else:
                    ge = conf[other] >= conf[me]
                redundant[me[ge]] = True
    return redundant
