"""Property tests: on random small basket sets the native backend equals mlxtend and the definitions."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assoc_pipeline.core.mining import derive_rules, is_redundant, mine_itemsets
from assoc_pipeline.core.mining.mlxtend_backend import mlxtend_rules

from .helpers import as_dict, brute_itemsets, brute_redundant, matrix_of

N_ITEMS = 8
baskets = st.lists(st.lists(st.integers(0, N_ITEMS - 1), min_size=0, max_size=7), min_size=1, max_size=40)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(lists=baskets, min_count=st.integers(1, 6), max_len=st.none() | st.integers(1, 4))
def test_native_equals_mlxtend_and_brute_force(
    lists: list[list[int]], min_count: int, max_len: int | None
) -> None:
    """The default kernel; each data-structure choice on its own is in test_kernels.py."""
    x = matrix_of(lists, N_ITEMS)
    native = mine_itemsets(x, min_count, max_len=max_len)
    ref = mine_itemsets(x, min_count, max_len=max_len, backend="mlxtend")
    assert as_dict(native) == as_dict(ref) == brute_itemsets(lists, min_count, max_len)
    assert native.digest() == ref.digest()


@SETTINGS
@given(lists=baskets, min_count=st.integers(1, 5), conf=st.sampled_from([0.0, 0.3, 0.5, 2 / 3, 0.8, 1.0]))
def test_rules_equal_mlxtend_association_rules(lists: list[list[int]], min_count: int, conf: float) -> None:
    fi = mine_itemsets(matrix_of(lists, N_ITEMS), min_count)
    ours = derive_rules(fi, conf, max_consequent_len=None)
    theirs = mlxtend_rules(fi, conf)
    cols = ["antecedent", "consequent", "count", "confidence", "lift"]
    a = sorted(zip(*(ours[c].tolist() for c in cols), strict=True))
    b = sorted(zip(*(theirs[c].tolist() for c in cols), strict=True))
    assert [r[:3] for r in a] == [r[:3] for r in b]
    assert np.allclose([r[3:] for r in a], [r[3:] for r in b]) if a else not b
    single = derive_rules(fi, conf)
    assert len(single) == int((ours["consequent"].map(len) == 1).sum())


@SETTINGS
@given(lists=baskets, min_count=st.integers(1, 4), conf=st.sampled_from([0.0, 0.4, 0.7]))
def test_redundancy_equals_definition(lists: list[list[int]], min_count: int, conf: float) -> None:
    rules = derive_rules(mine_itemsets(matrix_of(lists, N_ITEMS), min_count), conf, max_consequent_len=None)
    assert is_redundant(rules).tolist() == brute_redundant(rules)


@SETTINGS
@given(lists=baskets, min_count=st.integers(1, 5))
def test_closed_and_maximal_equal_definition(lists: list[list[int]], min_count: int) -> None:
    x = matrix_of(lists, N_ITEMS)
    full = brute_itemsets(lists, min_count)
    closed = {s for s, c in full.items() if not any(set(s) < set(t) and c2 == c for t, c2 in full.items())}
    maximal = {s for s in full if not any(set(s) < set(t) for t in full)}
    assert set(mine_itemsets(x, min_count, target="closed").table["items"]) == closed
    assert set(mine_itemsets(x, min_count, target="maximal").table["items"]) == maximal


@SETTINGS
@given(lists=baskets, min_count=st.integers(1, 4))
def test_numpy_kernel_chunking_and_sparse_paths_agree(lists: list[list[int]], min_count: int) -> None:
    """Tiny memory bounds force every chunked / large-vocabulary path of the numpy kernel."""
    from assoc_pipeline.core.mining import limits

    x = matrix_of(lists, N_ITEMS)
    expected = brute_itemsets(lists, min_count)
    saved = (limits.CHUNK_BYTES, limits.BUCKET_BYTES, limits.PAIR_CHUNK, limits.DENSE_PAIR_CELLS)
    try:
        limits.CHUNK_BYTES, limits.BUCKET_BYTES, limits.PAIR_CHUNK, limits.DENSE_PAIR_CELLS = 8, 8, 1, 0
        assert as_dict(mine_itemsets(x, min_count, kernel="numpy")) == expected
    finally:
        limits.CHUNK_BYTES, limits.BUCKET_BYTES, limits.PAIR_CHUNK, limits.DENSE_PAIR_CELLS = saved


def test_popcount64_on_extremes() -> None:
    import pytest

    torch = pytest.importorskip("torch")
    from assoc_pipeline.core.mining.apriori_torch import popcount64_

    vals = np.array(
        [0, 1, -1, np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0x5555555555555555], dtype=np.int64
    )
    expected = [int(np.bitwise_count(v.view(np.uint64))) for v in vals]
    assert popcount64_(torch.from_numpy(vals.copy())).tolist() == expected


def brute_rules(lists: list[list[int]], min_count: int, conf: float, max_c: int | None) -> dict:
    """Every split A => C of every frequent itemset with n(AC)/n(A) >= conf, by definition."""
    from fractions import Fraction

    full = brute_itemsets(lists, min_count)
    out = {}
    for s, n_ac in full.items():
        for c in range(1, len(s) if max_c is None else min(len(s), max_c + 1)):
            for cons in combinations(s, c):
                ante = tuple(i for i in s if i not in cons)
                if Fraction(n_ac, full[ante]) >= Fraction(repr(conf)):
                    out[(ante, cons)] = (n_ac, full[ante], full[cons])
    return out


@SETTINGS
@given(
    lists=baskets,
    min_count=st.integers(1, 4),
    conf=st.sampled_from([0.0, 0.5, 2 / 3, 1.0]),
    max_c=st.none() | st.integers(1, 3),
    cells=st.sampled_from([1, 7, 1 << 22]),
)
def test_rule_arrays_equal_definition_in_every_chunking(
    lists: list[list[int]], min_count: int, conf: float, max_c: int | None, cells: int
) -> None:
    """The vectorised derivation (all consequent positions of a level at once, cut into chunks
    of ``cells``) gives exactly the rules and counts of the definition, in (k, c, positions,
    row) order, and its table's sides are the itemsets its pointers name."""
    from assoc_pipeline.core.mining import rules as rules_module

    fi = mine_itemsets(matrix_of(lists, N_ITEMS), min_count)
    saved = rules_module._CHUNK_CELLS
    try:
        rules_module._CHUNK_CELLS = cells
        arrays = rules_module.derive_rule_arrays(fi, conf, max_consequent_len=max_c)
    finally:
        rules_module._CHUNK_CELLS = saved
    table = arrays.to_frame()
    got = {
        (a, c): (n, na, nc)
        for a, c, n, na, nc in zip(
            table.antecedent, table.consequent, table["count"], table.antecedent_count,
            table.consequent_count, strict=True,
        )
    }  # fmt: skip
    assert len(got) == len(table) and got == brute_rules(lists, min_count, conf, max_c)
    order = [(len(a) + len(c), len(c)) for a, c in zip(table.antecedent, table.consequent, strict=True)]
    assert order == sorted(order)
    assert table.equals(derive_rules(fi, conf, max_consequent_len=max_c))


