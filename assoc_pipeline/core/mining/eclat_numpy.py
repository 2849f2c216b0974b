"""Eclat over packed-bit tidsets, vectorised with numpy/scipy: the kernel without numba.

The fallback of :mod:`.eclat_numba` when numba is missing: same itemsets, same counts.

Why this shape:

* items are renumbered by ascending frequency ("rank space") after dropping infrequent ones, so
  the first item of an itemset is its rarest;
* every 2-itemset count comes from enumerating each basket's pairs — baskets grouped by length,
  so one fancy index with a fixed ``triu_indices(L, 1)`` template covers a chunk of baskets —
  and one ``bincount`` (one sparse product ``X^T X``, with scipy, when there are too many frequent
  items for an f x f table); frequent pairs then prune every candidate whose last two items are not one;
* itemsets sharing their first item ``a`` (an equivalence class) are mined inside the projected
  database ``D_a`` of the baskets containing ``a``: tidsets are bitsets of ``|D_a|`` bits, not
  ``n``. The same pair enumeration sets their bits (a basket's place in ``D_a`` comes from one
  stable sort of the entries by item), so no per-class Python loop touches the data;
* classes of similar bitset width are stacked into one array, so one numpy expression
  (``AND`` + ``bitwise_count``) counts thousands of candidates at once; every big temporary is
  chunked to a bounded number of bytes, so memory stays flat at low support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from . import limits
from .itemsets import Levels
from .limits import ItemsetBudget
from .rank_space import RankSpace

if TYPE_CHECKING:
    import scipy.sparse as sp

    from assoc_pipeline.core.data.basket_arrays import BasketArrays


def mine_levels_numpy(
    x: sp.csr_matrix | BasketArrays,
    rs: RankSpace,
    min_count: int,
    max_len: int | None,
    budget: ItemsetBudget,
) -> Levels:
    """Itemsets of length >= 2 (the caller adds the single items), as levels in column space."""
    f = rs.f
    levels: Levels = {}
    if f < 2 or (max_len is not None and max_len < 2):
        return levels
    db = _RankDB(x, rs.rank_of.astype(np.int64), f)
    pa, pb, pc = db.frequent_pairs(min_count)
    if len(pa) == 0:
        return levels
    budget.add(len(pa))
    out: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {2: [(np.stack([pa, pb], axis=1), pc)]}
    if max_len is None or max_len >= 3:
        pair_ok = _pair_table(pa, pb, f)
        for block in db.class_blocks(pa, pb, rs.counts):
            _eclat(block, pair_ok, min_count, max_len, out, budget)
    for k, parts in out.items():
        items = np.concatenate([p[0] for p in parts]).astype(np.int64)
        counts = np.concatenate([p[1] for p in parts]).astype(np.int64)
        levels[k] = (rs.order[items], counts)
    return levels


class _RankDB:
    """The baskets in rank space, sorted within rows, plus each entry's position in its column.

    Pairs are enumerated row by row, grouped by row length so that one fancy index with the
    fixed ``triu_indices(L, 1)`` template produces every pair of a chunk of rows.
    """

    def __init__(self, x: sp.csr_matrix | BasketArrays, rank_of: np.ndarray, f: int) -> None:
        n = x.shape[0]
        ranks = rank_of.astype(np.int32)[x.indices]
        keep = ranks >= 0
        kept_before = np.zeros(len(keep) + 1, dtype=np.int32 if len(keep) < 2**31 else np.int64)
        np.cumsum(keep, out=kept_before[1:])
        indptr = kept_before[x.indptr].astype(np.int64)  # row pointers of the kept entries
        del kept_before
        ranks = ranks[keep]
        del keep
        lens = np.diff(indptr)
        self.by_len = np.argsort(lens, kind="stable")
        self.sorted_lens = lens[self.by_len]
        # ranks ascending within each row (so pairs come out a < b): one small sort per row,
        # vectorised over the rows of each length
        for L, rows in self._rows_by_length(2):
            ent = indptr[rows][:, None] + np.arange(L)
            block = ranks[ent]
            block.sort(axis=1)
            ranks[ent] = block
        # each entry's place in its column (its row's place in D_a): a stable sort by rank, which
        # numpy does as a radix sort for the usual < 32768 frequent items
        small = ranks.astype(np.int16) if f <= np.iinfo(np.int16).max else ranks
        by_col = np.argsort(small, kind="stable")
        del small
        col_start = np.zeros(f + 1, dtype=np.int64)
        np.cumsum(np.bincount(ranks, minlength=f), out=col_start[1:])
        colpos = np.empty(len(ranks), dtype=np.int32)
        colpos[by_col] = np.arange(len(ranks), dtype=np.int32) - np.repeat(
            col_start[:-1].astype(np.int32), np.diff(col_start)
        )
        del by_col
        self.indices = ranks
        self.indptr = indptr
        self.colpos = colpos
        self.f = f
        self.n = n

    def _rows_by_length(self, shortest: int, row_mask: np.ndarray | None = None):
        """Yield (L, rows) for every row length L >= ``shortest``: the rows of that length."""
        lens_present = np.unique(self.sorted_lens)
        for L in lens_present[lens_present >= shortest]:
            lo, hi = np.searchsorted(self.sorted_lens, [L, L + 1])
            rows = self.by_len[lo:hi]
            if row_mask is not None:
                rows = rows[row_mask[rows]]
            yield int(L), rows

    def _pair_chunks(self, with_pos: bool, row_mask: np.ndarray | None = None):
        """Yield (key, pos) for chunks of rows: ``key = a * f + b`` of every pair a < b in a row,
        ``pos`` the row's position in ``D_a`` (only when asked)."""
        f = self.f
        key_dtype = np.int32 if f * f < 2**31 else np.int64
        for L, rows in self._rows_by_length(2, row_mask):
            ti, tj = np.triu_indices(L, 1)
            step = max(1, limits.PAIR_CHUNK // len(ti))
            span = np.arange(L)
            for s in range(0, len(rows), step):
                ent = self.indptr[rows[s : s + step]][:, None] + span
                r = self.indices[ent].astype(key_dtype)
                key = np.take(r * f, ti, axis=1)
                key += np.take(r, tj, axis=1)
                pos = np.take(self.colpos[ent], ti, axis=1).ravel() if with_pos else None
                yield key.ravel(), pos

    def frequent_pairs(self, min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, count) of every frequent pair a < b, sorted by (a, b)."""
        f = self.f
        if f * f <= limits.DENSE_PAIR_CELLS:
            counts = np.zeros(f * f, dtype=np.int64)
            # batch chunks so each f x f bincount is paid for by at least f * f pairs
            pending: list[np.ndarray] = []
            n_pending = 0
            for key, _ in self._pair_chunks(False):
                pending.append(key)
                n_pending += len(key)
                if n_pending >= max(limits.PAIR_CHUNK, f * f):
                    counts += np.bincount(np.concatenate(pending), minlength=f * f)
                    pending, n_pending = [], 0
            if pending:
                counts += np.bincount(np.concatenate(pending), minlength=f * f)
            keys = np.flatnonzero(counts >= min_count)
            return keys // f, keys % f, counts[keys]
        # many frequent items: one sparse product instead of an f x f table
        import scipy.sparse as sp

        ptr = self.indptr
        xr = sp.csr_matrix((np.ones(len(self.indices), dtype=np.int32), self.indices, ptr), shape=(self.n, f))
        prod = (xr.T.tocsr() @ xr).tocoo()
        sel = (prod.row < prod.col) & (prod.data >= min_count)
        a, b = prod.row[sel].astype(np.int64), prod.col[sel].astype(np.int64)
        c = prod.data[sel].astype(np.int64)
        o = np.lexsort((b, a))
        return a[o], b[o], c[o]

    def class_blocks(self, pa: np.ndarray, pb: np.ndarray, rank_counts: np.ndarray):
        """Yield (items, tidsets) per bucket of classes with >= 2 extensions and similar width.

        Row ``(a, b)`` holds the baskets containing ``a`` and ``b`` as bits over ``D_a`` (the
        baskets containing ``a``, in row order), padded to the bucket's width.
        """
        f = self.f
        ext_count = np.bincount(pa, minlength=f)
        in_class = ext_count[pa] >= 2
        pa, pb = pa[in_class], pb[in_class]
        if len(pa) == 0:
            return
        classes = np.flatnonzero(ext_count >= 2)
        widths = (rank_counts[classes] + 63) // 64
        classes = classes[np.argsort(widths, kind="stable")]
        widths = (rank_counts[classes] + 63) // 64
        # buckets of classes: similar width, bounded bytes
        bucket_of_class = np.zeros(f, dtype=np.int64)
        bucket_width: list[int] = []
        i = 0
        while i < len(classes):
            w0, j, nbytes = widths[i], i, 0
            while j < len(classes):
                w = widths[j]
                grow = ext_count[classes[j]] * w * 8
                if j > i and (w > max(w0 + 1, w0 * 5 // 4) or nbytes + grow > limits.BUCKET_BYTES):
                    break
                nbytes += grow
                j += 1
            bucket_of_class[classes[i:j]] = len(bucket_width)
            bucket_width.append(int(widths[j - 1]))
            i = j
        # ext rows ordered by (bucket, a, b); one flat bit space, bucket after bucket
        bucket = bucket_of_class[pa]
        o = np.lexsort((pb, pa, bucket))
        pa, pb, bucket = pa[o], pb[o], bucket[o]
        n_rows = np.bincount(bucket, minlength=len(bucket_width))
        width = np.asarray(bucket_width, dtype=np.int64)
        base = np.zeros(len(width) + 1, dtype=np.int64)
        np.cumsum(n_rows * width, out=base[1:])
        first_row = np.cumsum(n_rows) - n_rows
        local_row = np.arange(len(pa)) - first_row[bucket]
        start_bit = (base[bucket] + local_row * width[bucket]) * 64
        tids = np.zeros(int(base[-1]), dtype=np.uint64)
        keys = pa * f + pb
        if f * f <= limits.DENSE_PAIR_CELLS:
            wanted = np.zeros(f * f, dtype=bool)
            wanted[keys] = True
            table = np.zeros(f * f, dtype=np.int64)
            table[keys] = start_bit

            def bit_base(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                hit = np.flatnonzero(wanted[key])
                return hit, table[key[hit]]
        else:
            ko = np.argsort(keys)
            skeys, sbits = keys[ko], start_bit[ko]

            def bit_base(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                at = np.minimum(np.searchsorted(skeys, key), len(skeys) - 1)
                hit = np.flatnonzero(skeys[at] == key)
                return hit, sbits[at[hit]]

        # only baskets holding a class's first item can set a bit
        is_class = np.zeros(f, dtype=bool)
        is_class[pa] = True
        seen = np.zeros(len(self.indices) + 1, dtype=np.int64)
        np.cumsum(is_class[self.indices], out=seen[1:])
        row_mask = seen[self.indptr[1:]] > seen[self.indptr[:-1]]
        del seen
        for key, pos in self._pair_chunks(True, row_mask):
            hit, g = bit_base(key)
            g += pos[hit]
            if len(g) == 0:
                continue
            # unbuffered OR per bit (numpy >= 1.25 runs ufunc.at in C): 5x faster than sorting the
            # bit positions to OR each word's bits with one reduceat
            np.bitwise_or.at(tids, g >> 6, np.left_shift(np.uint64(1), (g & 63).astype(np.uint64)))
        for k in range(len(width)):
            rows = slice(int(first_row[k]), int(first_row[k] + n_rows[k]))
            block = tids[base[k] : base[k + 1]].reshape(int(n_rows[k]), int(width[k]))
            yield np.stack([pa[rows], pb[rows]], axis=1), block


def _pair_table(pa: np.ndarray, pb: np.ndarray, f: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Membership test for frequent pairs (x < y): a dense bool table, or sorted keys."""
    if f * f <= limits.DENSE_PAIR_CELLS:
        table = np.zeros((f, f), dtype=bool)
        table[pa, pb] = True
        return lambda x, y: table[x, y]
    keys = pa * f + pb  # already sorted

    def lookup(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        q = x * f + y
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        return keys[pos] == q

    return lookup


def _eclat(
    block: tuple[np.ndarray, np.ndarray],
    pair_ok: Callable[[np.ndarray, np.ndarray], np.ndarray],
    min_count: int,
    max_len: int | None,
    out: dict[int, list[tuple[np.ndarray, np.ndarray]]],
    budget: ItemsetBudget | None = None,
) -> None:
    """Depth-first over blocks, level-wise inside a block: extend rows sharing a prefix."""
    stack = [block]
    while stack:
        items, tids = stack.pop()
        r, k = items.shape
        if r < 2:
            continue
        new_group = np.ones(r, dtype=bool)
        if k > 1:
            new_group[1:] = np.any(items[1:, : k - 1] != items[:-1, : k - 1], axis=1)
        gstart = np.flatnonzero(new_group)
        gend = np.append(gstart[1:], r)
        n_after = gend[np.cumsum(new_group) - 1] - np.arange(r) - 1
        total = int(n_after.sum())
        if total == 0:
            continue
        p = np.repeat(np.arange(r), n_after)
        q = p + 1 + (np.arange(total) - np.repeat(np.cumsum(n_after) - n_after, n_after))
        ok = pair_ok(items[p, -1], items[q, -1])
        p, q = p[ok], q[ok]
        if len(p) == 0:
            continue
        width = tids.shape[1]
        chunk = max(1, limits.CHUNK_BYTES // (8 * width))
        deeper = max_len is None or k + 1 < max_len
        start = 0
        while start < len(p):
            end = min(start + chunk, len(p))
            if end < len(p):  # never split a new prefix group (rows with the same p)
                end = int(np.searchsorted(p, p[end - 1], side="right"))
            pc, qc = p[start:end], q[start:end]
            inter = tids[pc] & tids[qc]
            cnt = np.bitwise_count(inter).sum(axis=1, dtype=np.int64)
            hit = cnt >= min_count
            if hit.any():
                new_items = np.concatenate([items[pc[hit]], items[qc[hit], -1:]], axis=1)
                out.setdefault(k + 1, []).append((new_items, cnt[hit]))
                if budget is not None:
                    budget.add(len(new_items))
                if deeper and int(hit.sum()) >= 2:
                    stack.append((new_items, inter[hit]))
            start = end
