"""The compiled loop of :mod:`.neighbour_blend` (numba; imported only where numba is installed)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def blend_kernel(indptr, indices, data, rows, neighbours, weight, own_share, mean_share, n_items):
    """``own_share * u[row] + mean_share * sum_j(weight * u[neighbour_j])`` per row, float32."""
    out = np.zeros((len(rows), n_items), dtype=np.float32)
    acc = np.zeros(n_items, dtype=np.float32)
    for b in range(len(rows)):
        for j in range(neighbours.shape[1]):
            nb = neighbours[b, j]
            for p in range(indptr[nb], indptr[nb + 1]):
                acc[indices[p]] += weight * data[p]
        r = rows[b]
        for p in range(indptr[r], indptr[r + 1]):
            out[b, indices[p]] = own_share * data[p]
        for i in range(n_items):
            if acc[i] != 0.0:
                out[b, i] = out[b, i] + mean_share * acc[i]
                acc[i] = 0.0
    return out
