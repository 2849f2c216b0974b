"""Reference backend: mlxtend's fpgrowth (or apriori) on a sparse DataFrame.

Kept for cross-checking, not for speed. Infrequent columns are dropped before mlxtend sees the
data (it is much faster and the answer is the same), and the threshold handed to mlxtend is
``(min_count - 0.5) / n`` so its float comparison can neither drop nor add a count (passing
``count / n`` can round up by one: 441/88162*88162 = 441.00000000000006).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .itemsets import Levels, levels_from_pairs


def mine_levels(
    matrix: sp.spmatrix, min_count: int, max_len: int | None = None, *, algorithm: str = "fpgrowth"
) -> tuple[Levels, np.ndarray]:
    from mlxtend.frequent_patterns import apriori, fpgrowth

    x = sp.csr_matrix(matrix, dtype=bool)
    n = x.shape[0]
    item_counts = np.asarray(x.sum(axis=0)).ravel().astype(np.int64)
    keep = np.flatnonzero(item_counts >= min_count)
    if len(keep) == 0 or n == 0 or (max_len is not None and max_len < 1):
        return {}, item_counts
    sub = x[:, keep].tocsc()
    df = pd.DataFrame.sparse.from_spmatrix(sub, columns=list(range(len(keep))))
    threshold = (min_count - 0.5) / n
    if algorithm == "fpgrowth":
        res = fpgrowth(df, min_support=threshold, max_len=max_len)
    elif algorithm == "apriori":
        res = apriori(df, min_support=threshold, max_len=max_len, low_memory=True)
    else:
        raise ValueError(f"mlxtend backend: unknown algorithm {algorithm!r} (fpgrowth or apriori)")
    pairs = [
        (tuple(int(keep[i]) for i in s), round(sup * n))
        for s, sup in zip(res["itemsets"], res["support"], strict=True)
    ]
    return levels_from_pairs(pairs), item_counts


def mlxtend_rules(itemsets, min_confidence: float) -> pd.DataFrame:
    """mlxtend's own ``association_rules`` on our itemsets, in the rules contract's key columns.

    For cross-checking :func:`derive_rules`; returns antecedent, consequent, count, confidence,
    lift with all consequent sizes (filter ``consequent`` length yourself for arules' view).
    """
    from mlxtend.frequent_patterns import association_rules

    t = itemsets.table
    fi = pd.DataFrame({"support": t["support"].to_numpy(), "itemsets": [frozenset(s) for s in t["items"]]})
    cols = ["antecedent", "consequent", "count", "confidence", "lift"]
    if fi.empty:
        return pd.DataFrame(columns=cols)
    res = association_rules(
        fi,
        num_itemsets=itemsets.n_baskets,
        metric="confidence",
        min_threshold=min_confidence,
        return_metrics=["support", "confidence", "lift"],
    )
    n = itemsets.n_baskets
    return pd.DataFrame(
        {
            "antecedent": [tuple(sorted(a)) for a in res["antecedents"]],
            "consequent": [tuple(sorted(c)) for c in res["consequents"]],
            "count": np.rint(res["support"].to_numpy(dtype=float) * n).astype(np.int64),
            "confidence": res["confidence"].to_numpy(dtype=float),
            "lift": res["lift"].to_numpy(dtype=float),
        },
        columns=cols,
    )
