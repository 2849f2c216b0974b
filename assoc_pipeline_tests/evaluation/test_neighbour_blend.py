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


@pytest.mark.parametrize("k", [1, 3, 10])
def test_tifu_neighbours_are_the_set_argpartition_picks_even_among_tied_users(k: int) -> None:
    """torch.topk picks the neighbours; rows whose k-th distance is tied with the next one go
    through argpartition, so every user keeps exactly the neighbours it had (the scores too)."""
    bs = planted_baskets(n_users=60, n_baskets=3, seed=k)
    tifu = TIFUKNNRecommender(n_neighbors=k, alpha=0.5).fit(bs)
    u = tifu.vectors_.toarray().astype(np.float64)
    u[1::4] = u[0]  # a quarter of the users identical to user 0: tied distances everywhere
    tifu.vectors_ = sp.csr_matrix(u.astype(np.float32))
    tifu._search = None
    sq = tifu._neighbour_search()[0]  # the squared norms the search uses
    for rows, nearest in tifu._neighbour_blocks(np.arange(len(u)), block=16):
        uu = tifu.vectors_
        d = sq[rows, None] + sq[None, :] - 2.0 * (uu[rows] @ uu.T).toarray().astype(np.float64)
        expected = np.argpartition(d, k - 1, axis=1)[:, :k]
        assert [set(r) for r in nearest.tolist()] == [set(r) for r in expected.tolist()]