@SETTINGS
@given(
    top=st.lists(st.integers(0, 7), min_size=0, max_size=60),
    low=st.integers(0, 2**40),
    misses=st.lists(st.integers(0, 2**64 - 1), max_size=20),
)
@example(top=[0, 0, 7, 7], low=0, misses=[2**64 - 1])  # key 0 stored (empty slots hold key 0)
@example(top=[7, 7, 7], low=1, misses=[0, 2**64 - 1])  # 0 absent; probing wraps at the end
def test_key_lookup_probes_to_every_stored_key(top: list[int], low: int, misses: list[int]) -> None:
    """The open-addressing lookup: keys crowded into a few slots (same top bits, so probing runs
    long and wraps around the table) are each found at their row; absent keys give -1; a
    duplicate stored key raises HashCollision."""
    import pytest

    from assoc_pipeline.core.mining.hashing import HashCollision, KeyLookup

    keys = np.array(sorted({(t << 61) | (low + i) for i, t in enumerate(top)}), dtype=np.uint64)
    keys = keys[np.random.default_rng(len(keys)).permutation(len(keys))]
    lookup = KeyLookup(keys)
    assert lookup.find(keys).tolist() == list(range(len(keys)))
    absent = np.array([m for m in misses if m not in set(keys.tolist())], dtype=np.uint64)
    assert (lookup.find(absent) == -1).all()
    if len(keys):
        with pytest.raises(HashCollision):
            KeyLookup(np.concatenate([keys, keys[:1]]))
