"""Non-adversarial reference generators the GAN must beat: independent items, a co-occurrence chain.

Why: a GAN is only worth its cost if it learns joint structure that simple samplers miss. Both
references draw basket sizes from the real histogram (like the GAN), so only the item choice differs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.gan.sampled_baskets import basket_set_from_lists


class _SizedSampler:
    def __init__(self, max_basket_size: int = 1000) -> None:  # the GAN's cap: real wholesale sizes
        self.max_basket_size = max_basket_size
        self.vocabulary = None
        self.size_values = np.array([1])
        self.size_probs = np.array([1.0])
        self.item_probs = np.zeros(0)

    def _fit_marginals(self, train: BasketSet) -> sp.csr_matrix:
        m = sp.csr_matrix(train.matrix, dtype=np.float64)
        m.data[:] = 1.0
        sizes = np.minimum(np.diff(m.indptr), self.max_basket_size)
        sizes = sizes[sizes > 0]
        if len(sizes) == 0:
            raise ValueError(f"{type(self).__name__}: no non-empty training baskets")
        self.size_values, counts = np.unique(sizes, return_counts=True)
        self.size_probs = counts / counts.sum()
        freq = np.asarray(m.sum(axis=0)).ravel()
        self.item_probs = freq / freq.sum()
        self.vocabulary = train.vocabulary
        return m

    def _sizes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        sizes = rng.choice(self.size_values, n, p=self.size_probs)
        return np.minimum(sizes, int((self.item_probs > 0).sum()))

    def sample_basket_set(self, n: int, seed: int = 0) -> BasketSet:
        return basket_set_from_lists(self.sample(n, seed), self.vocabulary, f"{self.name}-{seed}")


class IndependentItems(_SizedSampler):
    """Each basket: a real size, then items without replacement in proportion to their support."""

    name = "independent"

    def fit(self, train: BasketSet) -> IndependentItems:
        self._fit_marginals(train)
        return self

    def sample(self, n: int, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        items = np.arange(len(self.item_probs))
        return [np.sort(rng.choice(items, k, replace=False, p=self.item_probs)) for k in self._sizes(rng, n)]


class CooccurrenceChain(_SizedSampler):
    """First item by support; each next item in proportion to its co-occurrence count with the
    previous one (a first-order Markov chain over the pair counts), by support when that row is empty."""

    name = "markov"

    def fit(self, train: BasketSet) -> CooccurrenceChain:
        m = self._fit_marginals(train)
        cooc = (m.T @ m).tocsr()
        cooc.setdiag(0)
        cooc.eliminate_zeros()
        self.cooc = cooc
        return self

    def sample(self, n: int, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        n_items = len(self.item_probs)
        out = []
        for k in self._sizes(rng, n):
            chosen = [int(rng.choice(n_items, p=self.item_probs))]
            taken = {chosen[0]}
            while len(chosen) < k:
                row = self.cooc.getrow(chosen[-1])
                cand, w = row.indices, row.data.astype(np.float64)
                keep = np.array([c not in taken for c in cand], dtype=bool)
                cand, w = cand[keep], w[keep]
                if len(cand):
                    nxt = int(rng.choice(cand, p=w / w.sum()))
                else:
                    probs = self.item_probs.copy()
                    probs[list(taken)] = 0.0
                    nxt = int(rng.choice(n_items, p=probs / probs.sum()))
                chosen.append(nxt)
                taken.add(nxt)
            out.append(np.sort(np.array(chosen, dtype=np.int64)))
        return out
