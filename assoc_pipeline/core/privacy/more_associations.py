"""Does adding synthetic baskets uncover associations that hold up? (issue 17 item 3)

The mission's claim is that generated baskets reveal associations the real data under-supports.
Tested here: mine rules on real training baskets alone and on real + synthetic; the rules only the
augmented set yields are checked in a later real period (confidence and lift at or above the
thresholds). The yardstick is the cheapest alternative — real-only mining at a lowered support —
whose extra rules are checked the same way. If synthetic baskets are to be worth it, their extra
rules must hold at least as often.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.privacy.synthetic_quality import (
    RULE_CONFIDENCE,
    RULE_MAX_LEN,
    RULE_SUPPORT,
    mine_rules,
)

Rule = tuple[tuple[int, ...], tuple[int, ...]]


def rules_holding(rules: set[Rule], period: BasketSet, min_confidence: float, min_lift: float) -> np.ndarray:
    """Per rule (sorted order), whether it holds in ``period``: confidence >= min_confidence and
    lift >= min_lift there (a rule whose antecedent never occurs does not hold)."""
    if not rules:
        return np.zeros(0, dtype=bool)
    x = sp.csc_matrix(period.matrix, dtype=bool)
    n = max(x.shape[0], 1)

    def holders(items: tuple[int, ...]) -> np.ndarray:
        mask = np.ones(x.shape[0], dtype=bool)
        for i in items:
            mask &= x[:, i].toarray().ravel()
        return mask

    out = []
    for ante, cons in sorted(rules):
        a = holders(ante)
        both = a & holders(cons)
        n_a, n_c = a.sum(), holders(cons).sum()
        conf = both.sum() / n_a if n_a else 0.0
        lift = conf / (n_c / n) if n_c else 0.0
        out.append(conf >= min_confidence and lift >= min_lift)
    return np.array(out, dtype=bool)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (nan when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def more_associations(
    train_real: BasketSet,
    synthetic: BasketSet,
    test_real: BasketSet,
    *,
    min_support: float = RULE_SUPPORT,
    min_confidence: float = RULE_CONFIDENCE,
    min_lift: float = 1.0,
    lowered_support_factor: float = 0.5,
    max_len: int = RULE_MAX_LEN,
) -> dict[str, float]:
    """Counts and hold-up shares (with 95% intervals) of: the real rules, the extra rules of
    real + synthetic mining, and the extra rules of real-only mining at ``lowered_support_factor``
    times the support."""
    if not 0 < lowered_support_factor < 1:
        raise ValueError(
            f"more_associations: lowered_support_factor must be in (0, 1), got {lowered_support_factor}"
        )
    augmented = sp.vstack(
        [sp.csr_matrix(train_real.matrix, dtype=bool), sp.csr_matrix(synthetic.matrix, dtype=bool)]
    )
    base = mine_rules(train_real, min_support, min_confidence, max_len)
    with_synthetic = mine_rules(augmented, min_support, min_confidence, max_len)
    lowered = mine_rules(train_real, min_support * lowered_support_factor, min_confidence, max_len)
    out: dict[str, float] = {}
    for name, rules in (
        ("real", base),
        ("synthetic_extra", with_synthetic - base),
        ("lowered_support_extra", lowered - base),
    ):
        holds = rules_holding(rules, test_real, min_confidence, min_lift)
        lo, hi = wilson_interval(int(holds.sum()), len(holds))
        out[f"{name}_rules"] = len(rules)
        out[f"{name}_hold_share"] = float(holds.mean()) if len(holds) else float("nan")
        out[f"{name}_hold_share_lo"], out[f"{name}_hold_share_hi"] = lo, hi
    out["real_rules_lost_with_synthetic"] = len(base - with_synthetic)
    return out
