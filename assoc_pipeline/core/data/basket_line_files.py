"""Readers for one-basket-per-line files -> :class:`BasketSet`.

* basket CSV (arules ``Groceries`` style): comma-separated item names per line, no header;
* FIMI ``.dat`` (optionally ``.gz``): space-separated non-negative integer item ids per line.

The parsing is :mod:`.basket_arrays` (numpy only, also what ``assoc-pipeline mine`` uses); these
wrap its arrays as a BasketSet. Blank lines are skipped in both formats. Items are columns in
sorted order (names alphabetically, ids numerically).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.basket_arrays import BasketArrays, read_basket_lines_arrays, read_fimi_arrays
from assoc_pipeline.core.data.baskets import BasketSet


def basket_set_from_csr(matrix: sp.csr_matrix, item_labels: list[str] | np.ndarray) -> BasketSet:
    """Wrap a basket x item boolean CSR matrix (plus item labels) as a BasketSet, vectorised."""
    matrix = sp.csr_matrix(matrix, dtype=bool)
    matrix.sum_duplicates()
    matrix.sort_indices()
    n = matrix.shape[0]
    baskets = pd.DataFrame(
        {
            "basket_id": pd.Series(np.arange(n).astype(str), dtype=object),
            "user_id": pd.array([None] * n, dtype="string"),
            "basket_time": pd.to_datetime(pd.Series([pd.NaT] * n)),
            "country": "",
            "n_items": np.diff(matrix.indptr).astype(np.int64),
        }
    )
    labels = [str(x) for x in item_labels]
    vocabulary = pd.DataFrame(
        {
            "item_idx": np.arange(len(labels), dtype=np.int64),
            "item_id": labels,
            "item_name": labels,
            "n_baskets": np.bincount(matrix.indices, minlength=len(labels)).astype(np.int64),
        }
    )
    return BasketSet(matrix, baskets, vocabulary)


def _basket_set(arrays: BasketArrays) -> BasketSet:
    return basket_set_from_csr(arrays.to_scipy(), arrays.labels)


def read_fimi(path: str | os.PathLike) -> BasketSet:
    """A FIMI ``.dat`` / ``.dat.gz`` file (integer item ids separated by whitespace)."""
    return _basket_set(read_fimi_arrays(path))


def read_basket_csv(path: str | os.PathLike, sep: str = ",") -> BasketSet:
    """A one-basket-per-line CSV of item names (Groceries style); names are stripped."""
    return _basket_set(read_basket_lines_arrays(path, sep))


def read_baskets(path: str | os.PathLike) -> BasketSet:
    """Dispatch on the file name: ``.dat``/``.dat.gz`` -> FIMI, anything else -> basket CSV."""
    name = Path(path).name.lower()
    if name.endswith((".dat", ".dat.gz")):
        return read_fimi(path)
    return read_basket_csv(path)
