"""One-item association rules ``a -> c`` of a history, read as ranking features: for a (user,
candidate) pair, the best rule into the candidate from any item the user bought.

Why: the mission's claim is that a deep model finds more than support and confidence; to measure
that, the ranker must be able to read support and confidence. Only one-item antecedents: a
user's history holds tens to hundreds of items, so every rule whose antecedent is one of them can
fire, and the pairs are counted straight from the basket matrix at each prediction time (the
rules asset mines longer antecedents once, on the whole training period: reading those here would
leak the future into the training lists). Only items at ``min_support`` or above can be in a
frequent pair, so the counts are a small dense (frequent x frequent) block even at 100k items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from assoc_pipeline.core.index_ranges import row_entries

MAX_RULE_ITEMS = 2000  # frequent items kept at most: three dense 2000 x 2000 float32 blocks, 48 MB
RULE_PAIRS = 1 << 22  # (candidate row, held frequent item) pairs looked up at a time


@dataclass(frozen=True)
class PairRules:
    """Rules between the ``items`` (those at ``min_support``; sorted indices into the catalogue):
    ``confidence[a, c]`` = P(c | a), ``lift[a, c]``, ``support[a, c]`` (share of baskets), zero
    where the pair is below ``min_support`` or ``a == c``."""

    items: np.ndarray
    confidence: np.ndarray
    lift: np.ndarray
    support: np.ndarray

    @classmethod
    def of(cls, matrix: sp.spmatrix, min_support: float, max_items: int = MAX_RULE_ITEMS) -> PairRules:
        x = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        x.data[:] = 1.0
        n = x.shape[0]
        item_counts = np.asarray(x.sum(axis=0)).ravel()
        min_count = max(min_support * n, 1.0)
        items = np.flatnonzero(item_counts >= min_count)
        if len(items) > max_items:  # the most frequent ones (a very low min_support)
            items = np.sort(items[np.argsort(-item_counts[items], kind="stable")[:max_items]])
        block = x[:, items]
        pair = np.asarray((block.T @ block).todense(), dtype=np.float64)
        np.fill_diagonal(pair, 0.0)
        pair[pair < min_count] = 0.0
        counts = item_counts[items].astype(np.float64)
        confidence = pair / np.maximum(counts[:, None], 1.0)
        lift = confidence * n / np.maximum(counts[None, :], 1.0)
        return cls(
            items,
            confidence.astype(np.float32),
            lift.astype(np.float32),
            (pair / max(n, 1)).astype(np.float32),
        )

    def best_into(
        self, antecedents: sp.csr_matrix, list_of_row: np.ndarray, candidates: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Per row (query ``list_of_row``, item ``candidates``): the confidence, lift and support of
        the most confident rule from the query's items (``antecedents``: queries x catalogue, any
        nonzero = held) into the item; zeros where no rule reaches it."""
        out = {k: np.zeros(len(candidates), np.float32) for k in ("confidence", "lift", "support")}
        if len(self.items) == 0 or len(candidates) == 0:
            return out
        column = np.full(antecedents.shape[1], -1, dtype=np.int64)
        column[self.items] = np.arange(len(self.items))
        held = sp.csr_matrix(antecedents)[:, self.items].tocsr()
        held.eliminate_zeros()  # a stored zero holds nothing (a user without history, zeroed)
        held.sort_indices()
        n_held = np.diff(held.indptr)
        rows = np.flatnonzero((column[candidates] >= 0) & (n_held[list_of_row] > 0))
        ends = np.cumsum(n_held[list_of_row[rows]])
        start = 0
        while start < len(rows):  # rows in chunks of about RULE_PAIRS (row, held item) pairs
            base = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, base + RULE_PAIRS, "right")))
            chunk = rows[start:stop]
            per_row = n_held[list_of_row[chunk]]
            a = held.indices[row_entries(held.indptr, list_of_row[chunk])]
            c = np.repeat(column[candidates[chunk]], per_row)
            conf = self.confidence[a, c]
            first = np.concatenate([[0], np.cumsum(per_row)[:-1]])
            best = np.maximum.reduceat(conf, first)
            segment = np.repeat(np.arange(len(chunk)), per_row)
            at_best = np.flatnonzero(conf == best[segment])
            _, pick = np.unique(segment[at_best], return_index=True)
            top = at_best[pick]  # the first (lowest item) of each row's most confident rules
            out["confidence"][chunk] = conf[top]
            out["lift"][chunk] = self.lift[a[top], c[top]]
            out["support"][chunk] = self.support[a[top], c[top]]
            start = stop
        return out
