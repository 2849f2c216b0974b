"""The basket GAN reproduces planted item frequencies; fidelity and privacy figures compute."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import basket_set_from_lists
from assoc_pipeline.core.privacy import synthetic_quality as sq
from assoc_pipeline.core.recsys.models.gan import BasketGANModel, GANParams

GAN = dict(
    epochs=10,
    pretrain_epochs=5,
    noise_dim=16,
    hidden=64,
    disc_hidden=32,
    batch_size=32,
    eval_samples=300,
    n_modelled_items=30,  # of the planted 40: the other 10 come from the independent tail
    device="cpu",
    threads=1,
)


@pytest.fixture(scope="module")
def gan(planted_split) -> BasketGANModel:
    return BasketGANModel(GANParams(**GAN)).fit(planted_split.train)


def test_gan_samples_realistic_baskets(gan, planted_split, tmp_path) -> None:
    train = planted_split.train
    syn = gan.sample_basket_set(600, seed=1)
    assert syn.n_items == train.n_items and syn.n_baskets == 600
    fid = sq.fidelity_report(train, syn, top_pairs=50, min_support=0.05, min_confidence=0.3)
    assert fid["item_freq_pearson"] > 0.6, fid
    assert 0.0 <= fid["rules_jaccard"] <= 1.0 and np.isfinite(fid["pair_corr"])
    assert 0.0 <= fid["two_sample_auc"] <= 1.0
    # the tail items (outside the modelled 30) appear too, at roughly their real rate
    tail = np.setdiff1d(np.arange(train.n_items), gan.modelled_items)
    real_tail = train.matrix[:, tail].sum() / train.matrix.sum()
    syn_tail = syn.matrix[:, tail].sum() / syn.matrix.sum()
    assert len(tail) == train.n_items - 30 and abs(syn_tail - real_tail) < 0.1
    # same seed, same baskets; save/load reproduces them
    first = gan.sample(50, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(first, gan.sample(50, seed=7), strict=True))
    gan.save(tmp_path / "gan.pt")
    again = BasketGANModel.load(tmp_path / "gan.pt").sample(50, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    z, size, seed = gan.input_example()
    assert gan.module.generator(z, size, seed).shape == (2, 30)


def test_privacy_metrics(gan, planted_split) -> None:
    train = planted_split.train
    syn = gan.sample_basket_set(300, seed=2)
    priv = sq.privacy_report(syn, train, planted_split.validation)
    assert 0.0 <= priv["exact_match_share"] <= 1.0
    assert 0.0 <= priv["dcr_synthetic_median"] <= 1.0 and priv["dcr_holdout_median"] >= 0.0
    # a copy of the training data is caught: every basket an exact match, distance 0
    copy = train.subset(np.arange(min(50, train.n_baskets)))
    assert sq.exact_match_share(copy, train) == 1.0
    assert float(sq.distance_to_closest_record(copy, train).max()) == 0.0


def test_fidelity_on_hand_made_baskets() -> None:
    real = basket_set_from_lists([[0, 1], [0, 1, 2], [2, 3], [0, 1]], ["a", "b", "c", "d"])
    same = basket_set_from_lists([[0, 1], [0, 1, 2], [2, 3], [0, 1]], ["a", "b", "c", "d"])
    f = sq.fidelity_report(real, same, top_pairs=5, min_support=0.25, min_confidence=0.5, probe=False)
    assert (
        f["item_freq_pearson"] == pytest.approx(1.0)
        and sq.basket_size_distance(real, same)["basket_size_wasserstein"] == 0.0
    )
    assert f["pair_corr"] == pytest.approx(1.0) and f["rules_jaccard"] == 1.0
    assert f["rules_real_found"] == 1.0 and f["rules_synthetic_real"] == 1.0
    d = sq.distance_to_closest_record(basket_set_from_lists([[0, 3]], list("abcd")), real)
    assert d[0] == pytest.approx(1 - 1 / 3)  # {a,d} vs {c,d} or {a,b}: jaccard 1/3


def _dense_dcr(q: sp.csr_matrix, r: sp.csr_matrix) -> np.ndarray:
    """The definition: Jaccard distance to every reference basket, the smallest."""
    a, b = q.toarray() > 0, r.toarray() > 0
    inter = (a[:, None, :] & b[None, :, :]).sum(-1)
    union = (a[:, None, :] | b[None, :, :]).sum(-1)
    return 1.0 - np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0).max(axis=1)


@pytest.mark.parametrize("max_pairs", [1, 37, 1 << 24])
def test_dcr_scores_only_overlapping_pairs_and_equals_the_definition(max_pairs) -> None:
    """Chunked by candidate pairs (one query a chunk, a few, all at once): the same distances as
    every pair scored densely, 1.0 for a query sharing no item and for an empty one."""
    rng = np.random.default_rng(4)
    dense_q = (rng.random((60, 40)) < 0.08).astype(np.float32)
    dense_r = (rng.random((90, 40)) < 0.06).astype(np.float32)
    dense_r[:, 35:] = 0  # the last 5 items: never in the reference
    dense_q[0] = 0  # an empty query basket
    dense_q[1] = 0
    dense_q[1, 37] = 1  # a query of a reference-free item only
    q, r = sp.csr_matrix(dense_q), sp.csr_matrix(dense_r)
    got = sq.distance_to_closest_record(q, r, max_pairs=max_pairs)
    assert got.dtype == np.float32 and got[0] == 1.0 and got[1] == 1.0
    np.testing.assert_allclose(got, _dense_dcr(q, r), rtol=0, atol=1e-6)


def test_utility_comparison_runs(planted_split, gan) -> None:
    from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender

    syn = gan.sample_basket_set(200, seed=3)
    params = DNNParams(epochs=2, patience=0, dim=16, hidden=32, batch_size=64, device="cpu", threads=1)
    out = sq.utility_comparison(
        planted_split.train, planted_split.validation, syn, lambda: DNNRecommender(params)
    )
    assert {"real_ndcg@10", "augmented_ndcg@10", "delta_completion_hit@10"} <= set(out)
