"""Baselines on tiny data, checked against hand arithmetic or an independent formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.recsys.baselines import (
    EASERecommender,
    ItemKNNRecommender,
    PersonalTopFrequencyRecommender,
    PopularityRecommender,
    TIFUKNNRecommender,
)

from .helpers import make_baskets


@pytest.fixture
def train():
    # u1: {0,1} then {0,2}; u2: {1,2}; an anonymous {0,1}; item 3 never sold
    return make_baskets(
        [
            ("u1", "2011-01-01", [0, 1]),
            ("u1", "2011-01-02", [0, 2]),
            ("u2", "2011-01-03", [1, 2]),
            (None, "2011-01-04", [0, 1]),
        ],
        n_items=4,
    )


def test_popularity(train):
    rec = PopularityRecommender().fit(train)
    # baskets per item: 0 -> 3, 1 -> 3, 2 -> 2, 3 -> 0
    assert rec.score_next_basket(["u1", "nobody"]).tolist() == [[3, 3, 2, 0]] * 2
    assert rec.score_completion([np.array([0])]).shape == (1, 4)


def test_personal_top_frequency(train):
    rec = PersonalTopFrequencyRecommender().fit(train)
    s = rec.score_next_basket(["u1", "nobody"])
    # u1 counts [2, 1, 1, 0] + popularity / (max + 1) = [3/4, 3/4, 2/4, 0]
    assert s[0] == pytest.approx([2.75, 1.75, 1.5, 0.0])
    # unknown user: popularity back-off only
    assert s[1] == pytest.approx([0.75, 0.75, 0.5, 0.0])
    assert not rec.supports_completion


def test_item_knn_cosine(train):
    rec = ItemKNNRecommender(self_weight=4.0).fit(train)
    # co-occurrence: (0,1) = 2, (0,2) = 1, (1,2) = 1; norms sqrt(3), sqrt(3), sqrt(2)
    c01, c02, c12 = 2 / 3, 1 / math.sqrt(6), 1 / math.sqrt(6)
    assert rec.similarity_[0, 1] == pytest.approx(c01) and rec.similarity_[0, 2] == pytest.approx(c02)
    assert rec.similarity_[1, 2] == pytest.approx(c12) and rec.similarity_[0, 0] == 0.0
    s = rec.score_completion([np.array([0])])[0]
    assert s[:3] == pytest.approx([0.0, c01, c02], abs=1e-3)
    # u1 history counts h = [2, 1, 1, 0]; h @ S + 4 h
    nb = rec.score_next_basket(["u1"])[0]
    expected = [c01 + c02 + 8, 2 * c01 + c12 + 4, 2 * c02 + c12 + 4, 0.0]
    assert nb == pytest.approx(expected, abs=1e-3)


def test_item_knn_neighbours_are_pruned(train):
    rec = ItemKNNRecommender(n_neighbors=1).fit(train)
    assert ((rec.similarity_ > 0).sum(axis=1) <= 1).all()
    assert rec.similarity_[0, 1] == pytest.approx(2 / 3)  # item 0's single best neighbour


def test_ease_matches_per_column_ridge(train):
    lam = 1.0
    rec = EASERecommender(l2=lam).fit(train)
    assert rec.weights_.items is None  # 4 items: the whole matrix, as before any cap
    w = rec.weights_.dense()
    x = train.matrix.toarray().astype(float)
    # EASE column j = ridge regression of x_j on the other items (Steck 2019, eq. 1 with B_jj = 0)
    for j in range(3):
        others = [i for i in range(4) if i != j]
        xo = x[:, others]
        b = np.linalg.solve(xo.T @ xo + lam * np.eye(3), xo.T @ x[:, j])
        assert w[others, j] == pytest.approx(b, abs=1e-5)
        assert w[j, j] == 0.0
    s = rec.score_completion([np.array([0, 1])])[0]
    assert s == pytest.approx(w[0] + w[1], abs=1e-4)
    # next-basket: binary history of u1 = {0, 1, 2}
    assert rec.score_next_basket(["u1"])[0] == pytest.approx(w[:3].sum(axis=0), abs=1e-4)
    with pytest.raises(ValueError, match="positive"):
        EASERecommender(l2=0)


def test_ease_restricted_to_bought_items_equals_the_full_inverse():
    """Items never bought are left out of the inverse; B must equal the full closed form."""
    import scipy.sparse as sp

    from assoc_pipeline.core.recsys.baselines.ease import ease_weights

    rng = np.random.default_rng(3)
    dense = (rng.random((60, 9)) < 0.3).astype(np.float32)
    dense[:, [2, 7]] = 0.0  # two items nobody bought
    lam = 2.0
    p = np.linalg.inv(dense.T @ dense + lam * np.eye(9))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    b = ease_weights(sp.csr_matrix(dense), lam)
    assert b.shape == (9, 9) and b.dtype == np.float32
    assert b == pytest.approx(expected, abs=1e-5)
    assert not b[[2, 7]].any() and not b[:, [2, 7]].any()
    again = ease_weights(sp.csr_matrix(dense), lam)  # from the cache, still read-only
    assert np.array_equal(again, b) and not again.flags.writeable


def test_spd_inverse_is_symmetric_across_row_bands():
    """The inverse's upper triangle is mirrored band by band: sizes that leave a short last band."""
    from assoc_pipeline.core.recsys.baselines.ease import _spd_inverse

    rng = np.random.default_rng(5)
    for n in (1, 511, 1100):
        x = rng.standard_normal((n + 7, n))
        g = x.T @ x + n * np.eye(n)
        got = _spd_inverse(g)
        assert got.dtype == np.float32 and np.array_equal(got, got.T)
        np.testing.assert_allclose(got, np.linalg.inv(g), rtol=1e-3, atol=1e-6)


