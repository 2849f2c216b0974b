"""Compiled Eclat (numba): depth-first over packed tid-bitsets or tid lists, output in flat arrays.

Why this shape (what the fast FIMI'03/'04 Eclat codes do, written for numba):

* items are ranks in ascending support (:mod:`.rank_space`), so the first item of an itemset is
  its rarest and every equivalence class ``[a]`` is mined inside ``D_a``, the baskets holding
  ``a``: a tidset is ``|D_a|`` bits wide, not ``n``;
* the data are read in sequential passes only (rows sorted by rank, each ended by a sentinel):
  one pass counts every pair of a batch of classes into a dense table, one more sets the bits of
  the frequent pairs (bit ``j`` = the ``j``-th basket of ``D_a``). Random access to baskets
  (one cache miss per basket and class) cost 5x more on T10I4D100K;
* below the pairs the search is depth-first with an explicit stack over one arena (a child's
  tidsets sit above its parent's and are overwritten by the next child), one ``AND`` + hardware
  popcount per candidate, no allocation per itemset; that loop runs on slices indexed from 0
  (:func:`_and_count`) so LLVM vectorizes it (AVX-512 ``vpopcntq`` where the CPU has it: 2-3x
  on mushroom and chess). The search loops never reassign an array (they return to their
  caller to grow one and resume): numba counts the references of a reassigned array with
  atomic instructions: chess 0.7's search went from 4.9 to 0.9 ms without them;
* the data structure is chosen per branch: classes whose extensions are sparse in ``D_a`` are
  mined on sorted *tid lists* (merge intersections cost the lists' lengths, a bitset costs
  ``|D_a| / 64`` words whatever it holds); in the bitset search, a prefix that holds under
  ``1 / squeeze`` of its bits has its children *squeezed* (re-indexed to the prefix's own
  baskets, a software ``pext``), so everything below runs on shorter bitsets;
* *perfect extensions* are not searched (Borgelt's pruning): an extension in every basket of its
  prefix is in every basket below it, so it is set aside and joined to every itemset found below
  as a subset combination. On dense data most extensions are perfect: mushroom 0.1's search went
  from 25 to 6 ms;
* output is flat arrays (parent itemset id, last item, count, length), expanded into levels by
  :func:`expand_levels`: no Python object per itemset. Big arrays are advised into huge pages
  (:func:`_huge`), as numpy does for its own: writing fresh memory otherwise costs a page fault
  per 4 KiB;
* the explosion guard is checked after every candidate batch and before any perfect extension's
  combinations are written (their number is known exactly beforehand), so mining stops before
  memory runs out, and every big buffer is bounded (``pair_cells``, ``batch_words``).
"""

from __future__ import annotations

import mmap
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# data-structure policy; the tests force each choice
SQUEEZE_NEVER = 0  # keep full-width bitsets everywhere
# squeeze a prefix's children when it holds under 1/16 of its bits: with the vectorized AND a
# full-width bitset is cheap, and squeezing at 1/4 cost more than it saved (mushroom 0.2: 15.7 vs
# 11.5-14.1 ms best of 11 at 1/4 vs never and 1/16; no case of benchmarks/mining.py gained from it)
SQUEEZE_DEFAULT = 16
TIDLIST_NEVER = 0.0
TIDLIST_DEFAULT = 1.0 / 64  # tid lists when the extensions' mean density in D_a is below this
TIDLIST_ALWAYS = 2.0
PAIR_CELLS = 4 << 20  # int32 cells of the triangular pair-count table at most (16 MiB): classes per pass
BATCH_WORDS = 4 << 20  # uint64 words of tidsets built per pass (32 MiB)

STATUS_OK = 0
STATUS_EXPLOSION = 1
STATUS_ROOM = 2  # a buffer lacks room: the caller grows it and resumes the search

MODE_SKIP, MODE_BITS, MODE_LISTS = 0, 1, 2


@intrinsic
def _popcount(typingctx, x):
    """Hardware popcount of a uint64 (LLVM ``ctpop``), typed int64 so sums stay integers."""
    if x != types.uint64:
        return None
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


MADV_HUGEPAGE = 14  # <sys/mman.h> on Linux
HUGE_PAGE_FROM = 4 << 20  # bytes: numpy's allocator gives the same advice from 4 MiB on
PAGE = mmap.PAGESIZE


@intrinsic
def _madvise_hugepage(typingctx, address, size):
    """``madvise(address, size, MADV_HUGEPAGE)`` from libc on Linux (a no-op returning 0 elsewhere)."""
    sig = types.int32(types.uintp, types.intp)

    def codegen(context, builder, signature, args):
        if not sys.platform.startswith("linux"):
            return ir.Constant(ir.IntType(32), 0)
        byte_ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [byte_ptr, ir.IntType(64), ir.IntType(32)])
        madvise = cgutils.get_or_insert_function(builder.module, fnty, "madvise")
        address_ptr = builder.inttoptr(args[0], byte_ptr)
        return builder.call(madvise, [address_ptr, args[1], ir.Constant(ir.IntType(32), MADV_HUGEPAGE)])

    return sig, codegen


