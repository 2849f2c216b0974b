"""TIFU-KNN's blend of a user's vector with the mean of its nearest neighbours', as dense rows.

Why a kernel: at 20k users x 59k items a user's neighbours (100-300 of them) together bought
most of the catalogue, so the sparse product ``weights @ vectors`` builds rows of ~47k entries
through scipy's generic sparse-times-sparse loop and a sparse sum, then is made dense anyway:
3.9 s per 512 users. Accumulating straight into the dense rows takes a fraction of that.

The numba kernel and the scipy fallback give the same float32 values to the bit: each item's
sum adds ``weight * value`` in the order of the neighbours' row numbers (the order scipy's
product reads a canonical CSR row in), and the blend is ``alpha * own + (1 - alpha) * mean``
in float32, as scipy's elementwise sum of the two scaled matrices.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from assoc_pipeline.core.optional_packages import numba_available


def sparse_blend(
    vectors: sp.csr_matrix, rows: np.ndarray, neighbours: np.ndarray, alpha: float
) -> sp.csr_matrix:
    """The definition: ``alpha * own + (1 - alpha) * mean of the neighbours' vectors``, sparse."""
    n_rows, k = neighbours.shape
    w = sp.csr_matrix(
        (
            np.full(n_rows * k, 1.0 / k, dtype=np.float32),
            (np.repeat(np.arange(n_rows), k), neighbours.ravel()),
        ),
        shape=(n_rows, vectors.shape[0]),
    )
    return (alpha * vectors[rows] + (1.0 - alpha) * (w @ vectors)).astype(np.float32)


# below this many output cells (rows x items) scipy is fast enough: the kernel's one-off import
# and compilation (5-10 s on 2 cores, then cached on disk) would cost the demo more than it saves
NUMBA_MIN_CELLS = 1 << 24


def blend_rows(
    vectors: sp.csr_matrix,
    rows: np.ndarray,
    neighbours: np.ndarray,
    alpha: float,
    min_cells: int | None = None,
) -> np.ndarray:
    """Dense (len(rows), n_items) float32 blend of each row's vector with its neighbours' mean:
    the compiled kernel from ``min_cells`` (default :data:`NUMBA_MIN_CELLS`) output cells on,
    where numba is installed."""
    least = NUMBA_MIN_CELLS if min_cells is None else min_cells
    if len(rows) * vectors.shape[1] < least or not numba_available():
        return sparse_blend(vectors, rows, neighbours, alpha).toarray()
    from assoc_pipeline.core.recsys.baselines.neighbour_blend_numba import blend_kernel

    u = vectors if vectors.dtype == np.float32 else vectors.astype(np.float32)  # no copy per call
    k = neighbours.shape[1]
    return blend_kernel(
        u.indptr,
        u.indices,
        u.data,
        np.asarray(rows, dtype=np.int64),
        np.sort(np.asarray(neighbours, dtype=np.int64), axis=1),
        np.float32(1.0 / k),
        np.float32(alpha),
        np.float32(1.0 - alpha),
        u.shape[1],
    )
