"""Brute-force definitions the fast code is checked against (tiny inputs only)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import scipy.sparse as sp


def brute_itemsets(lists: list[list[int]], min_count: int, max_len: int | None = None) -> dict[tuple, int]:
    baskets = [frozenset(b) for b in lists]
    items = sorted(set().union(*baskets)) if baskets else []
    out: dict[tuple, int] = {}
    level = [(i,) for i in items]
    k = 1
    while level and (max_len is None or k <= max_len):
        nxt = []
        for s in level:
            c = sum(1 for b in baskets if b.issuperset(s))
            if c >= min_count:
                out[s] = c
                nxt.append(s)
        cand = set()
        for a, b in combinations(nxt, 2):
            if a[:-1] == b[:-1]:
                cand.add(tuple(sorted(set(a) | set(b))))
        level = sorted(cand)
        k += 1
    return out


def matrix_of(lists: list[list[int]], n_items: int) -> sp.csr_matrix:
    rows = [i for i, b in enumerate(lists) for _ in set(b)]
    cols = [j for b in lists for j in sorted(set(b))]
    return sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(lists), n_items))


def as_dict(fi) -> dict[tuple, int]:
    return dict(zip(fi.table["items"], fi.table["count"], strict=True))


def brute_redundant(rules) -> list[bool]:
    """arules is.redundant by definition: a proper-subset antecedent, same consequent, conf >= own."""
    conf = {
        (a, c): (n, d)
        for a, c, n, d in zip(
            rules.antecedent, rules.consequent, rules["count"], rules.antecedent_count, strict=True
        )
    }
    out = []
    for a, c, n, d in zip(
        rules.antecedent, rules.consequent, rules["count"], rules.antecedent_count, strict=True
    ):
        red = False
        for k in range(1, len(a)):
            for sub in combinations(a, k):
                if (sub, c) in conf:
                    n2, d2 = conf[(sub, c)]
                    if n2 * d >= n * d2:
                        red = True
        out.append(red)
    return out
