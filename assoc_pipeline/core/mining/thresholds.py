"""Inclusive ratio thresholds in exact integer arithmetic.

``num / den >= threshold`` with the threshold read as the decimal the caller wrote, so 8/10 and
12/15 pass at 0.8 (a float product such as 0.8 * 10 could land on either side of 8).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def ratio_at_least(num: np.ndarray, den: np.ndarray, threshold: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    frac = Fraction(repr(float(threshold)))
    p, q = frac.numerator, frac.denominator
    biggest = int(max(num.max(initial=0), den.max(initial=0)))
    if q <= 2**31 and max(p, q) * max(biggest, 1) < 2**62:
        return num * q >= den * p
    return num / den >= float(threshold)