@njit(cache=True, nogil=True)
def _huge(a):
    """``a``, its memory advised to be backed by huge pages when it is big, as numpy's allocator
    does for its own arrays and numba's does not. Mining writes its output into fresh memory, and
    the first touch of each 4 KiB page cost about 0.4 ms a MB on this VM: expanding mushroom 0.1's
    574k itemsets into levels took 24.6 ms from numba's allocator and 12.3 ms from numpy's."""
    nbytes = a.size * a.itemsize
    if nbytes >= HUGE_PAGE_FROM:
        address = a.ctypes.data
        skip = (PAGE - address % PAGE) % PAGE
        _madvise_hugepage(address + skip, nbytes - skip)
    return a


@njit(cache=True, nogil=True, inline="always")
def _and_count(a, b, out):
    """``out = a & b``, returning its popcount: slices indexed from 0, so that numba drops the
    negative-index checks and LLVM vectorizes the loop (vector popcount where the CPU has one)."""
    c = 0
    for w in range(a.shape[0]):
        v = a[w] & b[w]
        out[w] = v
        c += _popcount(v)
    return c


@njit(cache=True, nogil=True)
def _grow(a, need):
    """``a`` itself when it holds ``need`` elements, else a copy with at least twice the room."""
    if need <= a.shape[0]:
        return a
    b = _huge(np.empty(max(need, 2 * a.shape[0]), dtype=a.dtype))
    b[: a.shape[0]] = a
    return b


@njit(cache=True, nogil=True)
def _reserve(out, need):
    """Room for ``need`` itemsets in the output arrays (parent, item, support, length)."""
    parent, item, support, length = out
    if need > parent.shape[0]:
        return (_grow(parent, need), _grow(item, need), _grow(support, need), _grow(length, need))
    return out


@njit(cache=True, nogil=True)
def _squeeze(arena, mask_at, child_at, n_child, width, new_width, scratch_at):
    """Re-index ``n_child`` bitsets (at ``child_at``) to the set bits of the mask (at ``mask_at``).

    Writes them at ``scratch_at`` (``n_child * new_width`` words), bit ``k`` of a result being the
    child's bit at the mask's ``k``-th set bit (a software ``pext``). The mask is walked run by
    run of consecutive ones, each run copied as one shifted word piece: dense data (mushroom,
    chess) have long runs, and a bit-by-bit copy cost more than the ANDs it saved.
    """
    for t in range(n_child * new_width):
        arena[scratch_at + t] = np.uint64(0)
    one = np.uint64(1)
    full = ~np.uint64(0)
    for j in range(n_child):
        src = child_at + j * width
        dst = scratch_at + j * new_width
        k = 0
        for w in range(width):
            mw = arena[mask_at + w]
            if mw == 0:
                continue
            cw = arena[src + w]
            if cw & mw == 0:
                k += _popcount(mw)
                continue
            t = mw
            while t != 0:
                lo = _popcount((t & (~t + one)) - one)  # first bit of the run
                s = t >> np.uint64(lo)
                run = _popcount(((~s) & (s + one)) - one)  # its length (64: all ones)
                keep = full if run == 64 else (one << np.uint64(run)) - one
                piece = (cw >> np.uint64(lo)) & keep
                if piece != 0:
                    off = k & 63
                    arena[dst + (k >> 6)] |= piece << np.uint64(off)
                    if off + run > 64:
                        arena[dst + (k >> 6) + 1] |= piece >> np.uint64(64 - off)
                k += run
                t &= ~(keep << np.uint64(lo))


# counts of itemsets saturate here (64 perfect extensions make 2^64 combinations): far below 2^63,
# so that ``n`` plus a saturated count cannot overflow. A count saturates once it may pass
# SATURATED / k (k perfect extensions); the explosion limit, at most MAX_LIMIT, stays below that
# for up to 2^20 of them, and no memory holds 2^40 itemsets anyway
SATURATED = 1 << 60
MAX_LIMIT = 1 << 40


@njit(cache=True, nogil=True)
def _combinations(size, k, max_len):
    """How many itemsets an itemset of ``size`` items spawns with the nonempty subsets of ``k``
    perfect extensions, none longer than ``max_len``; :data:`SATURATED` once it may pass
    ``SATURATED / k`` (see there)."""
    total = 0
    binomial = 1
    for s in range(1, k + 1):
        if size + s > max_len:
            break
        if binomial > SATURATED // (k - s + 1):
            return SATURATED
        binomial = binomial * (k - s + 1) // s
        total += binomial
        if total >= SATURATED:
            return SATURATED
    return total


@njit(cache=True, nogil=True)
def _plus_times(a, times, b):
    """``a + times * b`` for counts of at most :data:`SATURATED`, saturating there."""
    if times > 0 and b > (SATURATED - a) // times:
        return SATURATED
    return a + times * b


