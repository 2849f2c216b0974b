"""One-item rules as ranker features: the measures are the textbook ones, the best rule is the most
confident one from the user's items, and a ranker that reads them saves and reloads like any other."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.recsys.explanations import ranked_user_scores
from assoc_pipeline.core.recsys.models.checkpoint_files import load_model, save_model
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.pair_rules import PairRules
from assoc_pipeline.core.recsys.ranking_features import ALL_FEATURE_GROUPS, FEATURES, RULE_FEATURE_GROUPS
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline_tests.models.test_completion_head import discontinued_baskets

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def matrix(baskets: list[list[int]], n_items: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(len(baskets)), [len(b) for b in baskets])
    cols = np.concatenate([np.asarray(b, dtype=np.int64) for b in baskets])
    return sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(baskets), n_items))


def test_measures_of_a_hand_made_log() -> None:
    # 10 baskets; item 0 in 5, item 1 in 4, item 2 in 2, item 3 in 1 (below the support of 2 baskets)
    x = matrix([[0, 1], [0, 1], [0, 1], [0, 2], [0], [1], [2, 3], [4], [4], [4]], 5)
    rules = PairRules.of(x, min_support=0.2)
    assert rules.items.tolist() == [0, 1, 2, 4]  # 3 is in one basket only
    i = {item: k for k, item in enumerate(rules.items.tolist())}
    # 0 -> 1: 3 of 0's 5 baskets hold 1; lift = 0.6 / P(1) = 0.6 / 0.4; support 3 / 10
    assert rules.confidence[i[0], i[1]] == pytest.approx(0.6)
    assert rules.lift[i[0], i[1]] == pytest.approx(1.5)
    assert rules.support[i[0], i[1]] == pytest.approx(0.3)
    assert rules.confidence[i[1], i[0]] == pytest.approx(0.75)
    # {0, 2} is in one basket: below the support; no rule into an item from itself
    assert rules.confidence[i[0], i[2]] == 0 and rules.confidence[i[2], i[0]] == 0
    assert np.all(np.diag(rules.confidence) == 0)


def test_the_best_rule_is_the_most_confident_from_the_users_items() -> None:
    x = matrix([[0, 1], [0, 1], [0, 1], [0, 2], [0], [1], [2, 3], [4], [4], [4]], 5)
    rules = PairRules.of(x, min_support=0.2)
    # user 0 holds {0, 1}; user 1 holds {1}; user 2 holds {4}; user 3 holds nothing
    held = matrix([[0, 1], [1], [4], []], 5)
    list_of_row = np.array([0, 0, 1, 1, 2, 3, 0])
    candidates = np.array([1, 0, 0, 2, 0, 1, 3])
    best = rules.best_into(held, list_of_row, candidates)
    # into 1 from {0, 1}: only 0 -> 1 (0.6); into 0 from {0, 1}: 1 -> 0 (0.75); into 0 from {1}: 0.75;
    # into 2 from {1}: none; into 0 from {4}: none; user 3: none; item 3 is not frequent: none
    np.testing.assert_allclose(best["confidence"], [0.6, 0.75, 0.75, 0, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(best["lift"], [1.5, 1.5, 1.5, 0, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(best["support"], [0.3, 0.3, 0.3, 0, 0, 0, 0], rtol=1e-6)
    # a stored zero holds nothing: user 3 (the last row) gets explicit zeros at items 0 and 1
    stored = sp.csr_matrix(
        (np.r_[held.data, 0.0, 0.0], np.r_[held.indices, 0, 1], np.r_[held.indptr[:-1], held.nnz + 2]),
        shape=held.shape,
    )
    assert stored[3].nnz == 2
    again = rules.best_into(stored, list_of_row, candidates)
    np.testing.assert_array_equal(again["confidence"], best["confidence"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_best_rule_matches_brute_force_in_every_chunking(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    n_items = 12
    x = matrix([rng.choice(n_items, int(rng.integers(1, 5)), replace=False) for _ in range(200)], n_items)
    held = matrix([rng.choice(n_items, int(rng.integers(0, 6)), replace=False) for _ in range(30)], n_items)
    list_of_row = np.repeat(np.arange(30), 8)
    candidates = rng.integers(0, n_items, len(list_of_row))
    rules = PairRules.of(x, min_support=0.02)
    pos = {item: k for k, item in enumerate(rules.items.tolist())}
    expected = np.zeros(len(candidates))
    for r, (q, c) in enumerate(zip(list_of_row, candidates, strict=True)):
        for a in held.indices[held.indptr[q] : held.indptr[q + 1]]:
            if a in pos and c in pos:
                expected[r] = max(expected[r], rules.confidence[pos[a], pos[c]])
    for chunk in (1, 7, 1 << 22):
        monkeypatch.setattr("assoc_pipeline.core.recsys.pair_rules.RULE_PAIRS", chunk)
        got = rules.best_into(held, list_of_row, candidates)
        np.testing.assert_allclose(got["confidence"], expected, rtol=1e-6)


def test_a_ranker_reading_rules_lists_them_last_and_reloads_with_identical_scores(tmp_path) -> None:
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    params = RankerParams(
        epochs=2, hidden=16, item_dim=0, device="cpu", threads=1, rule_features=True, completion_head=False
    )
    ranker = RankerRecommender(params).fit(split.train, split.validation)
    users = ["u0", "u5", "u39", "nobody"]
    lists = ranker.ranking_lists(users)
    assert lists.features.shape[1] == len(FEATURES) + len(RULE_FEATURE_GROUPS)
    confidence = lists.features[:, len(FEATURES)]
    assert confidence.max() > 0 and confidence.min() >= 0  # some rule fires; none is negative
    # explained over its own features: the rules group is one of the groups a row can name
    scores, explain = ranked_user_scores(ranker, users[:3], top=len(set(ALL_FEATURE_GROUPS.values())))
    best = np.argsort(-scores, axis=1)[:, :3]
    cells = [json.loads(c) for c in explain(np.repeat(np.arange(3), 3), best.ravel())]
    named = {c["group"] for cell in cells for c in cell}
    assert "rules" in named and named <= set(ALL_FEATURE_GROUPS.values())
    save_model(ranker, tmp_path / "ranker.pt")
    loaded = load_model(tmp_path / "ranker.pt")
    assert loaded.params.rule_features
    np.testing.assert_array_equal(loaded.score_next_basket(users), ranker.score_next_basket(users))
