"""The real side of the generator's MMD loss: weighted item and pair supports of the baskets.

Why moments and not real mini-batches: with the kernel ``k(x, y) = a <x, y> + b * #shared pairs``
the MMD between generated baskets and *all* real baskets only needs the real item-support vector
and pair-support matrix (the kernel's mean embedding). Using the whole population instead of a
real mini-batch removes the real side's sampling noise, and — the reason it matters for privacy —
the moments are one fixed release: under DP they are published once with Gaussian noise and every
later generator step is post-processing, free of further privacy cost.

Per-basket weights bound each basket's influence (its L2 sensitivity) the way subsampling a
basket to ``clip_items`` items would on average: items by ``min(1, M/m)``, pairs by
``min(1, M(M-1) / (m(m-1)))``. Generated baskets get the same weights in the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


def size_weights(sizes: np.ndarray | torch.Tensor, clip_items: int) -> tuple:
    """(item weight, pair weight) per basket of ``sizes`` items (see the module docstring)."""
    lib = torch if isinstance(sizes, torch.Tensor) else np
    m = sizes.float() if isinstance(sizes, torch.Tensor) else np.asarray(sizes, dtype=np.float64)
    m1 = lib.clip(m, 1.0, None) if lib is np else m.clamp(min=1.0)
    m2 = lib.clip(m * (m - 1), 1.0, None) if lib is np else (m * (m - 1)).clamp(min=1.0)
    w1 = lib.minimum(m1 * 0 + 1.0, clip_items / m1)
    w2 = lib.minimum(m2 * 0 + 1.0, clip_items * (clip_items - 1) / m2)
    return w1, w2


def item_sensitivity(clip_items: int) -> float:
    """Largest L2 norm one basket adds to the weighted item-count vector."""
    return math.sqrt(clip_items)


def pair_sensitivity(clip_items: int) -> float:
    """Largest L2 norm one basket adds to the weighted pair counts (upper triangle)."""
    return math.sqrt(max(clip_items * (clip_items - 1) / 2, 1.0))


def weighted_item_counts(
    matrix: sp.csr_matrix, clip_items: int, noise_std: float = 0.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Sum over baskets of ``w1 * x`` (plus N(0, noise_std^2) per item when noise_std > 0)."""
    x = sp.csr_matrix(matrix, dtype=np.float64)
    w1, _ = size_weights(np.diff(x.indptr), clip_items)
    counts = np.asarray(x.multiply(w1[:, None]).sum(axis=0)).ravel()
    if noise_std > 0:
        counts = counts + (rng or np.random.default_rng()).normal(0.0, noise_std, counts.shape)
    return counts


def weighted_pair_counts(
    matrix: sp.csr_matrix, clip_items: int, noise_std: float = 0.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Symmetric (n, n) matrix, zero diagonal: sum over baskets of ``w2 * x x^T`` off the diagonal,
    with N(0, noise_std^2) added once per unordered pair when noise_std > 0."""
    x = sp.csr_matrix(matrix, dtype=np.float64)
    x.data[:] = 1.0
    _, w2 = size_weights(np.diff(x.indptr), clip_items)
    pairs = (x.T @ sp.diags(w2) @ x).toarray()
    np.fill_diagonal(pairs, 0.0)
    if noise_std > 0:
        n = pairs.shape[0]
        noise = np.triu((rng or np.random.default_rng()).normal(0.0, noise_std, (n, n)), k=1)
        pairs = pairs + noise + noise.T
    return pairs


@dataclass
class BasketMoments:
    """Item supports (n,) and pair supports (n, n), per basket, as the MMD's real side."""

    items: torch.Tensor
    pairs: torch.Tensor
    clip_items: int

    @classmethod
    def from_counts(
        cls, item_counts: np.ndarray, pair_counts: np.ndarray, n_baskets: int, clip_items: int
    ) -> BasketMoments:
        """Normalise (noisy) counts; negatives from noise are clipped to 0 (post-processing)."""
        items = np.clip(item_counts, 0.0, None) / max(n_baskets, 1)
        pairs = np.clip(pair_counts, 0.0, None) / max(n_baskets, 1)
        return cls(
            torch.as_tensor(items, dtype=torch.float32),
            torch.as_tensor(pairs, dtype=torch.float32),
            clip_items,
        )


def mmd_loss(
    baskets: torch.Tensor, sizes: torch.Tensor, real: BasketMoments, pair_weight: float
) -> torch.Tensor:
    """Unbiased MMD^2 between generated multi-hot ``baskets`` (B, n) and the real moments.

    Kernel: ``a w1 w1' <x, y> + b w2 w2' #shared pairs``, with ``a`` and ``b`` scaling both parts
    to 1 at the real data (``pair_weight`` = relative weight of the pair part). The generated
    side's self-similarity uses distinct pairs of baskets only (i != j), hence unbiased.
    """
    b_items, b_pairs = 1.0 / float(real.items.pow(2).sum().clamp_min(1e-12)), 0.0
    pair_norm = float(real.pairs.pow(2).sum()) / 2
    if pair_weight > 0 and pair_norm > 0:
        b_pairs = pair_weight / pair_norm
    w1, w2 = size_weights(sizes, real.clip_items)
    y = baskets
    gram = y @ y.T
    k = b_items * (w1[:, None] * w1[None, :]) * gram
    if b_pairs:
        y2 = y * y
        shared_pairs = (gram * gram - y2 @ y2.T) / 2
        k = k + b_pairs * (w2[:, None] * w2[None, :]) * shared_pairs
    n = len(y)
    gen_gen = (k.sum() - k.diagonal().sum()) / max(n * (n - 1), 1)
    gen_real = b_items * w1 * (y @ real.items)
    if b_pairs:
        gen_real = gen_real + b_pairs * w2 * ((y @ real.pairs) * y).sum(-1) / 2
    real_real = 1.0 + (pair_weight if b_pairs else 0.0)
    return gen_gen - 2 * gen_real.mean() + real_real