@njit(cache=True, nogil=True)
def _emit_combinations(x, perfect, k, parent, item, support, length, n, max_len):
    """Emit itemset ``x`` joined with every nonempty subset of ``perfect[:k]`` (at most ``max_len``
    items), all with ``x``'s support; returns the new ``n``. The subsets are built by doubling:
    each perfect item joins ``x`` and every itemset emitted before it here, so a parent always
    precedes its child (what :func:`expand_levels` needs)."""
    size = length[x]
    if k == 0 or size >= max_len:
        return n
    count = support[x]
    start = n
    for t in range(k):
        e = perfect[t]
        end = n
        parent[n] = x
        item[n] = e
        support[n] = count
        length[n] = size + 1
        n += 1
        for y in range(start, end):
            if length[y] < max_len:
                parent[n] = y
                item[n] = e
                support[n] = count
                length[n] = length[y] + 1
                n += 1
    return n


@njit(cache=True, nogil=True)
def _emit_last(x, perfect, k, parent, item, support, length, n, max_len, max_itemsets):
    """The perfect combinations of a frame's last extension ``x``, which has no children of its
    own. Returns ``(n, status, need_out)``: ``n`` is the itemsets known to exist with status
    :data:`STATUS_EXPLOSION`; with :data:`STATUS_ROOM` nothing was written and ``need_out`` is the
    room the output needs."""
    extra = _combinations(length[x], k, max_len)
    if n + extra > max_itemsets:
        return min(n + extra, max_itemsets + 1), STATUS_EXPLOSION, 0
    if n + extra > parent.shape[0]:
        return n, STATUS_ROOM, n + extra
    return _emit_combinations(x, perfect, k, parent, item, support, length, n, max_len), STATUS_OK, 0


# the search's frame stack: one row per depth, these columns (FR_PERFECT: how many perfect
# extensions the frame's prefix has, at the bottom of the perfect stack)
FR_BLOCK, FR_WIDTH, FR_M, FR_EXT, FR_NEXT, FR_LEN, FR_PERFECT = 0, 1, 2, 3, 4, 5, 6
FR_COLUMNS = 7


@njit(cache=True, nogil=True)
def _dfs_bitsets(
    arena, width, m, ext_item, ext_id, out, n, min_count, max_len, max_itemsets, squeeze, prefix_len
):  # fmt: skip
    """Depth-first Eclat below a prefix whose ``m`` extension bitsets are at ``arena[0 : m * width]``.

    ``ext_item``/``ext_id``: rank and itemset id of each extension; ``prefix_len`` is 1 for a
    class ``[a]`` (extensions are pairs) and 0 for the root (extensions are the single items).
    Returns ``(arena, ext_item, ext_id, out, n, status)`` (buffers may have grown): the search
    itself runs in :func:`_search_bitsets`, which never reassigns a buffer (see there).
    """
    frames = np.zeros((m + 2, FR_COLUMNS), dtype=np.int64)
    frames[0, FR_WIDTH] = width
    frames[0, FR_M] = m
    frames[0, FR_LEN] = prefix_len
    perfect = np.empty(m + 1, dtype=np.int32)  # a path's perfect extensions: distinct extensions
    depth = 1
    while True:
        parent, item, support, length = out
        depth, n, status, need_arena, need_ext, need_out = _search_bitsets(
            arena, ext_item, ext_id, perfect, parent, item, support, length, frames, depth, n,
            min_count, max_len, max_itemsets, squeeze,
        )  # fmt: skip
        if status != STATUS_ROOM:
            return arena, ext_item, ext_id, out, n, status
        arena = _grow(arena, need_arena)
        ext_item = _grow(ext_item, need_ext)
        ext_id = _grow(ext_id, need_ext)
        out = _reserve(out, need_out)


