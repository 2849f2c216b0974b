"""TIFU-KNN's dense neighbour blend (numba) equals its sparse definition (scipy) to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.recsys.baselines import neighbour_blend
from assoc_pipeline.core.recsys.baselines.neighbour_blend import blend_rows, sparse_blend
from assoc_pipeline.core.recsys.baselines.tifu_knn import TIFUKNNRecommender
from assoc_pipeline_tests.models.conftest import planted_baskets


@pytest.mark.parametrize(("k", "alpha"), [(1, 0.7), (7, 0.5), (299, 0.9)])
def test_the_compiled_blend_equals_the_sparse_definition(k: int, alpha: float) -> None:
    """float32 sums in the same order: equal values, not merely close ones (rankings and ties
    must not depend on whether numba is installed)."""
    rng = np.random.default_rng(k)
    u = sp.random(300, 500, density=0.05, format="csr", dtype=np.float32, random_state=k)
    rows = rng.permutation(300)[:100]
    neighbours = np.stack(
        [rng.choice(300, k, replace=False) for _ in rows]
    )  # unsorted, as argpartition gives
    dense = blend_rows(u, rows, neighbours, alpha, min_cells=0)  # the compiled kernel
    assert dense.dtype == np.float32 and dense.shape == (100, 500)
    assert np.array_equal(dense, sparse_blend(u, rows, neighbours, alpha).toarray())


def test_tifu_scores_are_the_same_with_and_without_numba(monkeypatch) -> None:
    bs = planted_baskets(n_users=40, n_baskets=12, seed=4)
    tifu = TIFUKNNRecommender(n_neighbors=5, alpha=0.7).fit(bs)
    users = [*tifu.users_[:25], "nobody"]
    sparse_rows = tifu.predictions_for(np.arange(len(tifu.users_))).toarray()
    monkeypatch.setattr(neighbour_blend, "NUMBA_MIN_CELLS", 0)  # the kernel even for this small block
    compiled = tifu.score_next_basket(users)
    assert np.array_equal(tifu.dense_predictions(np.arange(len(tifu.users_))), sparse_rows)
    monkeypatch.setattr(neighbour_blend, "numba_available", lambda: False)
    assert np.array_equal(compiled, tifu.score_next_basket(users))
    assert np.array_equal(tifu.dense_predictions(np.arange(len(tifu.users_))), sparse_rows)
    assert tifu.dense_predictions(np.zeros(0, dtype=np.int64)).shape == (0, bs.n_items)
