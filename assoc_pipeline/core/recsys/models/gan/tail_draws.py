"""The tail items of synthetic baskets: per basket, k items without replacement, by support.

Why two samplers of one distribution: Gumbel top-k over the whole tail is one vectorised draw,
cheap for the few thousand tail items of a retailer's year, but it costs a random key per tail
item per basket, so a 59k-item tail made the GAN's evaluation sample (hundreds of thousands of
baskets) take longer than its training. Above :data:`GUMBEL_MAX_ITEMS` the same distribution
(successive sampling: each next item drawn by support among those not yet drawn) comes from
independent draws with replacement, keeping the first k distinct: the cost follows k, not the
tail. Below it the Gumbel keys are kept, so every figure measured with them stays as it was.
"""

from __future__ import annotations

import numpy as np

GUMBEL_MAX_ITEMS = 8192  # tails up to this size: Gumbel top-k (the shipped year's ~2,900)


def tail_draws(
    rng: np.random.Generator, items: np.ndarray, probs: np.ndarray, counts: np.ndarray
) -> list[np.ndarray]:
    """``counts[i]`` distinct entries of ``items`` per basket ``i`` (each <= len(items)), drawn
    without replacement with probabilities proportional to ``probs``."""
    empty = np.zeros(0, dtype=items.dtype)
    most = int(counts.max()) if len(counts) else 0
    if most == 0:
        return [empty] * len(counts)
    if len(items) <= GUMBEL_MAX_ITEMS:
        return _gumbel_top_k(rng, items, probs, counts, most)
    return _first_distinct(rng, items, probs, counts, most)


def _gumbel_top_k(
    rng: np.random.Generator, items: np.ndarray, probs: np.ndarray, counts: np.ndarray, most: int
) -> list[np.ndarray]:
    keys = np.log(probs)[None, :] + rng.gumbel(size=(len(counts), len(items)))
    best = (
        np.argpartition(-keys, most - 1, axis=1)[:, :most]
        if most < keys.shape[1]
        else np.tile(np.arange(keys.shape[1]), (len(counts), 1))
    )
    ranked = np.take_along_axis(best, np.argsort(-np.take_along_axis(keys, best, 1), axis=1), 1)
    return [items[ranked[i, :k]] for i, k in enumerate(counts)]


def _first_distinct(
    rng: np.random.Generator, items: np.ndarray, probs: np.ndarray, counts: np.ndarray, most: int
) -> list[np.ndarray]:
    """The first ``counts[i]`` distinct values of an i.i.d. sequence of draws by ``probs``: a row
    still short extends its own sequence (never a fresh one: that would favour quick draws)."""
    cdf = np.cumsum(probs, dtype=np.float64)
    cdf /= cdf[-1]
    out = [np.zeros(0, dtype=items.dtype)] * len(counts)
    rows = np.flatnonzero(counts > 0)
    drawn: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(rows)
    width = 2 * most + 8
    while len(rows):
        more = np.searchsorted(cdf, rng.random((len(rows), width)), side="right")
        np.minimum(more, len(items) - 1, out=more)
        short_rows, short_drawn = [], []
        for r, before, now in zip(rows, drawn, more, strict=True):
            seq = np.concatenate([before, now])
            _, first = np.unique(seq, return_index=True)
            if len(first) >= counts[r]:
                out[r] = items[seq[np.sort(first)[: counts[r]]]]
            else:
                short_rows.append(r)
                short_drawn.append(seq)
        rows, drawn, width = np.asarray(short_rows, dtype=np.int64), short_drawn, width * 2
    return out
