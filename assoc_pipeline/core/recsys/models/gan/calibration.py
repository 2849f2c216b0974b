"""What the basket GAN's calibration rounds measure and how far each round moves the generator.

After training, rounds of draws compare the synthetic baskets with the training baskets on two
things the rules asset reads: each modelled item's share of baskets (moved by the output bias) and,
for every pair of modelled items that at least the rules' support of training baskets hold (and
every pair the first round's draws hold at it: :meth:`CalibrationTargets.with_drawn_pairs`), the
confidence in each direction (moved by the affinity table, whose row ``i`` is how strongly a
drawn ``i`` pulls each other item into its basket). Under DP (``dp_calibration``) the targets are
the released moments instead, and draws are weighted as they are. Pure numpy: the model applies
the steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from assoc_pipeline.core.recsys.models.gan.basket_moments import weighted_item_counts, weighted_pair_counts
from assoc_pipeline.core.sparse_pairs import values_at

SHARE_FLOOR = 1e-4  # added to both shares: an item neither side draws moves by nothing
CONFIDENCE_FLOOR = 0.02  # added to both confidences: a pair seen once in the draws moves by little


def _binary(x: sp.spmatrix) -> sp.csr_matrix:
    """``x`` as a float 0/1 basket-by-item matrix."""
    out = sp.csr_matrix(x, dtype=np.float64, copy=True)
    out.data[:] = 1.0
    return out


def _multi_hot(baskets: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Drawn baskets (arrays of generator positions) as a basket-by-item 0/1 matrix."""
    sizes = np.fromiter((len(b) for b in baskets), dtype=np.int64, count=len(baskets))
    return sp.csr_matrix(
        (
            np.ones(int(sizes.sum())),
            np.concatenate(baskets) if len(baskets) else np.zeros(0, np.int64),
            np.concatenate([[0], np.cumsum(sizes)]),
        ),
        shape=(len(baskets), n_items),
    )


@dataclass(frozen=True)
class CalibrationTargets:
    """The training baskets' item shares and, for the calibrated pairs ``(rows[k], cols[k])``
    (``rows < cols``), the share of baskets holding both. Positions are the generator's outputs."""

    items: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    pairs: np.ndarray
    clip_items: int | None = None  # shares weighted as the MMD's moments are (released targets)

    @classmethod
    def released(
        cls, items: np.ndarray, pairs: np.ndarray, min_pair_support: float, clip_items: int
    ) -> CalibrationTargets:
        """Targets from the moments released under DP (weighted shares per basket, noise included):
        calibrating to them is post-processing, so it spends no privacy. ``pairs``: (n, n)."""
        rows, cols = np.triu_indices(len(items), k=1)
        keep = pairs[rows, cols] >= min_pair_support
        return cls(
            np.asarray(items, dtype=np.float64),
            rows[keep].astype(np.int64),
            cols[keep].astype(np.int64),
            np.asarray(pairs[rows[keep], cols[keep]], dtype=np.float64),
            clip_items,
        )

    @classmethod
    def of(cls, x_top: sp.csr_matrix, min_pair_support: float | None) -> CalibrationTargets:
        """Targets from the training baskets over the modelled items: the pairs at least
        ``min_pair_support`` of them hold; no pairs when ``min_pair_support`` is None."""
        x = _binary(x_top)
        n = max(x.shape[0], 1)
        items = np.asarray(x.sum(axis=0)).ravel() / n
        empty = np.zeros(0, dtype=np.int64)
        if min_pair_support is None:
            return cls(items, empty, empty, np.zeros(0))
        together = sp.triu(x.T @ x, k=1).tocoo()
        keep = together.data / n >= min_pair_support
        return cls(
            items,
            together.row[keep].astype(np.int64),
            together.col[keep].astype(np.int64),
            together.data[keep] / n,
        )

    def with_drawn_pairs(
        self, x_top: sp.csr_matrix, baskets: list[np.ndarray], min_pair_support: float
    ) -> CalibrationTargets:
        """These targets plus every pair that the drawn ``baskets`` (generator positions) hold at
        ``min_pair_support`` while the training baskets (``x_top``) hold it less: a synthetic rule
        the training baskets do not support is a false rule, and only these pairs' confidences can
        be moved down. Real shares of the added pairs from ``x_top`` (zero where never together)."""
        n_items = len(self.items)
        drawn = _multi_hot(baskets, n_items)
        together = sp.triu(drawn.T @ drawn, k=1).tocoo()
        keep = together.data / max(len(baskets), 1) >= min_pair_support
        keys = np.union1d(
            self.rows * n_items + self.cols,
            together.row[keep].astype(np.int64) * n_items + together.col[keep].astype(np.int64),
        )
        rows, cols = keys // n_items, keys % n_items
        real = _binary(x_top)
        pairs = values_at(sp.csr_matrix(real.T @ real), rows, cols) / max(real.shape[0], 1)
        return CalibrationTargets(self.items, rows, cols, pairs, self.clip_items)

    @property
    def has_pairs(self) -> bool:
        return len(self.pairs) > 0


@dataclass(frozen=True)
class DrawnShares:
    """The same figures measured on drawn baskets."""

    items: np.ndarray
    pairs: np.ndarray

    @classmethod
    def of(cls, baskets: list[np.ndarray], targets: CalibrationTargets) -> DrawnShares:
        """``baskets``: arrays of generator positions (modelled items only)."""
        n = max(len(baskets), 1)
        x = _multi_hot(baskets, len(targets.items))
        if targets.clip_items is not None:  # measured as the released targets are
            items = weighted_item_counts(x, targets.clip_items) / n
            if not targets.has_pairs:
                return cls(items, np.zeros(0))
            return cls(items, weighted_pair_counts(x, targets.clip_items)[targets.rows, targets.cols] / n)
        items = np.asarray(x.sum(axis=0)).ravel() / n
        if not targets.has_pairs:
            return cls(items, np.zeros(0))
        return cls(items, values_at(sp.csr_matrix(x.T @ x), targets.rows, targets.cols) / n)


def calibration_errors(targets: CalibrationTargets, drawn: DrawnShares) -> tuple[float, float]:
    """Mean absolute error of the item shares and of the calibrated pairs' shares (0 without pairs)."""
    items = float(np.abs(drawn.items - targets.items).mean())
    pairs = float(np.abs(drawn.pairs - targets.pairs).mean()) if targets.has_pairs else 0.0
    return items, pairs


def item_steps(targets: CalibrationTargets, drawn: DrawnShares) -> np.ndarray:
    """log(real share / synthetic share) per modelled item: what the output bias moves by."""
    return np.log((targets.items + SHARE_FLOOR) / (drawn.items + SHARE_FLOOR))


def confidence_steps(
    targets: CalibrationTargets, drawn: DrawnShares
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pulling item, pulled item, log(real / synthetic confidence)) for both directions of every
    calibrated pair: an item-to-item rule ``a -> c`` holds on its confidence, and the affinity entry
    ``[a, c]`` is what raises ``c`` in baskets that hold ``a``."""
    out_rows, out_cols, out_steps = [], [], []
    for a, c in ((targets.rows, targets.cols), (targets.cols, targets.rows)):
        real = targets.pairs / np.maximum(targets.items[a], 1e-12)
        synthetic = drawn.pairs / np.maximum(drawn.items[a], 1e-12)
        out_rows.append(a)
        out_cols.append(c)
        out_steps.append(np.log((real + CONFIDENCE_FLOOR) / (synthetic + CONFIDENCE_FLOOR)))
    return np.concatenate(out_rows), np.concatenate(out_cols), np.concatenate(out_steps)
