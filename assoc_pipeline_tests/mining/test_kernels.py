"""Every data-structure choice of every kernel equals brute force and mlxtend on random data.

The compiled kernel picks its structures per data set and per branch (vertical bitsets or
per-class ``D_a`` bitsets, squeezed bitsets, tid lists, batched counting passes); here each
choice is forced in turn, as is the numpy fallback and the CUDA code path on torch's CPU device.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assoc_pipeline.core.mining import ItemsetExplosion, limits, mine_itemsets
from assoc_pipeline.core.mining import eclat_numba as en
from assoc_pipeline.core.mining.native_backend import KERNEL_ENV, choose_kernel, mine_levels

from .helpers import as_dict, brute_itemsets, matrix_of

N_ITEMS = 8
ALWAYS = 1 << 40  # squeeze ratio that squeezes every branch wider than one word

# (name, mine_itemsets options): one entry per data-structure choice
CHOICES: list[tuple[str, dict]] = [
    ("numba vertical bitsets", dict(kernel="numba", layout="vertical", squeeze=en.SQUEEZE_NEVER)),
    ("numba vertical squeezed", dict(kernel="numba", layout="vertical", squeeze=ALWAYS)),
    (
        "numba class bitsets",
        dict(kernel="numba", layout="classes", squeeze=en.SQUEEZE_NEVER, tidlist_density=en.TIDLIST_NEVER),
    ),
    (
        "numba class bitsets squeezed",
        dict(kernel="numba", layout="classes", squeeze=ALWAYS, tidlist_density=en.TIDLIST_NEVER),
    ),
    ("numba class tid lists", dict(kernel="numba", layout="classes", tidlist_density=en.TIDLIST_ALWAYS)),
    (
        "numba one class per pass",  # smallest pair table and tidset batch: every batching path
        dict(kernel="numba", layout="classes", pair_cells=1, batch_words=1),
    ),
    (
        "numba a few classes per pass",  # the triangular pair table split unevenly across passes
        dict(kernel="numba", layout="classes", pair_cells=20, batch_words=64),
    ),
    ("numba auto", dict(kernel="numba")),
    ("numpy fallback", dict(kernel="numpy")),
]
IDS = [name for name, _ in CHOICES]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

small = st.lists(st.lists(st.integers(0, N_ITEMS - 1), min_size=0, max_size=7), min_size=1, max_size=40)
# over 64 baskets, so that tidsets span several words and squeezing has something to do
wide = st.lists(st.lists(st.integers(0, N_ITEMS - 1), min_size=0, max_size=7), min_size=65, max_size=150)


@pytest.mark.parametrize("options", [opts for _, opts in CHOICES], ids=IDS)
@SETTINGS
@given(lists=small, min_count=st.integers(1, 6), max_len=st.none() | st.integers(1, 4))
def test_choice_equals_brute_force_small(
    options: dict, lists: list[list[int]], min_count: int, max_len: int | None
) -> None:
    got = mine_itemsets(matrix_of(lists, N_ITEMS), min_count, max_len=max_len, **options)
    assert as_dict(got) == brute_itemsets(lists, min_count, max_len)


@pytest.mark.parametrize("options", [opts for _, opts in CHOICES], ids=IDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lists=wide, min_count=st.integers(1, 30))
def test_choice_equals_mlxtend_and_brute_force_wide(
    options: dict, lists: list[list[int]], min_count: int
) -> None:
    x = matrix_of(lists, N_ITEMS)
    got = mine_itemsets(x, min_count, **options)
    ref = mine_itemsets(x, min_count, backend="mlxtend")
    assert as_dict(got) == as_dict(ref) == brute_itemsets(lists, min_count)
    assert got.digest() == ref.digest()


EDGE_CASES = {
    "no baskets": ([], 1),
    "only empty baskets": ([[], [], []], 1),
    "one item": ([[3]] * 5, 2),
    "item in every basket": ([[0, 1], [0, 2], [0, 1, 2], [0]] * 20, 5),
    "threshold = every basket": ([[0, 1, 2]] * 70 + [[0, 1]], 71),
    "one long basket": ([list(range(N_ITEMS))], 1),
    "nothing frequent": ([[0], [1], [2]], 2),
}


@pytest.mark.parametrize("options", [opts for _, opts in CHOICES], ids=IDS)
@pytest.mark.parametrize("case", list(EDGE_CASES))
@pytest.mark.parametrize("max_len", [None, 1, 2])
def test_choice_edge_cases(options: dict, case: str, max_len: int | None) -> None:
    lists, min_count = EDGE_CASES[case]
    x = matrix_of(lists, N_ITEMS) if lists else sp.csr_matrix((0, N_ITEMS), dtype=bool)
    got = mine_itemsets(x, min_count, max_len=max_len, **options)
    assert as_dict(got) == brute_itemsets(lists, min_count, max_len)


@SETTINGS
@given(lists=wide, min_count=st.integers(1, 20))
def test_cuda_code_path_on_torch_cpu_tensors(lists: list[list[int]], min_count: int) -> None:
    """The GPU path (numpy kernel, tidset ANDs in torch) on torch's CPU device."""
    pytest.importorskip("torch")
    from assoc_pipeline.core.mining import tidset_ops

    ops = tidset_ops.TorchOps("cpu")
    ops.min_bytes = 0  # every block goes through torch, however small
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tidset_ops, "ops_for", lambda device: ops)
        got = mine_itemsets(matrix_of(lists, N_ITEMS), min_count, kernel="numpy")
    assert as_dict(got) == brute_itemsets(lists, min_count)


