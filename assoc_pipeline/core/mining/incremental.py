"""Incremental frequent itemsets (FUP-style): add baskets without re-mining the old ones.

Let ``L`` be the frequent itemsets of the old baskets ``D`` (up to ``max_len``) and ``NB`` their
negative border (not frequent, every proper subset frequent). Both are kept with exact counts
(see :attr:`FrequentItemsets.border`). New baskets ``d`` are appended; ``C`` is the count
threshold of ``D + d`` at the same min_support.

Level-wise over ``D + d``, the candidates of length ``k`` are ``gen(L'_{k-1})``: every k-itemset
all of whose (k-1)-subsets are frequent in ``D + d`` (all items when ``k = 1``). Every frequent
k-itemset is a candidate (anti-monotonicity), so if every candidate's count is exact, ``L'_k`` is
exact and, by induction, so is the whole result. A candidate ``X`` gets its count as follows:

* if all of X's (k-1)-subsets are in the old ``L`` then ``X`` is in ``L`` or in ``NB`` (by their
  definitions), so its count in ``D`` is stored (zero when stored in neither: the border keeps
  only non-zero counts) and only its count in ``d`` is computed — the FUP update;
* otherwise ``X`` has a subset that was not frequent in ``D``; it can only be a candidate because
  some border itemset (or a new item) became frequent. Its count is taken over all baskets
  ("rescanned"). When no border itemset becomes frequent, no candidate is of this kind.

The candidates that miss ``C`` are exactly the new negative border, so it comes out with exact
counts, ready for the next update. Too many rescans (``max_rescan``) fall back to a full re-mine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import limits
from .api import mine_itemsets
from .hashing import HashCollision, KeyLookup, itemset_keys, zobrist_table
from .itemsets import FrequentItemsets, Levels, min_count_for, normalise_levels
from .limits import MAX_ITEMSETS, ItemsetExplosion
from .rank_space import canonical_csr

MAX_RESCAN = 200_000  # candidates counted over all baskets before a full re-mine is cheaper


@dataclass(frozen=True)
class IncrementalReport:
    """How an update went: ``mode`` "incremental" or "full", and why."""

    mode: str
    reason: str
    n_old: int
    n_new: int
    counted_in_new: int = 0  # candidate itemsets whose count was updated from the new baskets only
    rescanned: int = 0  # candidates counted over all baskets (below a border itemset that became frequent)
    promoted: int = 0  # old border itemsets (new items included) that became frequent
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- itemset primitives


def find_rows(stored: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row of ``stored`` equal to each row of ``queries`` (both (m, k) sorted-within-row), or -1.

    Zobrist keys find the candidate row and an exact row comparison confirms it, so a key
    collision can never produce a wrong answer.
    """
    if len(stored) == 0 or len(queries) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    n_items = int(max(stored.max(), queries.max())) + 1
    for seed in range(4):
        table = zobrist_table(n_items, seed)
        try:
            lookup = KeyLookup(itemset_keys(stored, table))
        except HashCollision:
            continue
        pos = lookup.find(itemset_keys(queries, table))
        hit = pos >= 0
        same = np.zeros(len(queries), dtype=bool)
        same[hit] = np.all(stored[pos[hit]] == queries[hit], axis=1)
        return np.where(same, pos, -1)
    raise HashCollision("could not find collision-free itemset keys")


