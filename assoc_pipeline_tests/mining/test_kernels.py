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