def test_environment_forces_the_fallback(monkeypatch) -> None:
    monkeypatch.setenv(KERNEL_ENV, "numpy")
    assert choose_kernel() == "numpy"
    assert choose_kernel("numba") == "numba"  # an explicit choice wins over the environment
    monkeypatch.setenv(KERNEL_ENV, "numba")
    assert choose_kernel() == "numba"
    monkeypatch.setenv(KERNEL_ENV, "fortran")
    with pytest.raises(ValueError, match=KERNEL_ENV):
        choose_kernel()
    monkeypatch.delenv(KERNEL_ENV)
    assert choose_kernel(device="cuda") == "numpy"
    with pytest.raises(ValueError, match="kernel"):
        choose_kernel("cobol")
    with pytest.raises(ValueError, match="cuda"):
        choose_kernel("numba", device="cuda")


def test_numba_only_options_are_refused_by_the_fallback() -> None:
    with pytest.raises(TypeError, match="numba"):
        mine_itemsets(matrix_of([[0, 1]], 2), 1, kernel="numpy", squeeze=2)
    with pytest.raises(ValueError, match="layout"):
        mine_itemsets(matrix_of([[0, 1]], 2), 1, kernel="numba", layout="diagonal")


@pytest.mark.parametrize("options", [opts for _, opts in CHOICES], ids=IDS)
def test_explosion_stops_every_kernel_early(options: dict) -> None:
    """Dense random data (2^16 itemsets at count 1): every choice stops near the limit."""
    rng = np.random.default_rng(0)
    x = sp.csr_matrix(rng.random((200, 16)) < 0.9)
    with pytest.raises(ItemsetExplosion) as err:
        mine_itemsets(x, 1, max_itemsets=500, **options)
    assert 500 < err.value.reached < 500 + 16 * 16  # stopped within one batch of candidates
    assert isinstance(err.value, limits.ItemsetExplosion)


def test_real_dense_and_sparse_data_agree_across_kernels() -> None:
    """mushroom (dense) and retail (sparse), each kernel and layout: identical digests."""
    from assoc_pipeline.core.data.basket_line_files import read_fimi

    from .conftest import dataset

    for name, support in (("fimi/mushroom.dat", 0.25), ("fimi/retail.dat.gz", 0.004)):
        x = read_fimi(dataset(name)).matrix
        ref = mine_itemsets(x, support, kernel="numpy").digest()
        for layout in ("vertical", "classes"):
            for tid in (en.TIDLIST_NEVER, en.TIDLIST_ALWAYS):
                got = mine_itemsets(x, support, kernel="numba", layout=layout, tidlist_density=tid)
                assert got.digest() == ref, (name, layout, tid)
    levels, item_counts = mine_levels(x, 400, kernel="numba")
    assert int(item_counts.sum()) == x.nnz and set(levels) <= set(range(1, 20))


