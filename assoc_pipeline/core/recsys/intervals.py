"""Bootstrap confidence intervals over queries, paired where two methods face the same queries.

Why paired: every method of the report scores the same queries, so the difference between two
methods is measured per query and resampled as one; that interval is much tighter (and the right
one) compared with two independent intervals that overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """A point estimate (the mean over queries) and its percentile bootstrap interval."""

    value: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


def resample_indices(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, n) query indices drawn with replacement; share one draw to pair methods."""
    if n <= 0:
        return np.zeros((resamples, 0), dtype=np.int64)
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap(values: np.ndarray, indices: np.ndarray, level: float = 0.95) -> Interval:
    """Mean of ``values`` (one per query) with its percentile interval over ``indices``' resamples."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    means = values[indices].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Interval(float(values.mean()), float(low), float(high))


def paired_difference(a: np.ndarray, b: np.ndarray, indices: np.ndarray, level: float = 0.95) -> Interval:
    """``a - b`` over the same queries, resampled as pairs."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: {a.shape} vs {b.shape} values; the queries must be the same")
    return bootstrap(a - b, indices, level)


def paired_ratio(a: np.ndarray, b: np.ndarray, indices: np.ndarray, level: float = 0.95) -> Interval:
    """mean(a) / mean(b) over the same queries, resampled as pairs (e.g. model / baseline recall)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) == 0 or b.mean() == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    ratios = a[indices].mean(axis=1) / np.maximum(b[indices].mean(axis=1), 1e-12)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return Interval(float(a.mean() / b.mean()), float(low), float(high))
