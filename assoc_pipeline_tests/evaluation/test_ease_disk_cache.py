"""EASE inverses shared between processes through the disk cache (and its resource)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import dagster as dg
import numpy as np
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.recsys.baselines import ease
from assoc_pipeline.core.recsys.baselines.ease_disk_cache import EaseDiskCache
from assoc_pipeline.resources.ease_cache import EaseCacheResource


def _baskets(seed: int, n_baskets: int = 120, n_items: int = 40) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    x = (rng.random((n_baskets, n_items)) < 0.15).astype(np.float32)
    x[:, -1] = 0.0  # an unbought item: the active-items path
    return sp.csr_matrix(x)


@pytest.fixture
def fresh_process(monkeypatch):
    """This process's own cache emptied and the disk cache off, as in a new step process."""
    monkeypatch.setattr(ease, "_RECENT", {})
    monkeypatch.setattr(ease, "_DISK", None)


def _no_inverse(*_args, **_kwargs):
    raise AssertionError("computed an inverse the disk cache holds")


def test_a_block_computed_by_another_process_is_read_not_recomputed(tmp_path, fresh_process, monkeypatch):
    matrix = _baskets(1)
    script = textwrap.dedent(
        f"""
        import numpy as np, scipy.sparse as sp
        from pathlib import Path
        from assoc_pipeline.core.recsys.baselines import ease
        from assoc_pipeline.core.recsys.baselines.ease_disk_cache import EaseDiskCache
        m = sp.load_npz({str(tmp_path / "m.npz")!r})
        ease.share_on_disk(EaseDiskCache(Path({str(tmp_path / "cache")!r}), 1 << 30))
        np.save({str(tmp_path / "b.npy")!r}, ease.ease_weights(m, 7.0))
        """
    )
    sp.save_npz(tmp_path / "m.npz", matrix)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    theirs = np.load(tmp_path / "b.npy")

    ease.share_on_disk(EaseDiskCache(tmp_path / "cache", 1 << 30))
    monkeypatch.setattr(ease, "_ease_block", _no_inverse)
    ours = ease.ease_weights(matrix, 7.0)
    assert np.array_equal(ours, theirs)  # the same weights, to the bit
    assert not ours.flags.writeable
    assert ours[:, -1].max() == 0.0 and ours.shape == (40, 40)
    with pytest.raises(AssertionError, match="computed an inverse"):
        ease.ease_weights(matrix, 8.0)  # another lambda is another entry


def test_the_large_catalogue_block_is_shared_too(tmp_path, fresh_process, monkeypatch):
    matrix = _baskets(2)
    cache = EaseDiskCache(tmp_path, 1 << 30)
    ease.share_on_disk(cache)
    first = ease.ease_item_weights(matrix, 5.0, max_items=12, keep=False)
    assert first.block.flags.writeable  # computed with keep=False: the caller's own
    monkeypatch.setattr(ease, "_RECENT", {})
    monkeypatch.setattr(ease, "_ease_block", _no_inverse)
    mine = ease.ease_item_weights(matrix, 5.0, max_items=12, keep=False)
    assert mine.block.flags.writeable and not ease._RECENT  # the caller's own copy, not kept here
    again = ease.ease_item_weights(matrix, 5.0, max_items=12)
    assert not again.block.flags.writeable  # mapped: processes reading it share its pages
    for read in (mine, again):
        assert np.array_equal(read.items, first.items) and np.array_equal(read.block, first.block)
        assert read.block.flags.c_contiguous  # scipy's sparse @ dense copies any other layout each time


def test_without_a_disk_cache_nothing_is_written(tmp_path, fresh_process):
    ease.ease_weights(_baskets(3), 7.0)
    assert not any(tmp_path.iterdir())


def test_oldest_blocks_are_evicted_beyond_the_size_limit(tmp_path, fresh_process):
    one_block = 40 * 40 * 4 + 128  # a 40-item float32 block and its .npy header
    cache = EaseDiskCache(tmp_path, 2 * one_block)
    ease.share_on_disk(cache)
    keys = []
    for seed in range(4):
        m = _baskets(10 + seed)
        ease.ease_weights(m, 7.0)
        keys.append((ease._matrix_key(m), 7.0))
    stored = [cache.read(k) is not None for k in keys]
    assert stored == [False, False, True, True]
    assert len(list(tmp_path.glob("*.items.npy"))) == 2  # the item lists go with their blocks


def test_a_damaged_file_is_recomputed_not_trusted(tmp_path, fresh_process):
    matrix = _baskets(4)
    ease.share_on_disk(EaseDiskCache(tmp_path, 1 << 30))
    expected = np.array(ease.ease_weights(matrix, 7.0))
    (block_file,) = [p for p in tmp_path.glob("*.npy") if not p.name.endswith(".items.npy")]
    block_file.write_bytes(block_file.read_bytes()[:100])  # truncated, e.g. a full disk
    ease._RECENT.clear()
    assert np.array_equal(ease.ease_weights(matrix, 7.0), expected)


def test_the_resource_shares_the_cache_only_while_its_step_runs(tmp_path, fresh_process):
    seen = []

    @dg.asset
    def fits_ease(ease_cache: EaseCacheResource) -> None:
        seen.append(ease._DISK)

    resource = EaseCacheResource(directory=str(tmp_path / "ease"), max_mb=64)
    assert dg.materialize([fits_ease], resources={"ease_cache": resource}).success
    assert seen == [EaseDiskCache(tmp_path / "ease", 64 << 20)]
    assert ease._DISK is None  # torn down after the step
    off = EaseCacheResource(directory=str(tmp_path / "ease"), max_mb=0)
    assert dg.materialize([fits_ease], resources={"ease_cache": off}).success
    assert seen[-1] is None