@njit(cache=True, nogil=True)
def _search_bitsets(
    arena, ext_item, ext_id, perfect, parent, item, support, length, frames, depth, n,
    min_count, max_len, max_itemsets, squeeze,
):  # fmt: skip
    """The bitset search of :func:`_dfs_bitsets` from the frames ``frames[:depth]``.

    *Perfect extensions* are pruned (Borgelt's, as in his Eclat and FP-growth): an extension
    ``j`` whose itemset has its prefix's support lies in every basket of the prefix, so it is in
    every basket of everything below it too. It is not searched; it goes on the ``perfect`` stack
    and every itemset found below the prefix is emitted once more with each subset of the
    stack (:func:`_emit_combinations`). On dense data most extensions are perfect (mushroom at
    0.1: 574k itemsets, a median diffset of 0 baskets).

    It returns ``(depth, n, status, need_arena, need_ext, need_out)``; with status
    :data:`STATUS_ROOM` before a prefix whose itemsets would not fit (the prefix's work is done
    again after the caller has grown the buffers and called again). No array is reassigned in
    here: numba counts references of a reassigned array with atomic instructions (``perf`` put
    ``NRT_incref`` / ``NRT_decref`` on top, 55% of the samples), and without them chess 0.7's
    search takes 0.9 ms instead of 4.9. ``ext_id`` is as long as ``ext_item`` (only that one is
    checked; the caller grows both).
    """
    while depth > 0:
        d = depth - 1
        i = frames[d, FR_NEXT]
        mm = frames[d, FR_M]
        eo = frames[d, FR_EXT]
        k0 = frames[d, FR_PERFECT]
        if i >= mm - 1:  # the last extension has no children, only its perfect combinations
            if i == mm - 1 and k0 > 0:
                x = ext_id[eo + i]
                n, status, need_out = _emit_last(
                    x, perfect, k0, parent, item, support, length, n, max_len, max_itemsets
                )
                if status != STATUS_OK:
                    return depth, n, status, 0, 0, need_out
            depth -= 1
            continue
        w_ = frames[d, FR_WIDTH]
        blk = frames[d, FR_BLOCK]
        top = blk + mm * w_  # the current child's bitsets follow the frame's own
        ext_top = eo + mm
        need_arena = top + 2 * (mm - i - 1) * w_ + 64  # the children, and the squeeze's scratch
        need_ext = ext_top + mm - i
        if need_arena > arena.shape[0] or need_ext > ext_item.shape[0] or n + mm - i > parent.shape[0]:
            return depth, n, STATUS_ROOM, need_arena, need_ext, n + mm - i
        n0 = n
        plen = frames[d, FR_LEN] + 1  # length of the child's prefix (this frame's extension i)
        bi = blk + i * w_
        pid = ext_id[eo + i]
        s_i = support[pid]
        k = k0
        nc = 0
        for j in range(i + 1, mm):
            bj = blk + j * w_
            dst = top + nc * w_
            c = _and_count(arena[bi : bi + w_], arena[bj : bj + w_], arena[dst : dst + w_])
            if c < min_count:
                continue
            if c == s_i:
                perfect[k] = ext_item[eo + j]
                k += 1
            else:
                parent[n] = pid
                item[n] = ext_item[eo + j]
                support[n] = c
                length[n] = plen + 1
                ext_item[ext_top + nc] = ext_item[eo + j]
                ext_id[ext_top + nc] = n
                n += 1
                nc += 1
        descend = nc >= 2 and plen + 2 <= max_len
        extra = _combinations(plen, k, max_len)
        if not descend:
            extra = _plus_times(extra, nc, _combinations(plen + 1, k, max_len))
        if n + extra > max_itemsets:
            return depth, min(n + extra, max_itemsets + 1), STATUS_EXPLOSION, 0, 0, 0
        if n + extra > parent.shape[0]:
            return depth, n0, STATUS_ROOM, need_arena, need_ext, n + extra
        frames[d, FR_NEXT] = i + 1
        n = _emit_combinations(pid, perfect, k, parent, item, support, length, n, max_len)
        if not descend:
            for t in range(nc):
                n = _emit_combinations(
                    ext_id[ext_top + t], perfect, k, parent, item, support, length, n, max_len
                )
            continue
        new_w = w_
        if squeeze > 0 and w_ > 1 and s_i * squeeze <= w_ * 64:
            new_w = (s_i + 63) >> 6
            scratch = top + nc * w_
            _squeeze(arena, bi, top, nc, w_, new_w, scratch)
            for t in range(nc * new_w):
                arena[top + t] = arena[scratch + t]
        frames[depth, FR_BLOCK] = top
        frames[depth, FR_WIDTH] = new_w
        frames[depth, FR_M] = nc
        frames[depth, FR_EXT] = ext_top
        frames[depth, FR_NEXT] = 0
        frames[depth, FR_LEN] = plen
        frames[depth, FR_PERFECT] = k
        depth += 1
    return depth, n, STATUS_OK, 0, 0, 0


# the tid-list search's frame stack: one row per depth, these columns
FL_OFF, FL_M, FL_NEXT, FL_LEN, FL_FREE, FL_PERFECT = 0, 1, 2, 3, 4, 5
FL_COLUMNS = 6


@njit(cache=True, nogil=True)
def _dfs_lists(tl, total, m, starts, ends, items, ids, out, n, min_count, max_len, max_itemsets):
    """Depth-first Eclat of one class on sorted tid lists (``tl[starts[s]:ends[s]]``, s < m).

    Frame ``d``'s lists are followed by its current child's, so the stack of lists is released
    by starting the next child where the previous one started. The search runs in
    :func:`_search_lists`, which returns to grow a buffer (as :func:`_dfs_bitsets` does).
    """
    frames = np.zeros((m + 2, FL_COLUMNS), dtype=np.int64)
    frames[0, FL_M] = m
    frames[0, FL_LEN] = 1
    frames[0, FL_FREE] = total  # first tl position above the frame's lists
    perfect = np.empty(m + 1, dtype=np.int32)
    depth = 1
    while True:
        parent, item, support, length = out
        depth, n, status, need_tl, need_meta, need_out = _search_lists(
            tl, starts, ends, items, ids, perfect, parent, item, support, length, frames, depth, n,
            min_count, max_len, max_itemsets,
        )  # fmt: skip
        if status != STATUS_ROOM:
            return tl, out, n, status
        tl = _grow(tl, need_tl)
        starts = _grow(starts, need_meta)
        ends = _grow(ends, need_meta)
        items = _grow(items, need_meta)
        ids = _grow(ids, need_meta)
        out = _reserve(out, need_out)


