"""Frequent itemsets on a torch device (the GPU path): Apriori, level by level, over bitsets.

Why this shape rather than the CPU kernel's depth-first search: a GPU wants few, wide, uniform
operations and no per-itemset control flow, so every step here is one tensor expression over a
whole level (or a batch of it bounded in bytes):

* **pairs**: one dense 0/1 product ``X^T X`` per chunk of baskets (cuBLAS), exact in float32
  because a chunk's counts stay under 2^24;
* **tidsets**: one ``n``-bit bitset per frequent item, its words set by one ``scatter_add``
  (the bits of one word are distinct, so their sum is their OR);
* **level k+1 from level k**: itemsets sharing their first ``k - 1`` items (a run of rows, the
  level being sorted) are joined pairwise; a candidate is kept only if all its ``k``-subsets are
  frequent (packed keys, ``searchsorted``), then counted as ``popcount(AND of its items'
  tidsets)`` (torch has no popcount: the SWAR bit trick, in place), in batches of
  :data:`BATCH_BYTES` of tidsets (twice that at the peak, with the popcount's temporary).

Memory on the device, beyond the batches: the pair counts (``f x f``: 8 MB at 1,000 frequent
items, 800 MB at 10,000) and one ``n``-bit tidset per frequent item (1M baskets x 1,000 items:
125 MB). The pairs cost ``n f^2`` multiply-adds, which a GPU does at tens of TFLOPs; with tens of
thousands of frequent items the CPU kernel, which counts only the pairs baskets hold, is the one
to use.

The host does no work per basket entry (the CSR arrays go to the device as they are) and a
constant amount per level, never per itemset. Items are ranks (:mod:`.rank_space`); the
result is levels in column space, as the other kernels return.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from assoc_pipeline.core.errors import InputError

from .itemsets import Levels
from .limits import ItemsetBudget
from .rank_space import RankSpace

if TYPE_CHECKING:
    import scipy.sparse as sp

    from assoc_pipeline.core.data.basket_arrays import BasketArrays

BATCH_BYTES = 256 << 20  # bound on one dense chunk, one batch of candidate tidsets, one join
EXACT_FLOAT32 = 1 << 24  # float32 holds every integer below this: rows per pair-count chunk


def popcount64_(x: Any) -> Any:
    """Per-element popcount of an int64 torch tensor, written over ``x`` and returned (SWAR:
    masks keep arithmetic shifts exact). In place, so that a batch of tidsets needs one
    temporary of its size, not five."""
    t = x >> 1
    x -= t.bitwise_and_(0x5555555555555555)
    t = x >> 2
    x.bitwise_and_(0x3333333333333333).add_(t.bitwise_and_(0x3333333333333333))
    x.add_(x >> 4).bitwise_and_(0x0F0F0F0F0F0F0F0F)
    return x.mul_(0x0101010101010101).bitwise_right_shift_(56)


def cuda_device(cpu_setting: str = "device='cpu'") -> str:
    """The device name to mine on when torch sees a CUDA device; otherwise a clear error that
    points at ``cpu_setting`` (as the caller spells it: the command line says ``--device cpu``)."""
    try:
        import torch
    except (ImportError, OSError) as exc:  # OSError: a torch build whose CUDA libraries are missing
        raise InputError(f"device='cuda' needs torch with CUDA ({exc}); use {cpu_setting}") from None
    if not torch.cuda.is_available():
        raise InputError(
            f"device='cuda' but torch {torch.__version__} sees no CUDA device (no GPU, or a CPU-only "
            f"build of torch); use {cpu_setting}"
        )
    return "cuda"


def mine_levels_torch(
    x: sp.csr_matrix | BasketArrays,
    rs: RankSpace,
    min_count: int,
    max_len: int | None,
    budget: ItemsetBudget,
    device: str = "cuda",
) -> Levels:
    """Itemsets of 2+ items (the caller adds the single items) as levels in column space,
    counted on the torch ``device``; ``budget`` raises :class:`ItemsetExplosion` batch by batch."""
    import torch

    deepest = (1 << 30) if max_len is None else max_len
    n, f = x.shape[0], rs.f
    if f < 2 or deepest < 2 or n == 0:
        return {}
    dev = torch.device(device)
    rows, ranks = _entries(torch, dev, x, rs)

    items, counts = _frequent_pairs(torch, dev, rows, ranks, n, f, min_count)
    budget.add(len(counts))
    found: dict[int, tuple[Any, Any]] = {2: (items, counts)} if len(counts) else {}
    if deepest > 2 and len(counts) > 1:
        bits = _tidsets(torch, dev, rows, ranks, n, f)
        k = 2
        while k < deepest and len(items) > 1:
            items, counts = _next_level(torch, bits, items, f, min_count, budget)
            k += 1
            if len(counts) == 0:
                break
            found[k] = (items, counts)
    return {k: (rs.order[i.cpu().numpy()], c.cpu().numpy().astype(np.int64)) for k, (i, c) in found.items()}


def _entries(torch, dev, x, rs: RankSpace):
    """``(rows, ranks)``, int64 on the device: the basket and the rank of each entry of a
    frequent item, rows ascending. Built there from the CSR arrays as they are (the int32
    indices travel, not two int64 columns), so that the host does no work per entry."""
    indptr = _on(torch, dev, np.asarray(x.indptr, dtype=np.int64))
    indices = _on(torch, dev, np.asarray(x.indices)).long()
    ranks = _on(torch, dev, rs.rank_of).long()[indices]
    n = len(indptr) - 1
    rows = torch.repeat_interleave(torch.arange(n, device=dev), indptr.diff(), output_size=len(indices))
    keep = ranks >= 0
    return rows[keep], ranks[keep]


def _on(torch, dev, a: np.ndarray):
    """``a`` on the device (a read-only array, e.g. one that Arrow lends, is copied first:
    torch does not share memory it may not write)."""
    return torch.from_numpy(a if a.flags.writeable else a.copy()).to(dev)


def _frequent_pairs(torch, dev, rows, ranks, n: int, f: int, min_count: int):
    """Frequent pairs (lexicographically sorted rank rows) and their counts, from ``X^T X``
    summed over chunks of baskets, each a dense float32 0/1 matrix of at most BATCH_BYTES."""
    per_chunk = int(min(EXACT_FLOAT32 - 1, max(1, BATCH_BYTES // (4 * f))))
    total = torch.zeros((f, f), dtype=torch.int64, device=dev)
    firsts = torch.arange(0, n + per_chunk, per_chunk, device=dev)
    bounds = torch.searchsorted(rows, firsts).cpu().numpy()  # one sync for every chunk's slice
    for c, (e0, e1) in enumerate(itertools.pairwise(bounds)):
        if e0 == e1:
            continue
        r0 = c * per_chunk
        dense = torch.zeros((min(per_chunk, n - r0), f), dtype=torch.float32, device=dev)
        dense[rows[e0:e1] - r0, ranks[e0:e1]] = 1.0
        total += (dense.T @ dense).to(torch.int64)
        del dense
    mask = torch.triu(total >= min_count, diagonal=1)
    return torch.nonzero(mask), total[mask]


def _tidsets(torch, dev, rows, ranks, n: int, f: int):
    """``(f, words)`` int64: bit ``r`` of row ``a`` is set when basket ``r`` holds rank ``a``."""
    words = (n + 63) >> 6
    bits = torch.zeros(f * words, dtype=torch.int64, device=dev)
    at = ranks * words + (rows >> 6)
    bits.scatter_add_(0, at, torch.ones_like(rows) << (rows & 63))  # distinct bits: the sum is the OR
    return bits.view(f, words)


def _next_level(torch, bits, items, f: int, min_count: int, budget: ItemsetBudget):
    """The frequent ``(k+1)``-itemsets from the sorted frequent ``k``-itemsets ``items``."""
    m, k = items.shape
    same = (items[1:, : k - 1] == items[:-1, : k - 1]).all(dim=1)
    # row i joins rows i+1 .. end of its run (rows sharing the first k-1 items)
    starts = torch.ones(m, dtype=torch.bool, device=items.device)
    starts[1:] = ~same
    run = torch.cumsum(starts.to(torch.int64), 0) - 1
    run_end = torch.zeros(int(run[-1]) + 1, dtype=torch.int64, device=items.device)
    run_end.scatter_reduce_(0, run, torch.arange(1, m + 1, device=items.device), reduce="amax")
    partners = run_end[run] - torch.arange(1, m + 1, device=items.device)
    keys, width = _packed_keys(items, f)
    dev = items.device
    per_join = max(1, BATCH_BYTES // (8 * 4 * (k + 1)))  # candidates: a few (c, k + 1) int64 arrays
    per_count = max(1, BATCH_BYTES // (8 * bits.shape[1]))  # their tidsets
    out_items, out_counts = [], []
    for first, last, total in _row_chunks(partners.cpu().numpy(), per_join):
        p = partners[first:last]
        # the host knows each chunk's size: output_size spares a device sync per repeat
        left = torch.repeat_interleave(torch.arange(first, last, device=dev), p, output_size=total)
        before = torch.repeat_interleave(torch.cumsum(p, 0) - p, p, output_size=total)
        right = left + 1 + torch.arange(total, device=dev) - before
        cand = torch.cat([items[left], items[right, k - 1 :]], dim=1)
        if keys is not None:
            cand = cand[_all_subsets_frequent(torch, cand, keys, width)]
        for s in range(0, len(cand), per_count):
            batch = cand[s : s + per_count]
            inter = bits[batch[:, 0]]
            for j in range(1, k + 1):
                inter &= bits[batch[:, j]]
            count = popcount64_(inter).sum(dim=1)
            del inter
            ok = count >= min_count
            budget.add(int(ok.sum()))
            out_items.append(batch[ok])
            out_counts.append(count[ok])
    if not out_items:
        return items[:0], torch.zeros(0, dtype=torch.int64, device=items.device)
    return torch.cat(out_items), torch.cat(out_counts)


def _row_chunks(partners: np.ndarray, per_batch: int):
    """``(first, last, candidates)``: row ranges ``[first, last)`` whose joins make at most
    ``per_batch`` candidates (or one row's, when that is more), skipping those that make none."""
    ends = np.cumsum(partners)
    first = 0
    while first < len(partners):
        base = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, base + per_batch, side="right")), first + 1)
        total = int(ends[last - 1]) - base
        if total:
            yield first, last, total
        first = last


def _packed_keys(items, f: int):
    """Each sorted row as one int64 (fixed-width fields, first item highest), so lexicographic
    order is numeric order; None when a row does not fit in 63 bits (no subset pruning then)."""
    width = max(1, int(f - 1).bit_length())
    if width * items.shape[1] > 63:
        return None, width
    return _pack(items, width), width


def _pack(rows, width: int):
    key = rows[:, 0].clone()
    for j in range(1, rows.shape[1]):
        key = (key << width) | rows[:, j]
    return key


def _all_subsets_frequent(torch, cand, keys, width: int):
    """Mask of candidates whose every k-subset is a frequent k-itemset (the two it was joined
    from are, by construction: only the subsets without one of the first k-1 items are looked up)."""
    k1 = cand.shape[1]
    ok = torch.ones(len(cand), dtype=torch.bool, device=cand.device)
    for drop in range(k1 - 2):
        sub = _pack(torch.cat([cand[:, :drop], cand[:, drop + 1 :]], dim=1), width)
        at = torch.searchsorted(keys, sub).clamp_(max=len(keys) - 1)
        ok &= keys[at] == sub
    return ok
