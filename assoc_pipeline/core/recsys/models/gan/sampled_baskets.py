"""Generated item lists -> a BasketSet on the real vocabulary (shared by the GAN and the references)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet


def basket_set_from_lists(lists: list[np.ndarray], vocabulary: pd.DataFrame, prefix: str) -> BasketSet:
    """Anonymous baskets (no user, no time) named ``{prefix}-{i}``; vocabulary supports recounted."""
    n = len(lists)
    n_items = len(vocabulary)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(b) for b in lists])
    indices = np.concatenate(lists).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n_items))
    matrix.sort_indices()
    baskets = pd.DataFrame(
        {
            "basket_id": [f"{prefix}-{i}" for i in range(n)],
            "user_id": pd.array([None] * n, dtype="string"),
            "basket_time": pd.to_datetime(pd.Series([pd.NaT] * n)),
            "country": "",
            "n_items": np.diff(indptr),
        }
    )
    vocab = vocabulary[["item_idx", "item_id", "item_name"]].copy()
    vocab["n_baskets"] = np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64)
    return BasketSet(matrix, baskets, vocab)