def test_gram_summed_over_basket_chunks_is_the_dense_product(monkeypatch):
    """X'X + lambda I built chunk by chunk straight into a Fortran array equals the dense product,
    and the inverse factorised in place equals the one made from a copy."""
    from assoc_pipeline.core.recsys.baselines import ease

    rng = np.random.default_rng(11)
    x = sp.csr_matrix((rng.random((203, 37)) < 0.15).astype(np.float32))
    dense = x.toarray().astype(np.float64)
    expected = dense.T @ dense + 4.0 * np.eye(37)
    for rows in (1, 50, 1 << 16):
        monkeypatch.setattr(ease, "GRAM_ROWS", rows)
        g = ease._gram(x, 4.0)
        assert g.dtype == np.float32 and g.flags.f_contiguous
        assert np.array_equal(g, expected.astype(np.float32))
    in_place = ease._spd_inverse(ease._gram(x, 4.0), again=lambda: ease._gram(x, 4.0))
    assert np.array_equal(in_place, ease._spd_inverse(expected))


def test_spd_inverse_in_place_retries_in_float64_from_a_new_matrix():
    """A Gram matrix that is singular in float32 (ones + 1e-9 I) is rebuilt by ``again`` for the
    float64 retry, since the float32 attempt destroyed it."""
    from assoc_pipeline.core.recsys.baselines.ease import _spd_inverse

    exact = np.ones((6, 6)) + 1e-9 * np.eye(6)
    built = []

    def again() -> np.ndarray:
        built.append(1)
        return exact

    got = _spd_inverse(np.asfortranarray(exact, dtype=np.float32), again=again)
    assert built == [1]
    np.testing.assert_allclose(got, np.linalg.inv(exact), rtol=1e-3)


def test_ease_cache_under_threads_gives_each_matrix_its_own_inverse(monkeypatch):
    """The evaluation report scores methods on threads: concurrent fits and evictions must neither
    fail nor hand one matrix another's weights."""
    from concurrent.futures import ThreadPoolExecutor

    import scipy.sparse as sp

    from assoc_pipeline.core.recsys.baselines import ease

    rng = np.random.default_rng(5)
    matrices = [sp.csr_matrix((rng.random((80, 30)) < 0.2).astype(np.float32)) for _ in range(8)]
    expected = [ease._ease_block(m, 3.0) for m in matrices]
    monkeypatch.setattr(ease, "_CACHE_BYTES", 3 * expected[0].nbytes)  # evictions all the time
    monkeypatch.setattr(ease, "_RECENT", {})
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: ease.ease_weights(matrices[i % 8], 3.0), range(64)))
    for i, b in enumerate(got):
        assert np.array_equal(b, expected[i % 8])


def test_tifu_knn_user_vector_by_hand():
    bs = make_baskets(
        [
            ("u1", "2011-01-01", [0]),
            ("u1", "2011-01-02", [1]),
            ("u1", "2011-01-03", [2]),
            ("u2", "2011-01-01", [3]),
        ],
        n_items=4,
    )
    # u1 groups (size 2, from the recent end): A = {b2, b3}, B = {b1}
    # v_B = b1 = [1,0,0,0]; v_A = (0.5 * b2 + 1 * b3) / 2 = [0, .25, .5, 0]
    # u1 = (0.5 * v_B + 1 * v_A) / 2 = [.25, .125, .25, 0]; u2 = [0, 0, 0, 1]
    own = TIFUKNNRecommender(n_neighbors=1, within_decay=0.5, group_decay=0.5, alpha=1.0, group_size=2)
    s = own.fit(bs).score_next_basket(["u1", "u2"])
    assert s[0] == pytest.approx([0.25, 0.125, 0.25, 0.0], abs=1e-5)
    assert s[1] == pytest.approx([0, 0, 0, 1.0], abs=1e-5)
    # alpha 0.5, both users as neighbours: 0.5 * u1 + 0.5 * (u1 + u2) / 2
    mix = TIFUKNNRecommender(n_neighbors=2, within_decay=0.5, group_decay=0.5, alpha=0.5, group_size=2)
    s = mix.fit(bs).score_next_basket(["u1"])[0]
    u1, u2 = np.array([0.25, 0.125, 0.25, 0]), np.array([0, 0, 0, 1.0])
    assert s == pytest.approx(0.5 * u1 + 0.25 * (u1 + u2), abs=1e-5)


def test_scoring_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="fit"):
        EASERecommender().score_completion([np.array([0])])
