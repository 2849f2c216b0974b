"""Published / reproduced arules figures (REFERENCE_FIGURES.md) on the shared datasets."""

from __future__ import annotations

from functools import cache

import pytest

from assoc_pipeline.core.data.basket_line_files import read_baskets
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.mining import (
    FrequentItemsets,
    derive_rules,
    label_rules,
    mine_itemsets,
    prune_redundant,
)

from .conftest import dataset


@cache
def _load(relative: str) -> BasketSet:
    return read_baskets(dataset(relative))


@cache
def _mined(relative: str, support: float, backend: str, max_len: int | None = 10) -> FrequentItemsets:
    return mine_itemsets(_load(relative).matrix, support, max_len=max_len, backend=backend)


GROCERIES = "groceries/groceries.csv"
RETAIL = "fimi/retail.dat.gz"


def _sizes(rules) -> dict[int, int]:
    return (rules["antecedent"].map(len) + rules["consequent"].map(len)).value_counts().sort_index().to_dict()


def test_groceries_summary() -> None:
    bs = _load(GROCERIES)
    assert bs.matrix.shape == (9835, 169)
    counts = dict(zip(bs.vocabulary["item_name"], bs.vocabulary["n_baskets"], strict=True))
    assert counts["whole milk"] == 2513 and counts["other vegetables"] == 1903 and counts["soda"] == 1715


@pytest.mark.parametrize("backend", ["native", "mlxtend"])
def test_groceries_itemsets(backend: str) -> None:
    fi = _mined(GROCERIES, 0.001, backend)
    assert fi.min_count == 10
    assert len(fi) == 13492
    assert fi.counts_by_length() == {1: 157, 2: 2981, 3: 6831, 4: 3137, 5: 376, 6: 10}


@pytest.mark.parametrize("backend", ["native", "mlxtend"])
def test_groceries_410_rules(backend: str) -> None:
    bs = _load(GROCERIES)
    rules = derive_rules(_mined(GROCERIES, 0.001, backend), 0.8)
    assert len(rules) == 410
    assert _sizes(rules) == {3: 29, 4: 229, 5: 140, 6: 12}
    assert (rules["confidence"] == 0.8).sum() == 39  # 8/10, 12/15, ... kept by the inclusive threshold
    assert rules["count"].min() == 10 and rules["count"].max() == 31
    top = label_rules(rules.sort_values("lift", ascending=False).head(1), bs.item_names()).iloc[0]
    assert top["rule"] == "{liquor, red/blush wine} => {bottled beer}"
    assert top["count"] == 19
    assert top["lift"] == pytest.approx(11.23527, abs=5e-6)
    assert top["support"] == pytest.approx(0.001931876, abs=1e-9)
    assert top["confidence"] == pytest.approx(0.9047619, abs=1e-7)


def test_groceries_5668_rules_and_maxlen() -> None:
    rules = derive_rules(_mined(GROCERIES, 0.001, "native"), 0.5)
    assert len(rules) == 5668
    assert _sizes(rules) == {2: 11, 3: 1461, 4: 3211, 5: 939, 6: 46}
    assert len(derive_rules(_mined(GROCERIES, 0.001, "native", max_len=3), 0.8)) == 29
    assert len(derive_rules(_mined(GROCERIES, 0.005, "native"), 0.5)) == 120
    assert len(derive_rules(_mined(GROCERIES, 0.1, "native"), 0.8)) == 0
    # mlxtend's association_rules also emits multi-item consequents: 413 / 5829
    fi = _mined(GROCERIES, 0.001, "native")
    assert len(derive_rules(fi, 0.8, max_consequent_len=None)) == 413
    assert len(derive_rules(fi, 0.5, max_consequent_len=None)) == 5829


def test_groceries_closed_maximal_and_other_supports() -> None:
    m = _load(GROCERIES).matrix
    assert len(mine_itemsets(m, 0.001, target="closed")) == 13464
    assert len(mine_itemsets(m, 0.001, target="maximal")) == 7794
    assert [len(mine_itemsets(m, s)) for s in (0.01, 0.005, 0.002)] == [333, 1001, 4223]


def test_groceries_redundancy_pruning_keeps_general_rules() -> None:
    rules = derive_rules(_mined(GROCERIES, 0.001, "native"), 0.8)
    pruned = prune_redundant(rules)
    assert 0 < len(pruned) < len(rules)
    assert len(pruned) == 392


@pytest.mark.parametrize(("support", "expected"), [(0.01, 159), (0.005, 580), (0.002, 2691), (0.001, 7589)])
def test_retail_itemset_counts_native(support: float, expected: int) -> None:
    assert len(_mined(RETAIL, support, "native", max_len=None)) == expected


def test_retail_closed_maximal_native() -> None:
    m = _load(RETAIL).matrix
    assert len(mine_itemsets(m, 0.001, target="closed")) == 7572
    assert len(mine_itemsets(m, 0.001, target="maximal")) == 3452


def test_retail_mlxtend_agrees_at_cheap_threshold() -> None:
    ref = _mined(RETAIL, 0.01, "mlxtend", max_len=None)
    assert len(ref) == 159 and ref.digest() == _mined(RETAIL, 0.01, "native", max_len=None).digest()


@pytest.mark.spark
def test_groceries_spark_agrees(spark_session) -> None:
    m = _load(GROCERIES).matrix
    got = mine_itemsets(m, 0.01, backend="spark", spark=spark_session)
    assert len(got) == 333 and got.digest() == mine_itemsets(m, 0.01).digest()
