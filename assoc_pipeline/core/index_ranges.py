"""Concatenated integer ranges without a Python loop: the entries of some CSR rows, or windows.

Why: per-row slicing in Python (``concatenate([arange(s, e) ...])``) costs a call per row, and the
ranker and the DNN gather the entries of thousands of baskets per batch.
"""

from __future__ import annotations

import numpy as np


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, e) for s, e in zip(starts, ends)])``, int64."""
    starts = np.asarray(starts, dtype=np.int64)
    lens = np.asarray(ends, dtype=np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total, dtype=np.int64)


def row_entries(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in a CSR matrix's ``indices`` / ``data`` of the given rows' entries, rows in order."""
    rows = np.asarray(rows, dtype=np.int64)
    return ranges(indptr[rows], indptr[rows + 1])
