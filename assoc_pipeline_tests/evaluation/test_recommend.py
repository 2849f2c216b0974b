from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.recsys.baselines.rules import RuleIndex, RulesRecommender, recommend_from_rules

from .helpers import make_baskets

RULES = pd.DataFrame(
    {
        "antecedent": [(0,), (1,), (0, 1), (4,), (0,)],
        "consequent": [(2,), (2,), (3,), (3,), (1, 5)],
        "support": [0.1, 0.1, 0.2, 0.3, 0.05],
        "confidence": [0.5, 0.5, 0.8, 0.9, 0.4],
        "lift": [2.0, 3.0, 1.5, 5.0, 1.2],
    }
)


def test_recommend_from_rules_ranks_by_confidence_then_lift_with_explanations():
    # basket {0, 1} fires rules 0, 1, 2, 4 (rule 3 needs item 4)
    # item 3: 0.8 (rule 2); item 2: 0.5 twice, lift 3 beats 2 (rule 1); item 5: 0.4; item 1 is in the basket
    out = recommend_from_rules(RULES, [0, 1], k=10, n_items=6)
    assert out["item_idx"].tolist() == [3, 2, 5]
    assert out["confidence"].tolist() == [0.8, 0.5, 0.4]
    assert out["lift"].tolist() == [1.5, 3.0, 1.2]
    assert out["n_rules"].tolist() == [1, 2, 1]
    assert [b["antecedent"] for b in out.loc[1, "because"]] == [(1,), (0,)]
    assert "80% of baskets with item 0, item 1 also hold item 3" in out.loc[0, "explanation"]
    assert recommend_from_rules(RULES, [0, 1], k=1, n_items=6)["item_idx"].tolist() == [3]
    assert recommend_from_rules(RULES, [5], n_items=6).empty


def test_rule_index_scores_max_strength():
    idx = RuleIndex.from_rules(RULES, 6)
    # expanded: 6 rules (the 2-item consequent is split)
    assert len(idx.rules) == 6
    s = idx.score(sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0]], dtype=np.float32)))
    assert s[0, 3] > s[0, 2] > s[0, 5] > 0 and s[0, 0] == 0 and s[0, 4] == 0


def test_rules_table_is_validated():
    with pytest.raises(ValueError, match="lacks"):
        RuleIndex.from_rules(RULES.drop(columns=["lift"]), 6)
    with pytest.raises(ValueError, match="beyond"):
        RuleIndex.from_rules(RULES, 4)


def test_rules_recommender_with_given_rules():
    train = make_baskets(
        [("u1", "2011-01-01", [0, 1]), ("u2", "2011-01-02", [4]), (None, "2011-01-03", [2, 2])], n_items=6
    )
    rec = RulesRecommender(RULES).fit(train)
    s = rec.score_completion([np.array([0, 1])])[0]
    s[[0, 1]] = -np.inf  # evaluation masks the basket's own items
    assert np.argsort(-s)[:3].tolist() == [3, 2, 5]
    nb = rec.score_next_basket(["u1", "u2", "nobody"])
    assert nb[0].argmax() == 3  # u1's history {0, 1} fires the 0.8 rule
    assert nb[1].argmax() == 3  # u2's history {4} fires 4 => 3
    assert nb[2].max() < 1  # no history: popularity back-off only
    assert rec.recommend([0, 1], 2)["item_name"].tolist() == ["item 3", "item 2"]


def test_rules_recommender_mines_pair_rules_itself():
    train = make_baskets(
        [(f"u{i}", f"2011-01-{i + 1:02d}", [0, 1] if i % 2 else [0, 2]) for i in range(10)], n_items=3
    )
    rec = RulesRecommender(min_support=2, min_confidence=0.1).fit(train)
    pairs = {
        (a, c) for a, c in zip(rec.index_.rules["antecedent"], rec.index_.rules["consequent"], strict=True)
    }
    assert ((1,), (0,)) in pairs and ((0,), (1,)) in pairs
    # basket {1}: 1 => 0 has confidence 1.0, so item 0 comes first
    assert rec.score_completion([np.array([1])])[0].argmax() == 0
