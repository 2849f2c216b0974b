"""FUP-style incremental itemsets equal a full re-mine; the explosion guard stops in time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assoc_pipeline.core.mining import (
    MAX_ITEMSETS,
    ItemsetExplosion,
    item_map_for,
    mine_itemsets,
    mine_with_border,
    update_itemsets,
)
from assoc_pipeline.core.mining.native_backend import mine_levels
from assoc_pipeline.core.tables import border_path, read_table, write_table

from .helpers import as_dict, brute_itemsets, matrix_of

N_ITEMS = 9
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
basket = st.lists(st.integers(0, N_ITEMS - 1), min_size=0, max_size=7)


def border_dict(fi) -> dict[tuple, int]:
    return {} if fi.border is None else dict(zip(fi.border["items"], fi.border["count"], strict=True))


def with_vocabulary(lists: list[list[int]]) -> tuple[sp.csr_matrix, list[str]]:
    """The baskets over their own vocabulary: the sorted ids of the items they hold (as BasketSet)."""
    ids = sorted({f"item{j:02d}" for b in lists for j in b})
    col = {v: i for i, v in enumerate(ids)}
    return matrix_of([[col[f"item{j:02d}"] for j in b] for b in lists], len(ids)), ids


@SETTINGS
@given(
    old=st.lists(basket, min_size=1, max_size=30),
    new=st.lists(basket, min_size=0, max_size=20),
    support=st.sampled_from([0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 2, 3]),
    max_len=st.none() | st.integers(1, 4),
)
def test_incremental_equals_full_remine_with_vocabulary_growth(
    old: list[list[int]], new: list[list[int]], support: float | int, max_len: int | None, tmp_path_factory
) -> None:
    x_old, old_ids = with_vocabulary(old)
    x_all, all_ids = with_vocabulary(old + new)
    previous = mine_with_border(x_old, support, max_len=max_len)
    path = tmp_path_factory.mktemp("fi") / "fi.parquet"
    write_table(previous, path)  # the border goes through Parquet as the pipeline stores it
    previous = read_table(path)

    got, report = update_itemsets(previous, x_all, support, item_map=item_map_for(old_ids, all_ids))
    full = mine_with_border(x_all, support, max_len=max_len)

    assert report.mode == "incremental" and report.n_old == len(old) and report.n_new == len(new)
    assert (
        as_dict(got)
        == as_dict(full)
        == brute_itemsets(
            [[all_ids.index(f"item{j:02d}") for j in b] for b in old + new], full.min_count, max_len
        )
    )
    assert got.digest() == full.digest() and got.min_count == full.min_count
    assert border_dict(got) == border_dict(full)
    assert (got.n_baskets, got.max_len, got.target) == (full.n_baskets, full.max_len, full.target)


@SETTINGS
@given(
    lists=st.lists(basket, min_size=2, max_size=40),
    cut=st.floats(0.1, 0.9),
    support=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
)
def test_update_chain_and_forced_full_fallback_agree(
    lists: list[list[int]], cut: float, support: float
) -> None:
    x = matrix_of(lists, N_ITEMS)
    a, b = sorted({max(1, int(len(lists) * cut)), len(lists)})
    step1, _ = update_itemsets(mine_with_border(x[: max(1, a // 2)], support), x[:a], support)
    step2, _ = update_itemsets(step1, x[:b], support)
    forced, report = update_itemsets(step1, x[:b], support, max_rescan=-1)
    full = mine_with_border(x[:b], support)
    assert step2.digest() == forced.digest() == full.digest()
    assert border_dict(step2) == border_dict(forced) == border_dict(full)
    if report.mode == "full":
        assert "candidates would need counting over all baskets" in report.reason


def test_report_says_how_the_update_went() -> None:
    lists = [[0, 1, 2], [0, 1], [1, 2], [0, 2], [3]] * 4
    x = matrix_of(lists + lists[:5], 5)
    previous = mine_with_border(matrix_of(lists, 5), 0.2)
    got, report = update_itemsets(previous, x, 0.2)
    assert report.mode == "incremental" and report.rescanned == 0 and report.promoted == 0
    assert "no negative-border itemset became frequent" in report.reason
    assert report.counted_in_new > 0 and got.digest() == mine_itemsets(x, 0.2).digest()

    # a new item that is in every new basket becomes frequent: its supersets are counted
    grow = sp.vstack(
        [
            sp.hstack([matrix_of(lists, 5), sp.csr_matrix((20, 1), dtype=bool)]),
            sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 1]] * 10, dtype=bool)),
        ]
    ).tocsr()
    got, report = update_itemsets(previous, grow, 0.2)
    assert report.mode == "incremental" and report.promoted >= 1 and report.rescanned >= 1
    assert got.digest() == mine_itemsets(grow, 0.2).digest()


def test_falls_back_to_a_full_mine_with_the_reason() -> None:
    x = matrix_of([[0, 1], [1, 2], [0, 1, 2]] * 5, 3)
    plain = mine_itemsets(x[:9], 0.3)
    got, report = update_itemsets(plain, x, 0.3)
    assert report.mode == "full" and "no negative border" in report.reason
    assert got.digest() == mine_itemsets(x, 0.3).digest() and got.border is not None

    previous = mine_with_border(x[:9], 0.3)
    _, report = update_itemsets(previous, x, 0.5)
    assert report.mode == "full" and "min_support" in report.reason
    _, report = update_itemsets(previous, sp.vstack([matrix_of([[0]] * 9, 3), x[9:]]).tocsr(), 0.3)
    assert report.mode == "full" and "not a prefix" in report.reason
    _, report = update_itemsets(previous, x, 0.3, item_map=np.array([0, -1, 2]))
    assert report.mode == "full" and "missing from the new vocabulary" in report.reason


def test_border_and_provenance_persist_and_a_stale_border_is_ignored(tmp_path: Path) -> None:
    x = matrix_of([[0, 1], [1, 2], [0, 1, 2], [3]] * 3, 4)
    fi = mine_with_border(x, 0.3).with_border(None, provenance={"n_baskets": 12, "item_ids": ["a", "b"]})
    assert fi.border is None
    fi = mine_with_border(x, 0.3).with_border(mine_with_border(x, 0.3).border, {"n_baskets": 12})
    path = tmp_path / "fi.parquet"
    write_table(fi, path)
    back = read_table(path)
    assert back.digest() == fi.digest() and back.provenance == {"n_baskets": 12}
    assert border_dict(back) == border_dict(fi) and border_dict(fi)  # (3,) and pairs with count > 0
    assert list(back.table.columns) == ["items", "count", "support", "length"]

    write_table(mine_itemsets(x, 0.3), tmp_path / "other.parquet")  # no border: no sidecar
    assert not border_path(tmp_path / "other.parquet").exists()
    border_path(path).write_bytes(border_path(path).read_bytes())
    write_table(mine_with_border(x, 0.5), tmp_path / "b.parquet")
    border_path(tmp_path / "b.parquet").replace(border_path(path))  # another write's border
    assert read_table(path).border is None


def test_the_itemset_service_mines_and_updates_on_the_gpu_path(
    tmp_path: Path, gpu_path_runs: list[str]
) -> None:
    """``device="cuda"`` as the frequent_itemsets asset passes it: a full mine runs the torch kernel
    (on torch's CPU device where no GPU is present); an incremental update counts, and mines
    nothing; both equal the CPU's itemsets and border."""
    from assoc_pipeline.services.itemsets import ItemsetSettings, mine_or_update
    from assoc_pipeline_tests.evaluation.helpers import make_baskets

    rng = np.random.default_rng(0)
    # items 6 and 7 only in the new baskets: border itemsets become frequent in the update
    items = [rng.choice(6 + 2 * (i >= 120), 4, replace=False).tolist() for i in range(180)]
    rows = [(f"u{i % 7}", f"2011-{1 + i // 60:02d}-{1 + i % 28:02d}", b) for i, b in enumerate(items)]
    gpu = ItemsetSettings(0.1, device="cuda")
    stored = tmp_path / "frequent_itemsets.parquet"
    first = mine_or_update(make_baskets(rows[:120], 8), gpu, stored)
    assert first.mode == "full" and len(gpu_path_runs) == 1
    write_table(first.itemsets, stored)
    everything = make_baskets(rows, 8)
    reference = mine_or_update(everything, ItemsetSettings(0.1), None).itemsets
    updated = mine_or_update(everything, gpu, stored)
    again = mine_or_update(everything, ItemsetSettings(0.1, incremental=False, device="cuda"), stored)
    assert updated.mode == "incremental" and again.mode == "full" and len(gpu_path_runs) == 2
    for got in (updated.itemsets, again.itemsets):
        assert got.digest() == reference.digest() and border_dict(got) == border_dict(reference)


def test_device_cuda_without_a_gpu_fails_before_an_incremental_update(tmp_path: Path) -> None:
    """An update only counts, on the CPU: without the up-front check a missing GPU would pass
    unnoticed until the next full re-mine."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from assoc_pipeline.core.errors import InputError
    from assoc_pipeline.services.itemsets import ItemsetSettings, mine_or_update
    from assoc_pipeline_tests.evaluation.helpers import make_baskets

    rows = [(f"u{i % 3}", f"2011-01-01 00:{i:02d}", [i % 4, (i + 1) % 4]) for i in range(40)]
    stored = tmp_path / "frequent_itemsets.parquet"
    write_table(mine_or_update(make_baskets(rows[:30], 4), ItemsetSettings(0.1), stored).itemsets, stored)
    assert mine_or_update(make_baskets(rows, 4), ItemsetSettings(0.1), stored).mode == "incremental"
    with pytest.raises(InputError, match="sees no CUDA device"):
        mine_or_update(make_baskets(rows, 4), ItemsetSettings(0.1, device="cuda"), stored)


# ----------------------------------------------------------------------------- explosion guard


def dense(n_baskets: int, n_items: int) -> sp.csr_matrix:
    return sp.csr_matrix(np.ones((n_baskets, n_items), dtype=bool))


def test_explosion_guard_stops_early_with_a_clear_message() -> None:
    x = dense(30, 40)  # 2**40 frequent itemsets at any support
    with pytest.raises(ItemsetExplosion) as err:
        mine_itemsets(x, 0.5, max_len=12, max_itemsets=50_000)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "min_support=0.5" in msg and "min count 15" in msg and "max_len=12" in msg
    assert "max_itemsets=50,000" in msg and "raise min_support or lower max_len" in msg
    assert 50_000 < err.value.reached < 50_000 + 40**3  # stopped within one chunk of the limit


def test_explosion_guard_options_and_default() -> None:
    x = dense(5, 8)  # 255 itemsets
    assert len(mine_itemsets(x, 1, max_itemsets=255)) == 255
    with pytest.raises(ItemsetExplosion, match="max_itemsets=254"):
        mine_itemsets(x, 1, max_itemsets=254)
    with pytest.raises(ItemsetExplosion, match="min count 1"):
        mine_levels(x, 1, None, max_itemsets=100)
    with pytest.raises(ItemsetExplosion):
        mine_itemsets(x, 1, backend="mlxtend", max_itemsets=100)
    assert len(mine_itemsets(x, 1, max_itemsets=None)) == 255
    import inspect

    assert inspect.signature(mine_levels).parameters["max_itemsets"].default == MAX_ITEMSETS == 5_000_000
    assert inspect.signature(mine_itemsets).parameters["max_itemsets"].default == MAX_ITEMSETS
