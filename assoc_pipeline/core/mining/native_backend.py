"""The native backend: frequent itemsets by the compiled Eclat kernel, or its numpy fallback.

Kernels (one algorithm per file):

* ``numba`` — :mod:`.eclat_numba`, depth-first Eclat compiled by numba (the default when numba
  is installed; faster than Borgelt's C FP-growth on every case of ``benchmarks/RESULTS.md``);
* ``numpy`` — :mod:`.eclat_numpy`, the same search vectorised with numpy/scipy: the fallback
  when numba is missing;
* ``torch`` — :mod:`.apriori_torch`, level-wise Apriori over bitsets on a GPU: what
  ``device="cuda"`` runs (a GPU wants whole levels at once, not a depth-first search).

``ASSOC_MINING_KERNEL=numpy`` (or ``numba``) forces a kernel for ``kernel="auto"``; the tests
use it to run everything on the fallback. Both give the same itemsets and counts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.optional_packages import numba_available

from .itemsets import Levels
from .limits import MAX_ITEMSETS, ItemsetBudget
from .rank_space import RankSpace, canonical_csr

if TYPE_CHECKING:
    import scipy.sparse as sp

    from assoc_pipeline.core.data.basket_arrays import BasketArrays

KERNELS: tuple[str, ...] = ("auto", "numba", "numpy")
KERNEL_ENV = "ASSOC_MINING_KERNEL"
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


# below this many basket-item entries the numpy kernel finishes in a few seconds: "auto" does not
# make a user wait for numba's one-off compilation (30-90 s on 2 cores) unless it is already cached
NUMBA_WORTH_COMPILING = 2_000_000


_WARM_CACHES: set[str] = set()  # NUMBA_CACHE_DIR values ("": the default) found warm: a cache
# stays warm, and a glob per call was 0.2 ms of a 3 ms mining run (chess at 0.7)


def numba_cache_warm() -> bool:
    """Has the compiled kernel been cached on this machine (numba's on-disk cache)?"""
    setting = os.environ.get("NUMBA_CACHE_DIR") or ""
    if setting in _WARM_CACHES:
        return True
    folder = Path(setting) if setting else Path(__file__).parent / "__pycache__"
    if folder.is_dir() and any(folder.glob("eclat_numba.*.nbi")):
        _WARM_CACHES.add(setting)
        return True
    return False


def choose_kernel(kernel: str = "auto", device: str = "auto", nnz: int | None = None) -> str:
    """The kernel that will run: "numba", "numpy" or, on ``device="cuda"``, "torch"
    (``ASSOC_MINING_KERNEL`` decides "auto" on the CPU).

    "auto" picks numba when it is installed and either already compiled or the input is big
    enough (``nnz`` entries) to repay compiling it; otherwise numpy, which gives the same itemsets.
    """
    if kernel not in KERNELS:
        raise InputError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if device not in DEVICES:
        raise InputError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda":  # before the environment: ASSOC_MINING_KERNEL chooses among CPU kernels
        if kernel != "auto":
            raise InputError(f"kernel={kernel!r} runs on the CPU; device='cuda' runs the torch kernel")
        return "torch"
    if kernel == "auto":
        kernel = os.environ.get(KERNEL_ENV, "").strip().lower() or "auto"
        if kernel not in KERNELS:
            raise InputError(f"{KERNEL_ENV} must be one of {KERNELS}, got {kernel!r}")
    if kernel == "auto":
        if not numba_available():
            return "numpy"
        worth_it = nnz is None or nnz >= NUMBA_WORTH_COMPILING or numba_cache_warm()
        return "numba" if worth_it else "numpy"
    if kernel == "numba" and not numba_available():
        raise ImportError("kernel='numba' needs numba (pip install numba); kernel='numpy' needs nothing")
    return kernel


# a process that mines once (the command line) pays ~1-2 s to import numba and load its cached
# kernel (benchmarks/RESULTS.md: the CLI on T10I4D100K, 1M entries, 1.15 s with numpy vs 2.15 s
# with numba); numba saves ~0.25-0.3 s of mining per 1M entries (T10I4D100K 0.1%: 0.37 vs 0.10 s;
# 1M-basket Quest set, ~10M entries: 3.6-4.0 vs 1.1 s), so "auto" loads it from ~5M entries on
NUMBA_WORTH_LOADING = 5_000_000


def kernel_for_one_run(kernel: str, nnz: int) -> str:
    """The kernel to ask for in a process that mines once: ``kernel`` unless it is "auto" and
    numba is not loaded yet and the input is under :data:`NUMBA_WORTH_LOADING` entries ("numpy").
    ``ASSOC_MINING_KERNEL`` still decides "auto" when set."""
    if kernel != "auto" or os.environ.get(KERNEL_ENV, "").strip() or "numba" in sys.modules:
        return kernel
    return kernel if nnz >= NUMBA_WORTH_LOADING else "numpy"


def mine_levels(
    matrix: sp.spmatrix | BasketArrays,
    min_count: int,
    max_len: int | None = None,
    *,
    device: str = "auto",
    kernel: str = "auto",
    max_itemsets: int | None = MAX_ITEMSETS,
    **kernel_options: Any,
) -> tuple[Levels, np.ndarray]:
    """All frequent itemsets (count >= ``min_count``) up to ``max_len`` items, as levels.

    ``device``: "cpu", "cuda" (level-wise Apriori on the GPU in torch, :mod:`.apriori_torch`)
    or "auto" (the CPU: the GPU path is opt-in). ``kernel``: see the module docstring;
    ``kernel_options`` go to the numba kernel (data-structure choices, for tests).
    ``max_itemsets`` (None: no limit) raises :class:`ItemsetExplosion` as soon as more itemsets
    than that have been found, before the search's memory grows with them.
    """
    which = choose_kernel(kernel, device, matrix.nnz)
    budget = ItemsetBudget(max_itemsets, min_count, matrix.shape[0], max_len)
    x = canonical_csr(matrix)
    rs = RankSpace.of(x, min_count)
    if (max_len is not None and max_len < 1) or rs.f == 0:
        return {}, rs.item_counts
    if which == "numba":
        from .eclat_numba import mine_levels_numba

        return mine_levels_numba(x, rs, min_count, max_len, max_itemsets, **kernel_options), rs.item_counts
    if kernel_options:
        raise TypeError(f"options {sorted(kernel_options)} are for the numba kernel only")
    budget.add(rs.f)
    levels: Levels = {1: (rs.order[:, None], rs.counts)}
    if which == "torch":
        from .apriori_torch import cuda_device, mine_levels_torch

        levels.update(mine_levels_torch(x, rs, min_count, max_len, budget, cuda_device()))
    else:
        from .eclat_numpy import mine_levels_numpy

        levels.update(mine_levels_numpy(x, rs, min_count, max_len, budget))
    return levels, rs.item_counts