def apriori_gen(prev: np.ndarray) -> np.ndarray:
    """All k-itemsets whose (k-1)-subsets are all rows of ``prev`` ((m, k-1), sorted, unique).

    Rows sharing their first k-2 items are joined pairwise; the join's remaining subsets are then
    checked against ``prev``. The result is lexicographically sorted.
    """
    m, km1 = prev.shape
    prev = normalise_levels({km1: (prev, np.zeros(m, dtype=np.int64))}).get(km1, (prev, None))[0]
    if m < 2:
        return np.zeros((0, km1 + 1), dtype=np.int64)
    new_group = np.ones(m, dtype=bool)
    new_group[1:] = np.any(prev[1:, : km1 - 1] != prev[:-1, : km1 - 1], axis=1)  # km1 = 1: one group
    gstart = np.flatnonzero(new_group)
    gend = np.append(gstart[1:], m)
    n_after = gend[np.cumsum(new_group) - 1] - np.arange(m) - 1
    total = int(n_after.sum())
    if total == 0:
        return np.zeros((0, km1 + 1), dtype=np.int64)
    p = np.repeat(np.arange(m), n_after)
    q = p + 1 + (np.arange(total) - np.repeat(np.cumsum(n_after) - n_after, n_after))
    cand = np.concatenate([prev[p], prev[q, -1:]], axis=1)
    keep = np.ones(len(cand), dtype=bool)
    for j in range(km1 - 1):  # dropping one of the last two items gives prev[p] / prev[q]
        sub = np.delete(cand[keep], j, axis=1)
        keep[np.flatnonzero(keep)[find_rows(prev, sub) < 0]] = False
    return cand[keep]