@njit(cache=True, nogil=True)
def _search_lists(
    tl, starts, ends, items, ids, perfect, parent, item, support, length, frames, depth, n,
    min_count, max_len, max_itemsets,
):  # fmt: skip
    """The tid-list search of :func:`_dfs_lists` from ``frames[:depth]``, with the perfect
    extensions pruned, returning as :func:`_search_bitsets` does, with the room needed in
    ``tl``, the list metadata and the output. It emits the same itemsets in the same order.
    ``ends``, ``items`` and ``ids`` are as long as ``starts`` (only that one is checked)."""
    while depth > 0:
        d = depth - 1
        i = frames[d, FL_NEXT]
        mm = frames[d, FL_M]
        off = frames[d, FL_OFF]
        k0 = frames[d, FL_PERFECT]
        if i >= mm - 1:
            if i == mm - 1 and k0 > 0:
                x = ids[off + i]
                n, status, need_out = _emit_last(
                    x, perfect, k0, parent, item, support, length, n, max_len, max_itemsets
                )
                if status != STATUS_OK:
                    return depth, n, status, 0, 0, need_out
            depth -= 1
            continue
        free = frames[d, FL_FREE]
        meta = off + mm
        li = ends[off + i] - starts[off + i]
        need_tl = free + (mm - i - 1) * li + 64
        if need_tl > tl.shape[0] or meta + mm > starts.shape[0] or n + mm - i > parent.shape[0]:
            return depth, n, STATUS_ROOM, need_tl, meta + mm, n + mm - i
        n0 = n
        plen = frames[d, FL_LEN] + 1
        pid = ids[off + i]
        si, ei = starts[off + i], ends[off + i]
        k = k0
        nc = 0
        pos = free
        for j in range(i + 1, mm):
            p = si
            q, qe = starts[off + j], ends[off + j]
            begin = pos
            while p < ei and q < qe:
                x = tl[p]
                y = tl[q]
                if x == y:
                    tl[pos] = x
                    pos += 1
                    p += 1
                    q += 1
                elif x < y:
                    p += 1
                else:
                    q += 1
            c = pos - begin
            if c >= min_count and c < li:
                parent[n] = pid
                item[n] = items[off + j]
                support[n] = c
                length[n] = plen + 1
                starts[meta + nc] = begin
                ends[meta + nc] = pos
                items[meta + nc] = items[off + j]
                ids[meta + nc] = n
                n += 1
                nc += 1
            else:
                if c == li and c >= min_count:
                    perfect[k] = items[off + j]
                    k += 1
                pos = begin
        descend = nc >= 2 and plen + 2 <= max_len
        extra = _combinations(plen, k, max_len)
        if not descend:
            extra = _plus_times(extra, nc, _combinations(plen + 1, k, max_len))
        if n + extra > max_itemsets:
            return depth, min(n + extra, max_itemsets + 1), STATUS_EXPLOSION, 0, 0, 0
        if n + extra > parent.shape[0]:
            return depth, n0, STATUS_ROOM, need_tl, meta + mm, n + extra
        frames[d, FL_NEXT] = i + 1
        n = _emit_combinations(pid, perfect, k, parent, item, support, length, n, max_len)
        if not descend:
            for t in range(nc):
                n = _emit_combinations(ids[meta + t], perfect, k, parent, item, support, length, n, max_len)
            continue
        frames[depth, FL_OFF] = meta
        frames[depth, FL_M] = nc
        frames[depth, FL_NEXT] = 0
        frames[depth, FL_LEN] = plen
        frames[depth, FL_FREE] = pos
        frames[depth, FL_PERFECT] = k
        depth += 1
    return depth, n, STATUS_OK, 0, 0, 0


