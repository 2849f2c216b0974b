"""Rules, measures, redundancy, filtering and labels on hand-checked examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.mining import (
    MEASURES,
    RANGES,
    derive_rules,
    filter_rules,
    is_redundant,
    label_rules,
    min_count_for,
    mine_itemsets,
    prune_redundant,
)

from .helpers import matrix_of

# 8 baskets; a=0 b=1 c=2 d=3
LISTS = [[0, 1, 2], [0, 1], [0, 2], [0, 1, 2], [1, 2], [1], [2, 3], [0, 1, 2, 3]]
X = matrix_of(LISTS, 4)


def test_min_count_for_reads_the_decimal() -> None:
    assert min_count_for(0.001, 9835) == 10
    assert min_count_for(441 / 88162, 88162) == 441
    assert min_count_for(0.3, 10) == 3
    assert min_count_for(7, 10) == 7
    assert min_count_for(1.0, 10) == 10
    assert min_count_for(1e-9, 10) == 1


def test_measures_hand_computed() -> None:
    rules = derive_rules(mine_itemsets(X, 1), 0.0)
    r = rules[(rules["antecedent"] == (0,)) & (rules["consequent"] == (1,))].iloc[0]
    # n=8, n(a)=5, n(b)=6, n(ab)=4
    s_ab, s_a, s_b, conf = 4 / 8, 5 / 8, 6 / 8, 4 / 5
    assert r["count"] == 4 and r["antecedent_count"] == 5 and r["consequent_count"] == 6
    assert r["support"] == pytest.approx(s_ab)
    assert r["confidence"] == pytest.approx(conf)
    assert r["lift"] == pytest.approx(conf / s_b)
    assert r["leverage"] == pytest.approx(s_ab - s_a * s_b)
    assert r["conviction"] == pytest.approx((1 - s_b) / (1 - conf))
    assert r["zhangs_metric"] == pytest.approx((s_ab - s_a * s_b) / max(s_ab * (1 - s_a), s_a * (s_b - s_ab)))
    assert r["jaccard"] == pytest.approx(4 / (5 + 6 - 4))
    assert r["kulczynski"] == pytest.approx((4 / 5 + 4 / 6) / 2)
    assert r["certainty"] == pytest.approx((conf - s_b) / (1 - s_b))
    assert r["antecedent_support"] == pytest.approx(s_a) and r["consequent_support"] == pytest.approx(s_b)
    # a rule with confidence 1 has infinite conviction; one below the consequent's support negative certainty
    d_c = rules[(rules["antecedent"] == (3,)) & (rules["consequent"] == (2,))].iloc[0]
    assert d_c["confidence"] == 1.0 and np.isinf(d_c["conviction"])
    c_d = rules[(rules["antecedent"] == (2,)) & (rules["consequent"] == (3,))].iloc[0]
    assert c_d["certainty"] == pytest.approx((2 / 6 - 2 / 8) / (1 - 2 / 8))


def test_measures_in_their_ranges() -> None:
    rng = np.random.default_rng(3)
    lists = [list(rng.choice(12, size=rng.integers(1, 6), replace=False)) for _ in range(300)]
    rules = derive_rules(mine_itemsets(matrix_of(lists, 12), 3), 0.0, max_consequent_len=None)
    assert len(rules) > 100
    assert list(rules.columns[:3]) == ["antecedent", "consequent", "count"]
    for name in MEASURES:
        lo, hi = RANGES[name]
        v = rules[name].to_numpy()
        assert not np.isnan(v).any(), name
        assert ((v >= lo - 1e-12) & (v <= hi + 1e-12)).all(), name
    assert (rules["antecedent"].map(len) > 0).all() and (rules["consequent"].map(len) > 0).all()
    assert not rules.duplicated(["antecedent", "consequent"]).any()
    assert all(not set(a) & set(c) for a, c in zip(rules.antecedent, rules.consequent, strict=True))


def test_confidence_threshold_is_inclusive_and_exact() -> None:
    # 10 baskets with x, 8 of them with y: confidence exactly 0.8
    lists = [[0, 1]] * 8 + [[0]] * 2
    fi = mine_itemsets(matrix_of(lists, 2), 1)
    assert len(derive_rules(fi, 0.8)[lambda d: d.antecedent == (0,)]) == 1
    assert len(derive_rules(fi, 0.8000001)[lambda d: d.antecedent == (0,)]) == 0
    lists = [[0, 1]] * 7 + [[0]] * 3  # 0.7 = 7/10, where 0.7 * 10 != 7 in floats
    assert len(derive_rules(mine_itemsets(matrix_of(lists, 2), 1), 0.7)[lambda d: d.antecedent == (0,)]) == 1


def test_rules_need_all_itemsets() -> None:
    with pytest.raises(ValueError, match="all frequent itemsets"):
        derive_rules(mine_itemsets(X, 1, target="closed"), 0.5)
    with pytest.raises(ValueError, match="min_confidence"):
        derive_rules(mine_itemsets(X, 1), 1.5)


def _rule(a: tuple, c: tuple, n_ac: int, n_a: int) -> dict:
    return {
        "antecedent": a,
        "consequent": c,
        "count": n_ac,
        "antecedent_count": n_a,
        "confidence": n_ac / n_a,
    }


def test_redundancy_hand_made() -> None:
    rules = pd.DataFrame(
        [
            _rule((0,), (9,), 8, 10),  # 0.8  general
            _rule((0, 1), (9,), 4, 5),  # 0.8  equal to {0}=>9: redundant
            _rule((0, 3), (9,), 9, 10),  # 0.9  better than {0}=>9: kept
            _rule((0, 3, 4), (9,), 17, 20),  # 0.85 < {0,3}=>9 (0.9): redundant
            _rule((1, 2), (9,), 6, 10),  # 0.6  no general rule for 9 among {1},{2}: kept
            _rule((1,), (8,), 5, 10),  # 0.5  general
            _rule((1, 4), (8,), 6, 10),  # 0.6  better: kept
            _rule((1, 4, 5), (8,), 11, 20),  # 0.55 < 0.6 ({1,4}) though > 0.5 ({1}): redundant
            _rule((0, 1), (7,), 7, 10),  # 0.7  different consequent, no general rule: kept
        ]
    )
    assert is_redundant(rules).tolist() == [False, True, False, True, False, False, False, True, False]
    pruned = prune_redundant(rules)
    assert len(pruned) == 6 and pruned.index.tolist() == list(range(6))
    # without count columns it falls back to the float confidences, same answer here
    assert is_redundant(rules.drop(columns=["count", "antecedent_count"]).assign(count=0)).tolist() == [
        False, True, False, True, False, False, False, True, False,
    ]  # fmt: skip


def test_filter_and_label() -> None:
    rules = derive_rules(mine_itemsets(X, 2), 0.5)
    strong = filter_rules(rules, lift=1.0, max_support=0.5)
    assert len(strong) and (strong["lift"] >= 1.0).all() and (strong["support"] <= 0.5).all()
    assert filter_rules(rules, min_confidence=0.0).equals(rules)
    about_d = filter_rules(rules, items=[3])
    assert len(about_d) and all(
        3 in a + c for a, c in zip(about_d.antecedent, about_d.consequent, strict=True)
    )
    rhs_d = filter_rules(rules, items=[3], side="rhs")
    assert all(c == (3,) for c in rhs_d.consequent)
    lhs_d = filter_rules(rules, items=[3], side="antecedent")
    assert all(3 in a for a in lhs_d.antecedent)
    with pytest.raises(ValueError, match="no measure column"):
        filter_rules(rules, banana=1)
    labelled = label_rules(rules, ["apple", "bread", "cheese", "dates"])
    row = labelled[(labelled.antecedent == (3,)) & (labelled.consequent == (2,))].iloc[0]
    assert row["rule"] == "{dates} => {cheese}" and row["antecedent_names"] == ("dates",)
    assert label_rules(rules, {0: "apple"})["rule"].str.contains("apple").any()