class Counter:
    """Counts of many itemsets in one basket matrix: column sums, one sparse product for pairs,
    packed-bit tidsets AND-ed and popcounted (in bounded chunks) for longer itemsets."""

    def __init__(self, matrix: sp.spmatrix | sp.sparray) -> None:
        self.x = canonical_csr(matrix).astype(np.int32)
        self.n, self.m = self.x.shape
        self._xc: sp.csc_matrix | None = None
        self.counted = 0

    @property
    def xc(self) -> sp.csc_matrix:
        if self._xc is None:
            self._xc = self.x.tocsc()
            self._xc.sort_indices()
        return self._xc

    def count(self, items: np.ndarray) -> np.ndarray:
        m, k = items.shape
        self.counted += m
        if m == 0 or self.n == 0:
            return np.zeros(m, dtype=np.int64)
        if k == 1:
            return np.bincount(self.x.indices, minlength=self.m).astype(np.int64)[items[:, 0]]
        cols, local = np.unique(items, return_inverse=True)
        local = local.reshape(m, k)
        if k == 2:
            sub = self.xc[:, cols]
            prod = (sub.T @ sub).tocsr()
            if len(cols) ** 2 <= limits.DENSE_PAIR_CELLS:
                return prod.toarray().astype(np.int64)[local[:, 0], local[:, 1]]
            return np.asarray(prod[local[:, 0], local[:, 1]]).ravel().astype(np.int64)
        bits = self._bitsets(cols)
        width = bits.shape[1]
        out = np.empty(m, dtype=np.int64)
        step = max(1, limits.CHUNK_BYTES // (8 * width))
        for s in range(0, m, step):
            block = local[s : s + step]
            acc = bits[block[:, 0]].copy()
            for j in range(1, k):
                acc &= bits[block[:, j]]
            out[s : s + step] = np.bitwise_count(acc).sum(axis=1, dtype=np.int64)
        return out

    def _bitsets(self, cols: np.ndarray) -> np.ndarray:
        """``(len(cols), ceil(n / 64))`` uint64: bit r of row j set when basket r holds cols[j]."""
        width = (self.n + 63) // 64
        sub = self.xc[:, cols]
        rows = sub.indices.astype(np.int64)
        col = np.repeat(np.arange(len(cols), dtype=np.int64), np.diff(sub.indptr))
        out = np.zeros(len(cols) * width, dtype=np.uint64)
        if len(rows):
            word = col * width + (rows >> 6)  # non-decreasing: CSC entries sorted by (col, row)
            bit = np.left_shift(np.uint64(1), (rows & 63).astype(np.uint64))
            starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
            out[word[starts]] = np.bitwise_or.reduceat(bit, starts)
        return out.reshape(len(cols), width)


# --------------------------------------------------------------------------- border of a full mine


def negative_border(
    fi: FrequentItemsets, matrix: sp.spmatrix | sp.sparray, *, max_itemsets: int | None = MAX_ITEMSETS
) -> Levels:
    """The negative border of ``fi`` (all itemsets, min_len 1) over ``matrix``, exact counts > 0."""
    _require_complete(fi)
    counter = Counter(matrix)
    freq = fi.levels()
    border: Levels = {}
    n_items = counter.m
    items1 = np.arange(n_items, dtype=np.int64)[:, None]
    counts1 = counter.count(items1)
    low = counts1 < fi.min_count
    border[1] = (items1[low], counts1[low])
    k = 2
    while k - 1 in freq and len(freq[k - 1][0]) >= 2 and (fi.max_len is None or k <= fi.max_len):
        cand = apriori_gen(freq[k - 1][0])
        _guard(len(cand), max_itemsets, fi.min_count, fi.n_baskets, fi.max_len)
        known = freq.get(k, (np.zeros((0, k), dtype=np.int64), None))[0]
        cand = cand[find_rows(known, cand) < 0]
        border[k] = (cand, counter.count(cand))
        k += 1
    return {k: (i[c > 0], c[c > 0]) for k, (i, c) in border.items()}


def mine_with_border(
    matrix: sp.spmatrix | sp.sparray,
    min_support: float | int,
    *,
    max_len: int | None = None,
    backend: str = "native",
    max_itemsets: int | None = MAX_ITEMSETS,
    **backend_options: Any,
) -> FrequentItemsets:
    """:func:`mine_itemsets` (target "all") plus its negative border, ready for :func:`update_itemsets`."""
    fi = mine_itemsets(
        matrix,
        min_support,
        max_len=max_len,
        backend=backend,
        max_itemsets=max_itemsets,
        **backend_options,  # type: ignore[arg-type]
    )
    return fi.with_border(negative_border(fi, matrix, max_itemsets=max_itemsets))


# --------------------------------------------------------------------------- the update


def item_map_for(old_ids: Any, new_ids: Any) -> np.ndarray:
    """``old column -> new column`` by item id (-1 where an old item is gone)."""
    new_pos = {str(v): i for i, v in enumerate(new_ids)}
    return np.array([new_pos.get(str(v), -1) for v in old_ids], dtype=np.int64)


def update_itemsets(
    previous: FrequentItemsets,
    matrix: sp.spmatrix | sp.sparray,
    min_support: float | int,
    *,
    item_map: np.ndarray | None = None,
    max_rescan: int = MAX_RESCAN,
    verify_prefix: bool = True,
    backend: str = "native",
    max_itemsets: int | None = MAX_ITEMSETS,
    **backend_options: Any,
) -> tuple[FrequentItemsets, IncrementalReport]:
    """Frequent itemsets (with border) of ``matrix``, whose first ``previous.n_baskets`` rows are
    the baskets ``previous`` was mined from, at the same ``min_support`` and ``max_len``.

    ``item_map`` maps ``previous``' columns to ``matrix``'s (identity when None; see
    :func:`item_map_for`). The result equals ``mine_with_border(matrix, min_support, ...)``
    exactly; the report says whether it was computed incrementally or by a full re-mine, and why.
    ``verify_prefix`` checks the stored item counts against the first rows (one pass over them).
    """
    started = time.perf_counter()
    x = canonical_csr(matrix)
    n_old, n_all = previous.n_baskets, x.shape[0]
    max_len = previous.max_len

    def full(reason: str) -> tuple[FrequentItemsets, IncrementalReport]:
        fi = mine_with_border(
            x, min_support, max_len=max_len, backend=backend, max_itemsets=max_itemsets, **backend_options
        )
        seconds = time.perf_counter() - started
        return fi, IncrementalReport("full", reason, n_old, max(n_all - n_old, 0), seconds=seconds)

    if previous.border is None:
        return full("the previous result has no negative border")
    if previous.target != "all" or previous.min_len != 1:
        return full("the previous result is not all itemsets from length 1")
    if n_all < n_old:
        return full(f"fewer baskets ({n_all:,}) than the previous result ({n_old:,})")
    if min_count_for(min_support, n_old) != previous.min_count:
        return full(f"min_support {min_support!r} is not the one the previous result was mined with")
    m = x.shape[1]
    old_freq = _mapped(previous.levels(), item_map, m)
    old_border = _mapped(previous.border_levels(), item_map, m)
    if old_freq is None or old_border is None:
        return full("items of the previous result are missing from the new vocabulary")
    C = min_count_for(min_support, n_all)
    new = Counter(x[n_old:])
    if verify_prefix:
        stored = np.zeros(m, dtype=np.int64)
        for lv in (old_freq, old_border):
            if 1 in lv:
                stored[lv[1][0][:, 0]] = lv[1][1]
        if not np.array_equal(stored, np.bincount(x[:n_old].indices, minlength=m)):
            return full("the previous item counts do not match the first baskets (not a prefix)")

    freq: Levels = {}
    border: Levels = {}
    alls: Counter | None = None
    promoted = rescanned = 0
    k = 1
    cand = np.arange(m, dtype=np.int64)[:, None]
    while len(cand):
        if k == 1:
            known = np.ones(len(cand), dtype=bool)
        elif k - 1 in old_freq:
            known = np.ones(len(cand), dtype=bool)
            for j in range(k):
                known &= find_rows(old_freq[k - 1][0], np.delete(cand, j, axis=1)) >= 0
        else:
            known = np.zeros(len(cand), dtype=bool)
        counts = np.zeros(len(cand), dtype=np.int64)
        was_freq = np.zeros(len(cand), dtype=bool)
        kc = cand[known]
        base = np.zeros(len(kc), dtype=np.int64)
        for lv, is_freq in ((old_freq, True), (old_border, False)):
            if k in lv:
                pos = find_rows(lv[k][0], kc)
                base[pos >= 0] = lv[k][1][pos[pos >= 0]]
                if is_freq:
                    was_freq[np.flatnonzero(known)[pos >= 0]] = True
        counts[known] = base + new.count(kc)
        if (~known).any():
            rescanned += int((~known).sum())
            if rescanned > max_rescan:
                return full(f"more than {max_rescan:,} candidates would need counting over all baskets")
            alls = alls or Counter(x)
            counts[~known] = alls.count(cand[~known])
        hit = counts >= C
        promoted += int((hit & known & ~was_freq).sum())
        freq[k] = (cand[hit], counts[hit])
        border[k] = (cand[~hit], counts[~hit])
        _guard(sum(len(c) for _, c in freq.values()), max_itemsets, C, n_all, max_len)
        if max_len is not None and k >= max_len:
            break
        cand = apriori_gen(cand[hit])
        _guard(len(cand), max_itemsets, C, n_all, max_len)
        k += 1
    fi = FrequentItemsets.from_levels(freq, n_all, C, max_len=max_len).with_border(border)
    reason = (
        f"{promoted:,} negative-border itemset(s) became frequent; {rescanned:,} candidate(s) "
        "below them counted over all baskets"
        if rescanned
        else "no negative-border itemset became frequent: counts updated from the new baskets only"
        if not promoted
        else f"{promoted:,} negative-border itemset(s) became frequent, none with a frequent extension"
    )
    report = IncrementalReport(
        "incremental",
        reason,
        n_old,
        n_all - n_old,
        counted_in_new=new.counted,
        rescanned=rescanned,
        promoted=promoted,
        seconds=time.perf_counter() - started,
    )
    return fi, report


def _mapped(levels: Levels, item_map: np.ndarray | None, n_items: int) -> Levels | None:
    """Levels renumbered into the new columns (rows re-sorted); None when an item is gone."""
    if item_map is None:
        if any(len(i) and int(i.max()) >= n_items for i, _ in levels.values()):
            return None
        return levels
    item_map = np.asarray(item_map, dtype=np.int64)
    out: Levels = {}
    for k, (items, counts) in levels.items():
        if len(items) and int(items.max()) >= len(item_map):
            return None
        new = item_map[items]
        if (new < 0).any():
            return None
        out[k] = (new, counts)
    return normalise_levels(out)


def _require_complete(fi: FrequentItemsets) -> None:
    if fi.target != "all" or fi.min_len != 1:
        raise ValueError(
            "negative border: needs all frequent itemsets from length 1 (target='all', min_len=1)"
        )


def _guard(n: int, limit: int | None, min_count: int, n_baskets: int, max_len: int | None) -> None:
    if limit is not None and n > limit:
        raise ItemsetExplosion(n, limit, min_count, n_baskets, max_len)
