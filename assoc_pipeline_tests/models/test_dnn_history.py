"""The DNN's history features, computed per batch from basket windows, equal their definition:
every prefix of a user's baskets as one dense (baskets x items) block, to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assoc_pipeline.core.recsys.models.dnn_history import (
    _basket_days,
    _user_groups,
    next_basket_examples,
    pack_features,
    user_history_features,
)
from assoc_pipeline_tests.models.conftest import planted_baskets


@pytest.fixture(scope="module")
def regulars():
    """60 baskets per user: favourites re-bought in far more than 8 baskets of a window (the
    decayed count is then a long float32 sum, whose order must be time order)."""
    return planted_baskets(n_users=12, n_baskets=60, seed=3)


def _definition(bs, half_life: float, max_hist: int, all_prefixes: bool):
    """Per user and prefix (baskets before t; every t >= 1, or only the whole history): the
    features from a dense block of the user's baskets, and the basket the prefix predicts."""
    days = _basket_days(bs)
    out = []
    for rows in _user_groups(bs)[1]:
        m = bs.matrix[rows]
        items, local = np.unique(m.indices, return_inverse=True)
        x = np.zeros((len(rows), len(items)), dtype=np.float32)
        x[np.repeat(np.arange(len(rows)), np.diff(m.indptr)), local] = 1.0
        d = days[rows]
        for t in range(1, len(rows)) if all_prefixes else [len(rows)]:
            lo = max(0, t - max_hist)
            w = np.power(0.5, (d[t - 1] - d[lo:t]) / half_life).astype(np.float32)
            cnt = x[lo:t].sum(0)
            keep = np.flatnonzero(cnt > 0)
            vals = np.stack(
                [np.log1p(cnt), (w[:, None] * x[lo:t]).sum(0), cnt / (t - lo), (w[:, None] * x[lo:t]).max(0)],
                axis=1,
            )[keep]
            target = m.indices[m.indptr[t] : m.indptr[t + 1]] if all_prefixes else None
            out.append((items[keep], vals.astype(np.float32), target))
    return out


@pytest.mark.parametrize("max_hist", [2, 100])
def test_training_examples_equal_the_dense_definition(regulars, max_hist: int) -> None:
    """Every example's items, features and target, in the same order, read in random batches."""
    examples = next_basket_examples(regulars, 30.0, max_hist)
    want = _definition(regulars, 30.0, max_hist, all_prefixes=True)
    users = regulars.baskets["user_id"].value_counts()
    assert len(examples) == len(want) == int((users - 1).sum())  # every basket after a user's first
    rng = np.random.default_rng(0)
    for rows in (rng.permutation(len(examples))[:97], np.arange(len(examples)), np.zeros(0, dtype=int)):
        lens, items, values = examples.entries(rows)
        stored = pack_features([want[r][0] for r in rows], [want[r][1] for r in rows])
        assert np.array_equal(lens, np.diff(stored.indptr))
        assert np.array_equal(items, stored.indices) and np.array_equal(values, stored.values)
        for got, target in zip(examples.targets(rows), (want[r][2] for r in rows), strict=True):
            assert np.array_equal(got, target)
        cpu = torch.device("cpu")
        for got, expect in zip(
            examples.sparse(rows, regulars.n_items, cpu),
            stored.sparse(np.arange(len(rows)), regulars.n_items, cpu),
            strict=True,
        ):
            assert torch.equal(got, expect)


@pytest.mark.parametrize("max_hist", [2, 100])
def test_scoring_history_is_each_users_whole_window(regulars, max_hist: int) -> None:
    ids, history = user_history_features(regulars, 30.0, max_hist)
    want = _definition(regulars, 30.0, max_hist, all_prefixes=False)
    assert list(ids) == sorted(regulars.baskets["user_id"].dropna().astype(str).unique())
    assert len(history) == len(want)
    for r, (items, vals, _) in enumerate(want):
        lo, hi = history.indptr[r], history.indptr[r + 1]
        assert np.array_equal(history.indices[lo:hi], items) and np.array_equal(history.values[lo:hi], vals)


def test_a_window_reads_only_its_users_baskets_before_its_target(planted) -> None:
    """The first example is a user's first basket alone; no window reaches its target."""
    examples = next_basket_examples(planted, 90.0, 100)
    lens, _, values = examples.entries(np.array([0]))
    assert lens[0] > 0 and np.allclose(values[:, 0], np.log1p(1.0))  # each item bought once so far
    assert np.all(examples.start < examples.end)
    times = planted.baskets["basket_time"].to_numpy()
    users = planted.baskets["user_id"].to_numpy()
    for e in np.random.default_rng(1).permutation(len(examples))[:50]:
        window = examples.rows[examples.start[e] : examples.end[e]]
        target = examples.rows[examples.end[e]]
        assert set(users[window]) == {users[target]}
        assert times[window].max() <= times[target]
