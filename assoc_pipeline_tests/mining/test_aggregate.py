"""Multi-level (category) rules: Groceries level-2 categories checked against plain-Python counts.

Everything the code under test computes on Groceries is recomputed here from the raw files
(``groceries.csv`` and arules' label files) with sets, ``collections`` and Python ints as
basket bitsets — no project reader, mapper or miner is used for the expected values.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from fractions import Fraction
from functools import cache
from itertools import combinations, product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.data.basket_line_files import read_baskets
from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_lists
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.mining import RULE_COLUMNS, derive_rules, label_rules, mine_itemsets
from assoc_pipeline.core.mining.aggregate import aggregate_baskets, category_rules
from assoc_pipeline.core.mining.categories import categories_from_embeddings, load_label_hierarchy

from .conftest import dataset

MIN_SUPPORT = 0.01
MIN_CONFIDENCE = 0.5


# ---------------------------------------------------------------------------------------------
# independent reference: raw files -> sets
# ---------------------------------------------------------------------------------------------


def _label_rows(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("ascii")
    return [line.split("\t") for line in text.split("\r\n") if line]


@cache
def _raw() -> tuple[list[frozenset[str]], dict[str, str], dict[str, list[str]]]:
    """Item baskets, item -> level-2 category, category -> member items (all from the raw files)."""
    folder = dataset("groceries")
    with open(folder / "groceries.csv", encoding="utf-8") as fh:
        baskets = [frozenset(t.strip() for t in line.rstrip("\n").split(",")) for line in fh if line.strip()]
    cat2 = {row[0]: row[1].strip() for row in _label_rows(folder / "Groceries.cat2.labels")}
    item_cat = {row[1].strip(): cat2[row[0][:2]] for row in _label_rows(folder / "Groceries.labels")}
    members: dict[str, list[str]] = defaultdict(list)
    for item, cat in item_cat.items():
        members[cat].append(item)
    return baskets, item_cat, dict(members)


@cache
def _category_baskets() -> list[frozenset[str]]:
    baskets, item_cat, _ = _raw()
    return [frozenset(item_cat[i] for i in b) for b in baskets]


def _bitsets(baskets: list[frozenset[str]]) -> dict[str, int]:
    """label -> Python int with bit n set when basket n holds it (popcount of an AND = support)."""
    bits: dict[str, int] = defaultdict(int)
    for n, b in enumerate(baskets):
        for x in b:
            bits[x] |= 1 << n
    return dict(bits)


@cache
def _reference_rules() -> dict[tuple[frozenset[str], str], tuple[int, int, int]]:
    """Apriori by definition on the category baskets: (antecedent, consequent) -> (n_AC, n_A, n_C)."""
    baskets = _category_baskets()
    bits = _bitsets(baskets)
    n = len(baskets)
    min_count = math.ceil(Fraction("0.01") * n)
    everyone = (1 << n) - 1
    frequent: dict[frozenset[str], int] = {}
    level = {frozenset([c]): b for c, b in bits.items() if b.bit_count() >= min_count}
    while level:
        frequent.update({s: b.bit_count() for s, b in level.items()})
        nxt: dict[frozenset[str], int] = {}
        for (s1, _), (s2, _) in combinations(level.items(), 2):
            union = s1 | s2
            if len(union) != len(s1) + 1 or union in nxt:
                continue
            if all(union - {x} in level for x in union):
                b = everyone
                for x in union:
                    b &= bits[x]
                if b.bit_count() >= min_count:
                    nxt[union] = b
        level = nxt
    rules = {}
    for s, n_ac in frequent.items():
        if len(s) < 2:
            continue
        for c in s:
            n_a = frequent[s - {c}]
            if Fraction(n_ac, n_a) >= Fraction(MIN_CONFIDENCE):
                rules[(s - {c}, c)] = (n_ac, n_a, frequent[frozenset([c])])
    return rules


# ---------------------------------------------------------------------------------------------
# code under test on Groceries
# ---------------------------------------------------------------------------------------------


@cache
def _groceries() -> BasketSet:
    return read_baskets(dataset("groceries/groceries.csv"))


@cache
def _level2() -> dict[str, str]:
    return load_label_hierarchy(dataset("groceries"), 2)


@cache
def _rules():
    return category_rules(_groceries(), _level2(), MIN_SUPPORT, MIN_CONFIDENCE)


def test_hierarchy_maps_every_groceries_item_as_our_reader_spells_it() -> None:
    items = set(_groceries().item_names())
    assert len(items) == 169
    _, item_cat, _ = _raw()
    for level, n_categories in ((1, 10), (2, 55)):
        mapping = load_label_hierarchy(dataset("groceries"), level)
        assert set(mapping) == items  # all 169, "cream cheese" without its trailing space
        assert len(set(mapping.values())) == n_categories
    assert _level2() == item_cat
    assert _level2()["cream cheese"] == "cheese" and _level2()["frankfurter"] == "sausage"
    assert load_label_hierarchy(dataset("groceries"), 1)["frankfurter"] == "meat and sausage"
    # arules' data(Groceries) spelling keeps the trailing space, which our baskets do not have
    raw = load_label_hierarchy(dataset("groceries"), 2, strip=False)
    assert "cream cheese " in raw and "roll products " in raw and "cream cheese" not in raw
    with pytest.raises(InputError, match=r"2 of 169 items have no category.*'cream cheese'"):
        aggregate_baskets(_groceries(), raw)


def test_category_baskets_equal_plain_python_sets() -> None:
    agg = aggregate_baskets(_groceries(), _level2())
    expected = _category_baskets()
    names = agg.item_names()
    assert agg.matrix.shape == (9835, 55)
    assert [frozenset(names[row]) for row in agg.item_lists()] == expected
    counts = Counter(c for b in expected for c in b)
    assert dict(zip(agg.vocabulary["item_name"], agg.vocabulary["n_baskets"], strict=True)) == counts
    assert agg.matrix.nnz == sum(len(b) for b in expected) == 37101
    assert agg.baskets["n_items"].tolist() == [len(b) for b in expected]
    assert agg.baskets["basket_id"].tolist() == _groceries().baskets["basket_id"].tolist()
    assert list(agg.vocabulary["item_id"]) == sorted(counts) == list(names)
    assert counts["dairy produce"] == 4357 and counts["sausage"] == 1860


def test_category_rules_equal_brute_force_on_groceries() -> None:
    rules = _rules()
    expected = _reference_rules()
    n = 9835
    got = {
        (frozenset(a), c): row
        for a, (c,), row in zip(
            rules["antecedent_names"], rules["consequent_names"], rules.itertuples(), strict=True
        )
    }
    assert len(rules) == len(got) == len(expected) == 533
    assert set(got) == set(expected)
    for key, (n_ac, n_a, n_c) in expected.items():
        row = got[key]
        assert (row.count, row.antecedent_count, row.consequent_count) == (n_ac, n_a, n_c), key
        assert row.support == pytest.approx(n_ac / n, rel=1e-12)
        assert row.confidence == pytest.approx(n_ac / n_a, rel=1e-12)
        assert row.lift == pytest.approx(n_ac * n / (n_a * n_c), rel=1e-12)
        assert row.support >= MIN_SUPPORT and row.confidence >= MIN_CONFIDENCE


def test_category_rules_have_the_item_level_columns() -> None:
    bs = _groceries()
    items = label_rules(derive_rules(mine_itemsets(bs.matrix, 0.01), 0.3), bs.item_names())
    rules = _rules()
    assert list(rules.columns) == list(items.columns)
    assert set(RULE_COLUMNS) <= set(rules.columns)
    assert rules["lift"].is_monotonic_decreasing
    names = aggregate_baskets(bs, _level2()).item_names()
    first = rules.iloc[0]
    assert tuple(names[list(first["antecedent"])]) == first["antecedent_names"]


def test_a_category_rule_holds_where_no_item_pair_does() -> None:
    """{staple foods} => {vegetables}: frequent, though every flour/rice/pasta x vegetable pair is rare."""
    baskets, _, members = _raw()
    n = len(baskets)
    min_count = math.ceil(Fraction("0.01") * n)
    bits = _bitsets(baskets)
    cat_bits = _bitsets(_category_baskets())

    def best_pair(a: str, c: str) -> tuple[int, str, str]:
        return max(((bits[x] & bits[y]).bit_count(), x, y) for x, y in product(members[a], members[c]))

    rules = _rules()
    single = rules[rules["antecedent"].map(len) == 1]
    only_at_category_level = []
    for (a,), (c,), count in zip(
        single["antecedent_names"], single["consequent_names"], single["count"], strict=True
    ):
        assert (cat_bits[a] & cat_bits[c]).bit_count() == count >= min_count
        if best_pair(a, c)[0] < min_count:
            only_at_category_level.append((a, c))
    assert len(only_at_category_level) == 15
    assert ("staple foods", "vegetables") in only_at_category_level
    row = rules[rules["rule"] == "{staple foods} => {vegetables}"].iloc[0]
    assert row["count"] == 257 and row["antecedent_count"] == 498
    assert row["support"] == pytest.approx(257 / n)
    assert row["lift"] == pytest.approx(257 * n / (498 * 2685))
    assert best_pair("staple foods", "vegetables") == (62, "flour", "other vegetables")
    assert 62 < min_count <= 257


# ---------------------------------------------------------------------------------------------
# aggregate_baskets on small inputs
# ---------------------------------------------------------------------------------------------

TOY_ITEMS = ["bratwurst", "frankfurter", "milk", "rolls", "soap"]
TOY_CATEGORIES = {"bratwurst": "sausage", "frankfurter": "sausage", "milk": "dairy", "rolls": "bread"}


def _toy() -> BasketSet:
    lists = [[0, 1], [0, 1, 2], [2, 3], [1, 3], [4], [0, 4]]
    return basket_set_from_lists(lists, TOY_ITEMS)


def test_duplicates_within_a_basket_count_once() -> None:
    agg = aggregate_baskets(_toy(), {**TOY_CATEGORIES, "soap": "household"})
    assert list(agg.vocabulary["item_name"]) == ["bread", "dairy", "household", "sausage"]
    dense = agg.matrix.toarray()
    assert dense.dtype == bool
    assert dense[0].tolist() == [False, False, False, True]  # two sausages -> "sausage" once
    assert agg.matrix.nnz == 10 and agg.matrix.data.all()
    assert agg.vocabulary["n_baskets"].tolist() == [2, 2, 2, 4]
    assert agg.baskets["n_items"].tolist() == [1, 2, 2, 2, 1, 2]
    assert agg.n_baskets == 6
    rules = category_rules(_toy(), {**TOY_CATEGORIES, "soap": "household"}, 1, 0.5)
    row = rules[rules["rule"] == "{household} => {sausage}"].iloc[0]
    assert (row["count"], row["antecedent_count"], row["consequent_count"]) == (1, 2, 4)
    assert row["lift"] == pytest.approx(1 * 6 / (2 * 4))


def test_positional_labels_and_by_item_id() -> None:
    bs = _toy()
    labels = ["sausage", "sausage", "dairy", "bread", "household"]
    by_position = aggregate_baskets(bs, labels)
    by_mapping = aggregate_baskets(bs, dict(zip(TOY_ITEMS, labels, strict=True)), by="item_id")
    assert (by_position.matrix != by_mapping.matrix).nnz == 0
    assert by_position.vocabulary.equals(by_mapping.vocabulary)
    with pytest.raises(InputError, match="4 labels but the baskets have 5 items"):
        aggregate_baskets(bs, labels[:4])
    with pytest.raises(InputError, match="by='sku' is not a vocabulary column"):
        aggregate_baskets(bs, TOY_CATEGORIES, by="sku")
    with pytest.raises(ValueError, match="unmapped must be"):
        aggregate_baskets(bs, TOY_CATEGORIES, unmapped="drop")  # type: ignore[arg-type]


def test_unmapped_items_error_or_stay_as_themselves() -> None:
    with pytest.raises(
        InputError, match=r"1 of 5 items have no category \(matched on item_name\), e\.g\. 'soap'"
    ):
        aggregate_baskets(_toy(), TOY_CATEGORIES)
    with pytest.raises(InputError, match="2 of 5 items"):
        aggregate_baskets(_toy(), ["sausage", None, "dairy", "bread", ""])
    kept = aggregate_baskets(_toy(), TOY_CATEGORIES, unmapped="keep")
    assert list(kept.item_names()) == ["bread", "dairy", "sausage", "soap"]
    assert kept.vocabulary["n_baskets"].tolist() == [2, 2, 4, 2]


# ---------------------------------------------------------------------------------------------
# label files: bad input
# ---------------------------------------------------------------------------------------------


def _write_labels(folder: Path, items: str, cat2: str | None = "01\tsausage\tWURST\r\n") -> Path:
    (folder / "Groceries.labels").write_bytes(items.encode())
    if cat2 is not None:
        (folder / "Groceries.cat2.labels").write_bytes(cat2.encode())
    return folder


def test_label_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"level must be one of \[1, 2\]"):
        load_label_hierarchy(dataset("groceries"), 3)
    with pytest.raises(InputError, match="label directory not found"):
        load_label_hierarchy(tmp_path / "nowhere", 2)
    folder = _write_labels(tmp_path, "011\tfrankfurter\tWUERSTEL\r\n", cat2=None)
    with pytest.raises(InputError, match=r"Groceries\.cat2\.labels: label file not found"):
        load_label_hierarchy(folder, 2)
    _write_labels(tmp_path, "011\tfrankfurter\tWUERSTEL\r\n999\tmystery \tRAETSEL\r\n")
    with pytest.raises(
        InputError, match=r"Groceries\.labels: 1 item code\(s\) have no level-2 .*999 \(mystery\)"
    ):
        load_label_hierarchy(folder, 2)
    _write_labels(tmp_path, "011 frankfurter\r\n")
    with pytest.raises(InputError, match=r"Groceries\.labels, line 1: expected 'code<TAB>English"):
        load_label_hierarchy(folder, 2)
    _write_labels(tmp_path, "011\tfrankfurter\tX\r\n011\tsausage\tY\r\n")
    with pytest.raises(InputError, match="line 2: code 011 already defined on line 1"):
        load_label_hierarchy(folder, 2)
    _write_labels(tmp_path, "")
    with pytest.raises(InputError, match=r"Groceries\.labels: no labels"):
        load_label_hierarchy(folder, 2)
    _write_labels(tmp_path, "011\tfrankfurter\tWUERSTEL\n012\tsausage\tWURST\n")  # LF works too
    assert load_label_hierarchy(folder, 2) == {"frankfurter": "sausage", "sausage": "sausage"}


# ---------------------------------------------------------------------------------------------
# categories from embeddings
# ---------------------------------------------------------------------------------------------


def _planted(seed: int = 7) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Three well-separated directions, 12 items each, random lengths (normalising must ignore them)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(16)[[0, 5, 11]] * 3.0
    truth = rng.permutation(np.repeat(np.arange(3), 12))
    x = centres[truth] + rng.normal(scale=0.3, size=(len(truth), 16))
    x *= rng.uniform(0.1, 50.0, size=(len(truth), 1))
    names = [f"item {i} (group {g})" for i, g in enumerate(truth)]
    return x, names, truth


def test_embedding_clusters_recover_planted_groups_deterministically() -> None:
    x, names, truth = _planted()
    clusters, labels = categories_from_embeddings(x, names, 3, seed=1)
    again, labels_again = categories_from_embeddings(x, names, 3, seed=1)
    assert np.array_equal(clusters, again) and labels == labels_again
    # same partition as the planted one, numbered by first appearance
    pairs = set(zip(truth.tolist(), clusters.tolist(), strict=True))
    assert len(pairs) == 3 and len({t for t, _ in pairs}) == 3
    assert clusters[0] == 0 and len(labels) == 3
    for k, label in enumerate(labels):
        assert label.startswith(f"cluster {k}: ")
        nearest = names.index(label.split(": ", 1)[1])
        assert clusters[nearest] == k
    # the labels plug straight into aggregate_baskets as one category per item
    bs = basket_set_from_lists([[0, 1, 2], [3, 4], [5]], names)
    agg = aggregate_baskets(bs, [labels[c] for c in clusters])
    assert set(agg.item_names()) == set(labels)


def test_embedding_clusters_reject_bad_input() -> None:
    x, names, _ = _planted()
    with pytest.raises(ValueError, match="35 names for 36 embedding rows"):
        categories_from_embeddings(x, names[:-1], 3)
    with pytest.raises(ValueError, match=r"n_clusters must be in \[1, 36\]"):
        categories_from_embeddings(x, names, 37)
    with pytest.raises(ValueError, match="2-D"):
        categories_from_embeddings(x[0], names[:1], 1)
    bad = x.copy()
    bad[4] = 0.0
    with pytest.raises(ValueError, match="1 zero vector"):
        categories_from_embeddings(bad, names, 3)
    bad[4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        categories_from_embeddings(bad, names, 3)
    with pytest.raises(ValueError, match="only 1 distinct directions"):
        categories_from_embeddings(np.ones((4, 3)) * [[1], [2], [3], [4]], list("abcd"), 2)


def test_cli_mines_category_rules_from_a_label_hierarchy(tmp_path: Path) -> None:
    """`assoc-pipeline mine --categories DIR --level 2` writes exactly the brute-force rule set."""
    from assoc_pipeline.cli import build_parser

    out = tmp_path / "rules.csv"
    args = build_parser().parse_args(
        ["mine", str(dataset("groceries/groceries.csv")), "--categories", str(dataset("groceries")),
         "--level", "2", "--min-support", str(MIN_SUPPORT), "--min-confidence", str(MIN_CONFIDENCE),
         "--output", str(out)]
    )  # fmt: skip
    assert args.func(args) == 0
    written = pd.read_csv(out)
    assert len(written) == len(_reference_rules())
    assert written["count"].sum() == sum(n_ac for n_ac, _, _ in _reference_rules().values())