@njit(cache=True, nogil=True)
def mine_rank_space(
    rows, n_rows, counts, min_count, max_len, max_itemsets, squeeze, tidlist_density, pair_cells, batch_words
):  # fmt: skip
    """Every frequent itemset of the rank-space baskets, as flat arrays.

    ``rows``: ``n_rows`` baskets in rank space, each sorted ascending and ended by the sentinel
    ``f = len(counts)``; ``counts``: the support of every rank (all >= ``min_count``). Itemset
    ``i`` is itemset ``parent[i]`` plus rank ``item[i]``; ids ``0..f-1`` are the single items.
    Returns ``(parent, item, support, length, n, status)``, status 1 meaning that more than
    ``max_itemsets`` were found (mining stopped there).
    """
    f = counts.shape[0]
    out = _singletons(counts)
    parent, item, support, length = out
    n = f
    if n > max_itemsets:
        return out[0], out[1], out[2], out[3], n, STATUS_EXPLOSION
    if f < 2 or max_len < 2:
        return out[0], out[1], out[2], out[3], n, STATUS_OK

    one = np.uint64(1)
    # pair counts, then pair slots (-1: infrequent), triangular: class a holds the f - a - 1 cells
    # of its pairs (a, b > a) from row_off[a - a0]; a pass takes the classes whose rows fit in
    # ``pair_cells`` (at least one; the table holds any one row). Half the cells of a square table
    # (retail at 0.1%: 2,117 frequent items, 9.0 MB, was 16.8)
    table = _huge(np.empty(max(f, min(pair_cells, f * (f - 1) // 2)), dtype=np.int32))
    row_off = np.empty(f + 1, dtype=np.int64)
    class_first = np.empty(f + 1, dtype=np.int64)  # slots of class a0 + k: [first[k], first[k+1])
    slot_id = np.empty(1024, dtype=np.int64)  # itemset id of each slot (pair)
    class_base = np.empty(f, dtype=np.int64)  # where each class's tidsets start in ``store``
    mode = np.empty(f, dtype=np.int64)
    occ = np.zeros(f, dtype=np.int64)
    store = np.empty(1024, dtype=np.uint64)
    arena = np.empty(1 << 12, dtype=np.uint64)
    ext_item = np.empty(4 * f, dtype=np.int32)
    ext_id = np.empty(4 * f, dtype=np.int64)
    tl = np.empty(1024, dtype=np.int32)
    starts = np.empty(64, dtype=np.int64)
    ends = np.empty(64, dtype=np.int64)
    items = np.empty(64, dtype=np.int32)
    ids = np.empty(64, dtype=np.int64)

    a0 = 0
    while a0 < f:
        a1 = a0
        cells = 0
        row_off[0] = 0
        while a1 < f and (a1 == a0 or cells + f - a1 - 1 <= pair_cells):
            cells += f - a1 - 1
            a1 += 1
            row_off[a1 - a0] = cells
        for t in range(cells):
            table[t] = 0
        # pass 1: pair counts of classes [a0, a1), rows read in order
        e = 0
        for _ in range(n_rows):
            while rows[e] < a0:
                e += 1
            p = e
            while rows[p] < a1:
                base = row_off[rows[p] - a0] - rows[p] - 1
                q = p + 1
                b = rows[q]
                while b != f:
                    table[base + b] += 1
                    q += 1
                    b = rows[q]
                p += 1
            while rows[p] != f:
                p += 1
            e = p + 1
        # frequent pairs: emit them, turn their cells into slots
        n_slots = 0
        for a in range(a0, a1):
            base = row_off[a - a0] - a - 1
            class_first[a - a0] = n_slots
            out = _reserve(out, n + f - a)
            parent, item, support, length = out
            slot_id = _grow(slot_id, n_slots + f - a)
            for b in range(a + 1, f):
                c = table[base + b]
                if c >= min_count:
                    parent[n] = a
                    item[n] = b
                    support[n] = c
                    length[n] = 2
                    slot_id[n_slots] = n
                    table[base + b] = n_slots
                    n_slots += 1
                    n += 1
                else:
                    table[base + b] = -1
        class_first[a1 - a0] = n_slots
        if n > max_itemsets:
            return out[0], out[1], out[2], out[3], n, STATUS_EXPLOSION
        if max_len < 3:
            a0 = a1
            continue
        # batches of classes whose tidsets fit in batch_words; one pass over the rows each
        c0 = a0
        while c0 < a1:
            words = 0
            c1 = c0
            while c1 < a1:
                k = c1 - a0
                m = class_first[k + 1] - class_first[k]
                if m < 2:
                    mode[k] = MODE_SKIP
                    c1 += 1
                    continue
                need = m * ((counts[c1] + 63) >> 6)
                if c1 > c0 and words + need > batch_words:
                    break
                bits = 0
                for s in range(class_first[k], class_first[k + 1]):
                    bits += support[slot_id[s]]
                mode[k] = MODE_LISTS if bits < tidlist_density * m * counts[c1] else MODE_BITS
                class_base[k] = words
                words += need
                c1 += 1
            store = _grow(store, words)
            for t in range(words):
                store[t] = np.uint64(0)
            for a in range(c0, c1):
                occ[a] = 0
            # pass 2: tidsets of the classes [c0, c1), bit j = the j-th basket of D_a, stored
            # word-major (word w of every extension together) so that one basket's writes stay
            # in one cache line per class; transposed for the search below
            e = 0
            for _ in range(n_rows):
                while rows[e] < c0:
                    e += 1
                p = e
                while rows[p] < c1:
                    a = rows[p]
                    k = a - a0
                    if mode[k] != MODE_SKIP:
                        j = occ[a]
                        occ[a] = j + 1
                        m = class_first[k + 1] - class_first[k]
                        at = class_base[k] + (j >> 6) * m - class_first[k]
                        bit = one << np.uint64(j & 63)
                        base = row_off[k] - a - 1
                        q = p + 1
                        b = rows[q]
                        while b != f:
                            s = table[base + b]
                            if s >= 0:
                                store[at + s] |= bit
                            q += 1
                            b = rows[q]
                    p += 1
                while rows[p] != f:
                    p += 1
                e = p + 1
            # depth-first search of every class of the batch
            for a in range(c0, c1):
                k = a - a0
                if mode[k] == MODE_SKIP:
                    continue
                s0, s1 = class_first[k], class_first[k + 1]
                m = s1 - s0
                width = (counts[a] + 63) >> 6
                src = class_base[k]
                ext_item = _grow(ext_item, m)
                ext_id = _grow(ext_id, m)
                for s in range(s0, s1):
                    ext_item[s - s0] = item[slot_id[s]]
                    ext_id[s - s0] = slot_id[s]
                if mode[k] == MODE_BITS:
                    arena = _grow(arena, m * width)
                    for w in range(width):
                        for t in range(m):
                            arena[t * width + w] = store[src + w * m + t]
                    arena, ext_item, ext_id, out, n, status = _dfs_bitsets(
                        arena,
                        width,
                        m,
                        ext_item,
                        ext_id,
                        out,
                        n,
                        min_count,
                        max_len,
                        max_itemsets,
                        squeeze,
                        1,
                    )
                else:
                    total = 0
                    starts = _grow(starts, 4 * m)
                    ends = _grow(ends, 4 * m)
                    items = _grow(items, 4 * m)
                    ids = _grow(ids, 4 * m)
                    for s in range(s0, s1):
                        starts[s - s0] = total
                        ends[s - s0] = total
                        items[s - s0] = ext_item[s - s0]
                        ids[s - s0] = ext_id[s - s0]
                        total += support[slot_id[s]]
                    tl = _grow(tl, 2 * total + 64)
                    for w in range(width):
                        for t in range(m):
                            v = store[src + w * m + t]
                            while v != 0:
                                low = v & (~v + one)
                                tl[ends[t]] = (w << 6) + _popcount(low - one)
                                ends[t] += 1
                                v ^= low
                    tl, out, n, status = _dfs_lists(
                        tl, total, m, starts, ends, items, ids, out, n, min_count, max_len, max_itemsets
                    )
                parent, item, support, length = out
                if status != STATUS_OK:
                    return out[0], out[1], out[2], out[3], n, status
            c0 = c1
        a0 = a1
    return out[0], out[1], out[2], out[3], n, STATUS_OK


@njit(cache=True, nogil=True)
def _singletons(counts):
    f = counts.shape[0]
    cap = max(1024, 4 * f)
    out = (
        np.empty(cap, dtype=np.int64),
        np.empty(cap, dtype=np.int32),
        np.empty(cap, dtype=np.int64),
        np.empty(cap, dtype=np.int16),
    )
    parent, item, support, length = out
    for a in range(f):
        parent[a] = -1
        item[a] = a
        support[a] = counts[a]
        length[a] = 1
    return out


@njit(cache=True, nogil=True)
def pair_work(indptr, indices, rank_of):
    """Sum over baskets of (frequent items)^2 / 2: the pair enumerations of :func:`mine_rank_space`."""
    total = 0
    for r in range(indptr.shape[0] - 1):
        k = 0
        for e in range(indptr[r], indptr[r + 1]):
            if rank_of[indices[e]] >= 0:
                k += 1
        total += k * (k - 1) // 2
    return total


@njit(cache=True, nogil=True)
def mine_vertical(indptr, indices, rank_of, counts, min_count, max_len, max_itemsets, squeeze):
    """Dense data: one bitset of all ``n`` baskets per frequent item, Eclat from the root.

    For dense data (few frequent items, long baskets) this beats counting pairs basket by
    basket: every pair is one AND of ``n / 64`` words, and the squeeze re-indexes the children of
    any item under ``1 / squeeze`` support to its own baskets. Same output as :func:`mine_rank_space`.
    """
    f = counts.shape[0]
    n_rows = indptr.shape[0] - 1
    out = _singletons(counts)
    n = f
    if n > max_itemsets:
        return out[0], out[1], out[2], out[3], n, STATUS_EXPLOSION
    if f < 2 or max_len < 2:
        return out[0], out[1], out[2], out[3], n, STATUS_OK
    width = (n_rows + 63) >> 6
    arena = np.zeros(4 * f * width + 64, dtype=np.uint64)
    one = np.uint64(1)
    for r in range(n_rows):
        w = r >> 6
        bit = one << np.uint64(r & 63)
        for e in range(indptr[r], indptr[r + 1]):
            k = rank_of[indices[e]]
            if k >= 0:
                arena[k * width + w] |= bit
    ext_item = np.arange(4 * f).astype(np.int32)
    ext_id = np.arange(4 * f).astype(np.int64)
    arena, ext_item, ext_id, out, n, status = _dfs_bitsets(
        arena, width, f, ext_item, ext_id, out, n, min_count, max_len, max_itemsets, squeeze, 0
    )
    return out[0], out[1], out[2], out[3], n, status


@njit(cache=True, nogil=True)
def build_rank_rows(indptr, indices, rank_of, counts):
    """Rank-space baskets for :func:`mine_rank_space`: only frequent items, ascending, sentinel-ended.

    A counting sort by rank in two linear passes (no per-row sort), so rows come out ordered.
    """
    f = counts.shape[0]
    n = indptr.shape[0] - 1
    col_ptr = np.zeros(f + 1, dtype=np.int64)
    for a in range(f):
        col_ptr[a + 1] = col_ptr[a] + counts[a]
    nnz = col_ptr[f]
    row_len = np.zeros(n, dtype=np.int64)
    col_row = _huge(np.empty(nnz, dtype=np.int32))  # rows holding each rank, rank by rank
    fill = col_ptr[:-1].copy()
    for r in range(n):
        for e in range(indptr[r], indptr[r + 1]):
            k = rank_of[indices[e]]
            if k >= 0:
                col_row[fill[k]] = r
                fill[k] += 1
                row_len[r] += 1
    pos = np.empty(n, dtype=np.int64)
    total = 0
    for r in range(n):
        pos[r] = total
        total += row_len[r] + 1
    rows = _huge(np.empty(total, dtype=np.int32))
    for a in range(f):
        for j in range(col_ptr[a], col_ptr[a + 1]):
            r = col_row[j]
            rows[pos[r]] = a
            pos[r] += 1
    for r in range(n):
        rows[pos[r]] = f
    return rows


@njit(cache=True, nogil=True)
def expand_levels(parent, item, support, length, n, order):
    """Itemsets as rows of item columns (``order[rank]``, int32), grouped by length.

    Returns ``(flat, counts, offsets)``: itemsets of length ``k`` are ``flat[offsets[k]:offsets[k+1]]``
    read as a ``(-1, k)`` matrix, their counts ``counts[first:first + m]`` in the same order (the
    levels one after another). A row is its parent's row and its own item, unsorted:
    :class:`FrequentItemsets` sorts the rows when it sorts the levels (an insertion here cost
    mushroom 0.1 a sixth more). The counts are written here, not gathered afterwards through an
    id array: mushroom at 0.1 (574k itemsets) spent more in first touching fresh memory than in
    copying rows, at about 0.4 ms a MB on this VM (4 KiB pages).
    """
    max_k = 0
    for i in range(n):
        if length[i] > max_k:
            max_k = length[i]
    per_len = np.zeros(max_k + 2, dtype=np.int64)
    for i in range(n):
        per_len[length[i]] += 1
    offsets = np.zeros(max_k + 2, dtype=np.int64)  # in items
    first = np.zeros(max_k + 2, dtype=np.int64)  # in itemsets
    for k in range(1, max_k + 1):
        offsets[k + 1] = offsets[k] + per_len[k] * k
        first[k + 1] = first[k] + per_len[k]
    flat = _huge(np.empty(offsets[max_k + 1], dtype=np.int32))  # column ids: scipy's indices are int32
    counts = _huge(np.empty(n, dtype=np.int64))
    loc = _huge(np.empty(n, dtype=np.int64))  # where each itemset's row starts in ``flat``
    at = first.copy()
    for i in range(n):  # parents come before their children: copy the parent's row
        k = length[i]
        slot = at[k]
        at[k] += 1
        counts[slot] = support[i]
        row = offsets[k] + (slot - first[k]) * k
        loc[i] = row
        v = order[item[i]]
        if k == 1:
            flat[row] = v
            continue
        prow = loc[parent[i]]
        for c in range(k - 1):
            flat[row + c] = flat[prow + c]
        flat[row + k - 1] = v
    return flat, counts, offsets


LAYOUTS = ("auto", "vertical", "classes")


def mine_levels_numba(
    x,
    rs,
    min_count: int,
    max_len: int | None,
    max_itemsets: int | None,
    *,
    layout: str = "auto",
    squeeze: int = SQUEEZE_DEFAULT,
    tidlist_density: float = TIDLIST_DEFAULT,
    pair_cells: int = PAIR_CELLS,
    batch_words: int = BATCH_WORDS,
):
    """All frequent itemsets of ``x`` (a canonical CSR) as levels in column space.

    ``layout``: "vertical" (one ``n``-bit tidset per item, for dense data), "classes" (pairs
    counted basket by basket, each class mined in its own ``D_a``) or "auto" (vertical when its
    pair ANDs cost less than enumerating the baskets' pairs, and its bitsets fit ``batch_words``).
    The other options force the per-branch data structures (the tests use them). Returns the
    levels; raises :class:`ItemsetExplosion` past ``max_itemsets`` (None, or anything larger:
    past :data:`MAX_LIMIT`, 2^40 itemsets, which no memory would hold).
    """
    from .limits import ItemsetExplosion

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    n_rows = x.shape[0]
    f = rs.f
    limit = MAX_LIMIT if max_itemsets is None else min(int(max_itemsets), MAX_LIMIT)
    deepest = (1 << 30) if max_len is None else int(max_len)
    indptr = x.indptr.astype(np.int64, copy=False)
    indices = x.indices.astype(np.int32, copy=False)
    width = (n_rows + 63) >> 6
    if layout == "auto":
        vertical = f * width <= batch_words and f * f * width < 4 * pair_work(indptr, indices, rs.rank_of)
    else:
        vertical = layout == "vertical"
    if vertical:
        parent, item, support, length, n, status = mine_vertical(
            indptr, indices, rs.rank_of, rs.counts, min_count, deepest, limit, squeeze
        )
    else:
        rows = build_rank_rows(indptr, indices, rs.rank_of, rs.counts)
        parent, item, support, length, n, status = mine_rank_space(
            rows, n_rows, rs.counts, min_count, deepest, limit, squeeze, tidlist_density,
            max(int(pair_cells), 1), max(int(batch_words), 1),
        )  # fmt: skip
        del rows
    if status == STATUS_EXPLOSION:
        raise ItemsetExplosion(int(n), limit, min_count, n_rows, max_len)
    flat, support, offsets = expand_levels(parent, item, support, length, n, rs.order)
    levels = {}
    first = 0
    for k in range(1, len(offsets) - 1):
        m = (offsets[k + 1] - offsets[k]) // k
        if m:
            levels[k] = (flat[offsets[k] : offsets[k + 1]].reshape(m, k), support[first : first + m])
        first += m
    return levels
