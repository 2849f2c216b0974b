"""Every data-structure choice of every kernel equals brute force and mlxtend on random data.

The compiled kernel picks its structures per data set and per branch (vertical bitsets or
per-class ``D_a`` bitsets, squeezed bitsets, tid lists, batched counting passes); here each
choice is forced in turn, as is the numpy fallback; the GPU path runs on torch's CPU device.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assoc_pipeline.core.data.basket_line_files import read_fimi
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.mining import ItemsetExplosion, limits, mine_itemsets
from assoc_pipeline.core.mining import eclat_numba as en
from assoc_pipeline.core.mining.native_backend import KERNEL_ENV, choose_kernel, mine_levels

from .conftest import dataset
from .helpers import as_dict, brute_itemsets, matrix_of

N_ITEMS = 8
ALWAYS = 1  # squeeze ratio that squeezes every branch wider than one word (it holds under 1/1 of its bits)

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


@st.composite
def in_blocks(draw: st.DrawFn) -> list[list[int]]:
    """Baskets made of whole blocks of items (an item's block drawn at random) plus a stray item
    at times: items of one block always occur together, so most extensions are perfect."""
    block_of = draw(st.lists(st.integers(0, 3), min_size=N_ITEMS, max_size=N_ITEMS))
    baskets = draw(
        st.lists(
            st.tuples(st.sets(st.integers(0, 3), max_size=4), st.none() | st.integers(0, N_ITEMS - 1)),
            min_size=1,
            max_size=90,
        )
    )
    return [[i for i in range(N_ITEMS) if block_of[i] in blocks or i == stray] for blocks, stray in baskets]


@pytest.mark.parametrize("options", [opts for _, opts in CHOICES], ids=IDS)
@SETTINGS
@given(lists=in_blocks(), min_count=st.integers(1, 20), max_len=st.none() | st.integers(1, 5))
def test_choice_equals_brute_force_when_items_come_in_blocks(
    options: dict, lists: list[list[int]], min_count: int, max_len: int | None
) -> None:
    """Perfect extensions everywhere (the kernel emits them as combinations, not searched), with
    and without a length limit that cuts the combinations."""
    got = mine_itemsets(matrix_of(lists, N_ITEMS), min_count, max_len=max_len, **options)
    assert as_dict(got) == brute_itemsets(lists, min_count, max_len)
    assert len(got) == len(brute_itemsets(lists, min_count, max_len))


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


NUMBA_CHOICES = [(name, opts) for name, opts in CHOICES if opts.get("kernel") == "numba"]


@pytest.mark.parametrize("options", [opts for _, opts in NUMBA_CHOICES], ids=[n for n, _ in NUMBA_CHOICES])
@pytest.mark.parametrize("max_itemsets", [500, None])
def test_many_perfect_extensions_stop_with_the_explosion_error(
    options: dict, max_itemsets: int | None
) -> None:
    """64 items in every basket: over 2^64 itemsets, nearly all combinations of perfect
    extensions, counted before any is written. The count once overflowed int64 (two saturated
    counts added: the rarest item has one non-perfect extension, the other rare item, and 64
    perfect ones), and the kernel wrote past its output instead of stopping."""
    rng = np.random.default_rng(0)
    dense = np.hstack([rng.random((100, 2)) < 0.5, np.ones((100, 64), dtype=bool)])
    with pytest.raises(ItemsetExplosion) as err:
        mine_itemsets(sp.csr_matrix(dense), 0.1, max_itemsets=max_itemsets, **options)
    assert err.value.reached > err.value.max_itemsets


def _torch_levels(
    lists: list[list[int]],
    min_count: int,
    max_len: int | None,
    limit: int | None = None,
    read_only: bool = False,
):
    """The GPU path (:mod:`.apriori_torch`) on torch's CPU device, with batches of a few bytes so
    that every chunking path runs (pair counts over chunks of 2 baskets, a few candidates a batch).
    ``read_only``: the CSR arrays are read-only, as those Arrow lends."""
    pytest.importorskip("torch")
    from assoc_pipeline.core.mining import apriori_torch
    from assoc_pipeline.core.mining.limits import ItemsetBudget
    from assoc_pipeline.core.mining.rank_space import RankSpace, canonical_csr

    x = canonical_csr(matrix_of(lists, N_ITEMS))
    rs = RankSpace.of(x, min_count)
    for a in (x.indptr, x.indices) if read_only else ():
        a.flags.writeable = False
    budget = ItemsetBudget(limit, min_count, x.shape[0], max_len)
    budget.add(rs.f)  # the single items, as mine_levels counts them
    with pytest.MonkeyPatch.context() as m:
        m.setattr(apriori_torch, "BATCH_BYTES", 8 * max(rs.f, 1))
        levels = apriori_torch.mine_levels_torch(x, rs, min_count, max_len, budget, "cpu")
    found = {1: (rs.order[:, None], rs.counts)} if rs.f and (max_len is None or max_len >= 1) else {}
    return {**found, **levels}


def test_gpu_path_takes_read_only_arrays_without_a_warning() -> None:
    """Arrow lends read-only arrays, which torch warns about sharing: the path copies them first,
    and its itemsets are those of writable arrays."""
    lists = [[0, 1, 2], [0, 1], [1, 2, 3], [0, 1, 2, 3], [2, 3]] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_only = _torch_levels(lists, 2, None, read_only=True)
    writable = _torch_levels(lists, 2, None)
    assert read_only.keys() == writable.keys() and len(read_only) >= 3
    for k, (rows, counts) in writable.items():
        assert np.array_equal(read_only[k][0], rows) and np.array_equal(read_only[k][1], counts)


@SETTINGS
@given(lists=wide | in_blocks(), min_count=st.integers(1, 20), max_len=st.none() | st.integers(1, 5))
def test_gpu_path_on_torch_cpu_tensors(lists: list[list[int]], min_count: int, max_len: int | None) -> None:
    """The GPU path (level-wise Apriori in torch) on torch's CPU device equals brute force."""
    levels = _torch_levels(lists, min_count, max_len)
    got = {
        tuple(sorted(row)): int(c)
        for rows, cs in levels.values()
        for row, c in zip(rows.tolist(), cs, strict=True)
    }
    assert len(got) == sum(len(c) for _, c in levels.values())  # each itemset once
    assert got == brute_itemsets(lists, min_count, max_len)


def test_gpu_path_stops_at_the_itemset_limit() -> None:
    rng = np.random.default_rng(0)
    lists = [np.flatnonzero(rng.random(N_ITEMS) < 0.9).tolist() for _ in range(200)]
    with pytest.raises(ItemsetExplosion) as err:
        _torch_levels(lists, 1, None, limit=100)
    assert 100 < err.value.reached <= 100 + N_ITEMS  # stopped within one batch of candidates


def test_gpu_path_needs_a_gpu() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: benchmarks/mining.py --device cuda times this path")
    with pytest.raises(InputError, match=r"no CUDA device.*use device='cpu'"):
        mine_itemsets(matrix_of([[0, 1], [0, 1]], N_ITEMS), 1, device="cuda")


def test_device_cuda_runs_the_gpu_path_through_mine_itemsets(gpu_path_runs: list[str]) -> None:
    """``device="cuda"`` reaches the torch kernel (on torch's CPU device where no GPU is present)
    and gives the CPU kernel's itemsets on real dense data."""
    x = read_fimi(dataset("fimi/chess.dat")).matrix
    got = mine_itemsets(x, 0.8, device="cuda")
    assert len(gpu_path_runs) == 1
    assert len(got) == 8227 and got.digest() == mine_itemsets(x, 0.8).digest()


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
    assert choose_kernel(device="cuda") == "torch"
    with pytest.raises(ValueError, match="kernel"):
        choose_kernel("cobol")
    for cpu_kernel in ("numba", "numpy"):
        with pytest.raises(ValueError, match="cuda"):
            choose_kernel(cpu_kernel, device="cuda")


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


GUARD = 64  # cells past a buffer's end, filled with SENTINEL: a write past the checked room hits them
SENTINEL = 0x5A5A


def _guarded(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` grown to exactly ``size`` cells, as a view of a larger array whose tail is SENTINEL."""
    big = np.full(max(size, len(a)) + GUARD, SENTINEL, dtype=a.dtype)
    big[: len(a)] = a
    return big[: max(size, len(a))]


def _tail_intact(view: np.ndarray) -> bool:
    return bool(np.all(view.base[len(view) :] == SENTINEL))


def _resumed(search, buffers: list[np.ndarray], needs_of: list[int | None], frames, n: int, args: tuple):
    """Run a search, growing each buffer to exactly the room it asks for (``needs_of[b]``: which
    of the returned needs is buffer b's; None: a buffer sized once, the perfect stack), checking
    after every call that nothing was written past a buffer's end. Returns the buffers, ``n``
    and how many returns came from below the first frame."""
    depth, deep = 1, 0
    while True:
        views = [_guarded(b, 0) for b in buffers]
        depth, n, status, *needs = search(*views[:-4], *views[-4:], frames, depth, n, *args)
        assert all(_tail_intact(v) for v in views)
        buffers = [v.copy() for v in views]
        if status != en.STATUS_ROOM:
            assert status == en.STATUS_OK
            return buffers, n, deep
        deep += depth > 1
        buffers = [
            b if k is None else _guarded(b, needs[k]).copy() for b, k in zip(buffers, needs_of, strict=True)
        ]


def _vertical_inputs(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One ``n``-bit tidset per item (``width`` words each), every item's tid list, their sizes."""
    width = (len(lists) + 63) >> 6
    bits = np.zeros((N_ITEMS, width), dtype=np.uint64)
    tids: list[list[int]] = [[] for _ in range(N_ITEMS)]
    for r, basket in enumerate(lists):
        for i in set(basket):
            bits[i, r >> 6] |= np.uint64(1) << np.uint64(r & 63)
            tids[i].append(r)
    tl = np.array([t for ts in tids for t in ts], dtype=np.int32)
    return bits, tl, np.array([len(t) for t in tids], dtype=np.int64), width


def _check_resumed_searches(
    lists: list[list[int]], min_count: int, squeeze: int, max_len: int = 1 << 30
) -> int:
    """Both searches, each buffer grown to exactly the room asked for: nothing written past it,
    the itemsets of brute force (up to ``max_len`` items), the same ones in the same order from
    both. Returns how many times the bitset search returned for room below its first frame."""
    bits, tl, sizes, width = _vertical_inputs(lists)
    m = N_ITEMS
    ids = np.arange(m, dtype=np.int64)
    out = [ids * 0 - 1, ids.astype(np.int32), sizes, np.ones(m, dtype=np.int16)]  # the single items
    limits_ = (min_count, max_len, 1 << 62)

    perfect = np.empty(m + 1, dtype=np.int32)
    frames = np.zeros((m + 2, en.FR_COLUMNS), dtype=np.int64)
    frames[0, en.FR_WIDTH], frames[0, en.FR_M] = width, m  # prefix length 0: the root
    (_, _, _, _, *b_out), n, b_deep = _resumed(
        en._search_bitsets, [bits.ravel(), ids.astype(np.int32), ids, perfect, *out],
        [0, 1, 1, None, 2, 2, 2, 2], frames, m, (*limits_, squeeze),
    )  # fmt: skip
    found = list(zip(*(a[:n].tolist() for a in b_out), strict=True))

    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    frames = np.zeros((m + 2, en.FL_COLUMNS), dtype=np.int64)
    frames[0, en.FL_M], frames[0, en.FL_LEN], frames[0, en.FL_FREE] = m, 1, len(tl)
    as_pairs = [*out[:3], out[3] + 1]
    (*_, l_parent, l_item, l_support, l_length), n_lists, _ = _resumed(
        en._search_lists, [tl, starts, np.cumsum(sizes), ids.astype(np.int32), ids, perfect, *as_pairs],
        [0, 1, 1, 1, 1, None, 2, 2, 2, 2], frames, m, (min_count, max_len + 1, 1 << 62),
    )  # fmt: skip
    assert n_lists == n  # a class search (its single items are given as pairs, length 2)
    assert (l_parent[:n].tolist(), l_item[:n].tolist(), l_support[:n].tolist()) == (
        b_out[0][:n].tolist(), b_out[1][:n].tolist(), b_out[2][:n].tolist(),
    )  # fmt: skip
    assert (l_length[m:n] == b_out[3][m:n] + 1).all()

    sets: list[tuple] = []  # itemset i = itemset parent[i] + item[i]
    for parent, item, _, _ in found:
        sets.append(tuple(sorted(sets[parent] + (item,))) if parent >= 0 else (item,))
    assert len(set(sets)) == len(sets)  # each itemset once (a perfect extension's combination too)
    assert [len(s) for s in sets] == [length for *_, length in found]
    longer = {s: c for s, c in brute_itemsets(lists, min_count, max_len).items() if len(s) > 1}
    assert {s: c for s, (_, _, c, _) in zip(sets[m:], found[m:], strict=True)} == longer
    return b_deep


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lists=wide | in_blocks(),
    min_count=st.integers(1, 12),
    squeeze=st.sampled_from([en.SQUEEZE_NEVER, ALWAYS]),
    max_len=st.sampled_from([1 << 30, 2, 3, 4]),
)
def test_searches_resume_after_every_growth_and_write_only_inside_the_room_checked(
    lists: list[list[int]], min_count: int, squeeze: int, max_len: int
) -> None:
    """The searches return whenever a buffer lacks room and resume where they were."""
    _check_resumed_searches(lists, min_count, squeeze, max_len)


@pytest.mark.parametrize("squeeze", [en.SQUEEZE_NEVER, ALWAYS])
def test_searches_resume_deep_in_a_dense_search(squeeze: int) -> None:
    """Dense data (most of the 247 itemsets of 2+ items frequent): the searches stop for room
    below their first frame too, and still find exactly brute force's itemsets."""
    rng = np.random.default_rng(7)
    lists = [np.flatnonzero(rng.random(N_ITEMS) < 0.7).tolist() for _ in range(150)]
    assert _check_resumed_searches(lists, 3, squeeze) > 5
