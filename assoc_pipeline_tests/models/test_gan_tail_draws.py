"""The GAN's tail items: both samplers draw k distinct items by support (successive sampling),
checked against the exact inclusion probabilities enumerated by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from assoc_pipeline.core.recsys.models.gan import tail_draws as td


def _inclusion(probs: np.ndarray, k: int) -> np.ndarray:
    """P(item in the sample) under successive sampling, by enumerating every ordered k-tuple."""
    out = np.zeros(len(probs))
    for order in itertools.permutations(range(len(probs)), k):
        p, left = 1.0, 1.0
        for i in order:
            p *= probs[i] / left
            left -= probs[i]
        out[list(order)] += p
    return out


@pytest.mark.parametrize("sampler", [td._gumbel_top_k, td._first_distinct])
@pytest.mark.parametrize("probs", [[0.3, 0.25, 0.2, 0.1, 0.1, 0.05], [0.9, 0.04, 0.03, 0.01, 0.01, 0.01]])
def test_each_sampler_draws_k_distinct_items_by_support(sampler, probs) -> None:
    """The second support is so skewed that 16 draws often hold fewer than 4 distinct items: the
    short rows extend their own draws (a fresh draw would favour quick samples and fail here)."""
    probs = np.asarray(probs)
    items = np.array([10, 11, 12, 13, 14, 15], dtype=np.int64)
    n, k = 40_000, 4
    counts = np.full(n, k)
    counts[::5] = 0  # baskets without tail items stay empty
    rows = sampler(np.random.default_rng(3), items, probs, counts, k)
    assert [len(r) for r in rows] == counts.tolist()
    assert all(len(set(r)) == len(r) and set(r) <= set(items) for r in rows)
    drawn = np.concatenate(rows) - 10
    freq = np.bincount(drawn, minlength=6) / np.count_nonzero(counts)
    exact = _inclusion(probs, k)
    sd = np.sqrt(exact * (1 - exact) / np.count_nonzero(counts))
    assert np.all(np.abs(freq - exact) < 5 * sd + 1e-9), (freq, exact)


def test_large_tails_take_the_draws_and_small_ones_the_gumbel_keys(monkeypatch) -> None:
    items = np.arange(50, dtype=np.int64)
    probs = np.full(50, 1 / 50)
    counts = np.array([0, 2, 5, 1])
    small = td.tail_draws(np.random.default_rng(0), items, probs, counts)
    assert [len(r) for r in small] == [0, 2, 5, 1]
    gumbel = td._gumbel_top_k(np.random.default_rng(0), items, probs, counts, 5)
    assert all(np.array_equal(a, b) for a, b in zip(small, gumbel, strict=True))  # the same stream
    monkeypatch.setattr(td, "GUMBEL_MAX_ITEMS", 10)
    large = td.tail_draws(np.random.default_rng(0), items, probs, counts)
    first = td._first_distinct(np.random.default_rng(0), items, probs, counts, 5)
    assert all(np.array_equal(a, b) for a, b in zip(large, first, strict=True))
    assert all(len(r) == 0 for r in td.tail_draws(np.random.default_rng(0), items, probs, np.zeros(3, int)))
