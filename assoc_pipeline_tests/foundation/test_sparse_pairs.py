"""Sparse values at (row, column) pairs: what the dense matrix holds there, for any stored form."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from assoc_pipeline.core.sparse_pairs import values_at


def test_values_at_pairs_equal_the_dense_matrix_sorted_or_not_with_duplicates_and_empty_rows():
    rng = np.random.default_rng(0)
    n_rows, n_cols, nnz = 60, 500, 4000
    r = rng.integers(0, n_rows, nnz)
    r[r == 7] = 8  # row 7 empty
    c = rng.integers(0, n_cols, nnz)  # with repeated (row, column) entries: summed
    v = rng.standard_normal(nnz).astype(np.float32)
    coo = sp.coo_matrix((v, (r, c)), shape=(n_rows, n_cols))
    dense = coo.toarray()
    rows = np.concatenate([rng.integers(0, n_rows, 5000), [7, 0, n_rows - 1, n_rows - 1]])
    cols = np.concatenate([rng.integers(0, n_cols, 5000), [3, 0, 0, n_cols - 1]])
    stored_r, stored_c = coo.row[:200], coo.col[:200]  # pairs that are stored for sure
    rows, cols = np.concatenate([rows, stored_r]), np.concatenate([cols, stored_c])

    by_row = np.argsort(r, kind="stable")  # rows in order, columns within a row not, repeats kept
    indptr = np.r_[0, np.cumsum(np.bincount(r, minlength=n_rows))]
    unsorted = sp.csr_matrix((v[by_row], c[by_row], indptr), shape=(n_rows, n_cols))
    for m in (coo.tocsr(), unsorted):
        got = values_at(m, rows, cols)
        assert got.dtype == np.float32
        assert np.allclose(got, dense[rows, cols], rtol=0, atol=1e-6)
    assert values_at(coo.tocsr(), np.zeros(0, int), np.zeros(0, int)).shape == (0,)
    assert not values_at(sp.csr_matrix((3, 4), dtype=np.float32), [0, 2], [1, 3]).any()