def test_auto_skips_compiling_numba_for_a_small_input(monkeypatch, tmp_path) -> None:
    """A small input on a machine where the kernel is not compiled yet runs on numpy (seconds)
    rather than waiting for numba's one-off compilation; a big one, or a warm cache, uses numba."""
    from assoc_pipeline.core.mining.native_backend import NUMBA_WORTH_COMPILING

    monkeypatch.delenv(KERNEL_ENV, raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # an empty cache: nothing compiled
    assert choose_kernel(nnz=1_000) == "numpy"
    assert choose_kernel(nnz=NUMBA_WORTH_COMPILING) == "numba"
    (tmp_path / "eclat_numba._grow-60.py311.nbi").write_bytes(b"")  # now it is cached
    assert choose_kernel(nnz=1_000) == "numba"


def _vertical_inputs(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray, int]:
    """One ``n``-bit tidset per item (``width`` words each) and every item's tid list."""
    width = (len(lists) + 63) >> 6
    bits = np.zeros((N_ITEMS, width), dtype=np.uint64)
    tids: list[list[int]] = [[] for _ in range(N_ITEMS)]
    for r, basket in enumerate(lists):
        for i in set(basket):
            bits[i, r >> 6] |= np.uint64(1) << np.uint64(r & 63)
            tids[i].append(r)
    return bits, np.array([t for ts in tids for t in ts], dtype=np.int32), width


def _found(out: tuple, n: int) -> list[tuple]:
    return list(zip(*(a[:n].tolist() for a in out), strict=True))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lists=wide, min_count=st.integers(1, 20), squeeze=st.sampled_from([en.SQUEEZE_NEVER, ALWAYS]))
def test_searches_resume_after_growing_buffers_with_no_room(
    lists: list[list[int]], min_count: int, squeeze: int
) -> None:
    """Both searches stop to let their caller grow a buffer and resume where they were: started
    with exactly the room of their input, they find what they find with room to spare."""
    bits, tl, width = _vertical_inputs(lists)
    m = N_ITEMS
    ids = np.arange(m, dtype=np.int64)
    sizes = np.array([sum(i in b for b in lists) for i in range(m)], dtype=np.int64)

    def out_of(size: int) -> tuple:  # the single items: parent, item, support, length
        out = tuple(np.zeros(size, dtype=t) for t in (np.int64, np.int32, np.int64, np.int16))
        out[0][:m], out[1][:m], out[2][:m], out[3][:m] = -1, ids, sizes, 1
        return out

    def bitsets(room: int) -> list[tuple]:
        arena = np.zeros(m * width + room, dtype=np.uint64)
        arena[: m * width] = bits.ravel()
        ext_item = np.zeros(m + room, dtype=np.int32)
        ext_item[:m] = ids
        ext_id = np.zeros(m + room, dtype=np.int64)
        ext_id[:m] = ids
        *_, out, n, status = en._dfs_bitsets(
            arena, width, m, ext_item, ext_id, out_of(m + room), m, min_count, 1 << 30, 1 << 62, squeeze, 0
        )
        assert status == en.STATUS_OK
        return _found(out, n)

    def tid_lists(room: int) -> list[tuple]:
        starts = np.zeros(m + room, dtype=np.int64)
        starts[1:m] = np.cumsum(sizes)[:-1]
        ends = np.zeros(m + room, dtype=np.int64)
        ends[:m] = np.cumsum(sizes)
        buf = np.zeros(len(tl) + room, dtype=np.int32)
        buf[: len(tl)] = tl
        items = np.zeros(m + room, dtype=np.int32)
        items[:m] = ids
        meta_ids = np.zeros(m + room, dtype=np.int64)
        meta_ids[:m] = ids
        _, out, n, status = en._dfs_lists(
            buf, len(tl), m, starts, ends, items, meta_ids, out_of(m + room), m, min_count, 1 << 30, 1 << 62
        )
        assert status == en.STATUS_OK
        return _found(out, n)

    roomy = 1 << 16
    found = bitsets(0)
    assert found == bitsets(roomy)
    assert tid_lists(0) == tid_lists(roomy)
    sets: list[tuple] = []  # itemset i = itemset parent[i] + item[i]
    for parent, item, _, _ in found:
        sets.append(tuple(sorted(sets[parent] + (item,))) if parent >= 0 else (item,))
    longer = {s: c for s, c in brute_itemsets(lists, min_count).items() if len(s) > 1}
    assert {s: c for s, (_, _, c, _) in zip(sets[m:], found[m:], strict=True)} == longer
