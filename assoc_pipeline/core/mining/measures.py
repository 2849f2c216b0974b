"""Interest measures of rules A => C, computed from integer counts in one vectorised pass.

Definitions follow mlxtend / arules (Hahsler's interest-measure reference):
support = n(AC)/n; confidence = n(AC)/n(A); lift = confidence / s(C);
leverage = s(AC) - s(A)s(C); conviction = (1 - s(C)) / (1 - confidence) (inf when confidence = 1);
zhangs_metric = leverage / max(s(AC)(1 - s(A)), s(A)(s(C) - s(AC))) (0 when that is 0);
jaccard = n(AC) / (n(A) + n(C) - n(AC)); kulczynski = (n(AC)/n(A) + n(AC)/n(C)) / 2;
certainty (Berzal's certainty factor, as arules) = (conf - s(C)) / (1 - s(C)) when conf > s(C),
else (conf - s(C)) / s(C), so it stays in [-1, 1] (mlxtend always divides by 1 - s(C)).
"""

from __future__ import annotations

import numpy as np

MEASURES: tuple[str, ...] = (
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
    "zhangs_metric",
    "jaccard",
    "kulczynski",
    "certainty",
    "antecedent_support",
    "consequent_support",
)
RANGES: dict[str, tuple[float, float]] = {
    "support": (0.0, 1.0),
    "confidence": (0.0, 1.0),
    "lift": (0.0, np.inf),
    "leverage": (-0.25, 0.25),
    "conviction": (0.0, np.inf),
    "zhangs_metric": (-1.0, 1.0),
    "jaccard": (0.0, 1.0),
    "kulczynski": (0.0, 1.0),
    "certainty": (-1.0, 1.0),
    "antecedent_support": (0.0, 1.0),
    "consequent_support": (0.0, 1.0),
}


def rule_measures(
    n: int, n_ac: np.ndarray, n_a: np.ndarray, n_c: np.ndarray, which: tuple[str, ...] = MEASURES
) -> dict[str, np.ndarray]:
    """Every measure in ``which`` for rules with counts n(AC), n(A), n(C) over ``n`` baskets.

    The values are the rows of one (len(which), rules) float block (:func:`measure_block`)."""
    return dict(zip(which, measure_block(n, n_ac, n_a, n_c, which), strict=True))


def measure_block(
    n: int, n_ac: np.ndarray, n_a: np.ndarray, n_c: np.ndarray, which: tuple[str, ...] = MEASURES
) -> np.ndarray:
    """The measures in ``which`` as the rows of one float64 block, each computed into its row:
    a rules table takes the block as its measure columns without another copy."""
    unknown = [name for name in which if name not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure {unknown[0]!r}; known: {', '.join(MEASURES)}")
    n_ac = np.asarray(n_ac, dtype=np.float64)
    n_a = np.asarray(n_a, dtype=np.float64)
    n_c = np.asarray(n_c, dtype=np.float64)
    s_ac, s_a, s_c = n_ac / n, n_a / n, n_c / n
    conf = n_ac / n_a
    block = np.empty((len(which), len(n_ac)), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for row, name in zip(block, which, strict=True):
            if name == "support":
                row[:] = s_ac
            elif name == "confidence":
                row[:] = conf
            elif name == "lift":
                np.divide(conf, s_c, out=row)
            elif name == "leverage":
                np.subtract(s_ac, s_a * s_c, out=row)
            elif name == "conviction":
                np.divide(1.0 - s_c, 1.0 - conf, out=row)
                row[~(conf < 1.0)] = np.inf  # confidence 1 (or undefined)
            elif name == "zhangs_metric":
                den = np.maximum(s_ac * (1.0 - s_a), s_a * (s_c - s_ac))
                np.divide(s_ac - s_a * s_c, den, out=row)
                row[den == 0] = 0.0
            elif name == "jaccard":
                np.divide(n_ac, n_a + n_c - n_ac, out=row)
            elif name == "kulczynski":
                np.divide(n_ac / n_a + n_ac / n_c, 2.0, out=row)
            elif name == "certainty":
                row[:] = np.where(
                    conf > s_c,
                    np.where(s_c < 1.0, (conf - s_c) / (1.0 - s_c), 0.0),
                    np.where(s_c > 0.0, (conf - s_c) / s_c, 0.0),
                )
            elif name == "antecedent_support":
                row[:] = s_a
            else:  # consequent_support
                row[:] = s_c
    return block
