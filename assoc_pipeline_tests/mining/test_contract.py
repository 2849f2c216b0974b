"""One contract, every backend: the same inputs must give the same itemsets and counts."""

from __future__ import annotations

import numpy as np
import pytest

from assoc_pipeline.core.mining import FrequentItemsets, derive_rules, mine_itemsets

from .helpers import as_dict, brute_itemsets, matrix_of

# 10 baskets over items 0..5; item 5 never occurs
LISTS = [[0, 1, 2], [0, 1], [0, 2], [0, 1, 2, 3], [1, 2], [0, 1, 3], [3, 4], [0, 1, 2], [2, 4], [0, 4]]
X = matrix_of(LISTS, 6)


def test_itemsets_match_definition_and_contract(backend_options: dict) -> None:
    fi = mine_itemsets(X, 3, **backend_options)
    assert isinstance(fi, FrequentItemsets)
    assert list(fi.table.columns) == ["items", "count", "support", "length"]
    assert fi.n_baskets == 10 and fi.min_count == 3
    assert as_dict(fi) == brute_itemsets(LISTS, 3)
    t = fi.table
    assert all(isinstance(s, tuple) and list(s) == sorted(s) for s in t["items"])
    assert (t["length"] == t["items"].map(len)).all()
    assert np.allclose(t["support"], t["count"] / 10)
    assert t["count"].dtype == np.int64


def test_threshold_fraction_is_inclusive_count(backend_options: dict) -> None:
    # {0,1,2} occurs in exactly 3 of 10 baskets: 0.3 keeps it, 0.31 (count 4) drops it
    assert (0, 1, 2) in as_dict(mine_itemsets(X, 0.3, **backend_options))
    assert (0, 1, 2) not in as_dict(mine_itemsets(X, 0.31, **backend_options))


def test_lengths_and_targets(backend_options: dict) -> None:
    got = mine_itemsets(X, 2, min_len=2, max_len=2, **backend_options)
    assert set(got.table["length"]) == {2}
    assert as_dict(got) == {k: v for k, v in brute_itemsets(LISTS, 2).items() if len(k) == 2}
    full = brute_itemsets(LISTS, 2)
    closed = {s for s, c in full.items() if not any(set(s) < set(t) and c2 == c for t, c2 in full.items())}
    maximal = {s for s in full if not any(set(s) < set(t) for t in full)}
    assert set(mine_itemsets(X, 2, target="closed", **backend_options).table["items"]) == closed
    assert set(mine_itemsets(X, 2, target="maximal", **backend_options).table["items"]) == maximal


def test_nothing_frequent_gives_empty_table(backend_options: dict) -> None:
    fi = mine_itemsets(X, 11, **backend_options)
    assert len(fi) == 0 and list(fi.table.columns) == ["items", "count", "support", "length"]
    assert len(derive_rules(fi, 0.5)) == 0


@pytest.mark.parametrize("bad", [0, -1, 0.0, 1.5, True])
def test_bad_support_is_rejected(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        mine_itemsets(X, bad)  # type: ignore[arg-type]


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="target"):
        mine_itemsets(X, 2, target="frequent")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend"):
        mine_itemsets(X, 2, backend="weka")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_len"):
        mine_itemsets(X, 2, min_len=3, max_len=2)


def test_dense_and_duplicate_inputs_are_accepted() -> None:
    dense = X.toarray()
    assert as_dict(mine_itemsets(dense, 3)) == as_dict(mine_itemsets(X, 3))
    dup = X.tocoo()
    import scipy.sparse as sp

    doubled = sp.coo_matrix(
        (np.r_[dup.data, dup.data], (np.r_[dup.row, dup.row], np.r_[dup.col, dup.col])), shape=X.shape
    ).tocsr()
    assert as_dict(mine_itemsets(doubled, 3)) == as_dict(mine_itemsets(X, 3))
