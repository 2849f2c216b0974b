"""The DNN's training examples kept per user give the rows one concatenated block gave."""

from __future__ import annotations

import numpy as np
import torch

from assoc_pipeline.core.recsys.models.dnn_history import (
    HistoryFeatures,
    next_basket_examples,
    pack_features,
)


def _concatenated(blocks: list[HistoryFeatures]) -> HistoryFeatures:
    items = [b.indices[b.indptr[j] : b.indptr[j + 1]] for b in blocks for j in range(len(b))]
    vals = [b.values[b.indptr[j] : b.indptr[j + 1]] for b in blocks for j in range(len(b))]
    return pack_features(items, vals)


def test_per_user_blocks_read_like_one_block(planted) -> None:
    examples, targets = next_basket_examples(planted, 90.0, 5)  # a short window: prefixes drop baskets
    assert len(examples) == len(targets) == sum(len(b) for b in examples.blocks)
    assert all(b.indices.dtype == np.int32 for b in examples.blocks)
    whole = _concatenated(examples.blocks)
    rng = np.random.default_rng(0)
    cpu = torch.device("cpu")
    n_items = planted.n_items
    picks = (rng.permutation(len(examples))[:64], np.array([len(examples) - 1, 0]), np.zeros(0, dtype=int))
    for rows in picks:
        for got, want in zip(examples.entries(rows), whole.entries(rows), strict=True):
            assert np.array_equal(got, want)
        for got, want in zip(
            examples.sparse(rows, n_items, cpu), whole.sparse(rows, n_items, cpu), strict=True
        ):
            assert torch.equal(got, want)
        assert torch.equal(examples.dense(rows, n_items, cpu), whole.dense(rows, n_items, cpu))


def test_examples_follow_each_users_baskets_in_time_order(planted) -> None:
    examples, targets = next_basket_examples(planted, 90.0, 100)
    users = planted.baskets["user_id"].dropna()
    per_user = users.value_counts()
    assert len(targets) == int((per_user - 1).clip(lower=0).sum())  # every basket after a user's first
    first = examples.entries(np.array([0]))  # the first example: the first user's first basket alone
    assert first[0][0] > 0 and np.allclose(first[2][:, 0], np.log1p(1.0))  # each item bought once so far


def _one_block_reference(bs, days, rows, half_life, max_hist, all_prefixes):
    """Every prefix from one dense (all the user's baskets x items) block, the definition."""
    m = bs.matrix[rows]
    items, local = np.unique(m.indices, return_inverse=True)
    x = np.zeros((len(rows), len(items)), dtype=np.float32)
    x[np.repeat(np.arange(len(rows)), np.diff(m.indptr)), local] = 1.0
    d = days[rows]
    out = []
    for t in range(1, len(rows)) if all_prefixes else [len(rows)]:
        lo = max(0, t - max_hist)
        w = np.power(0.5, (d[t - 1] - d[lo:t]) / half_life).astype(np.float32)
        cnt = x[lo:t].sum(0)
        keep = np.flatnonzero(cnt > 0)
        vals = np.stack(
            [np.log1p(cnt), (w[:, None] * x[lo:t]).sum(0), cnt / (t - lo), (w[:, None] * x[lo:t]).max(0)],
            axis=1,
        )[keep]
        out.append((items[keep], vals.astype(np.float32)))
    return out


def test_a_heavy_users_prefixes_in_chunks_equal_one_dense_block(planted, monkeypatch) -> None:
    """Chunks of 3 prefixes (windows of 2 and of 100 baskets) give each prefix's features to the
    bit, for training examples and for the full history."""
    from assoc_pipeline.core.recsys.models import dnn_history

    monkeypatch.setattr(dnn_history, "PREFIX_CHUNK", 3)
    _, groups = dnn_history._user_groups(planted)
    days = dnn_history._basket_days(planted)
    rows = max(groups, key=len)
    assert len(rows) > 2 * 3  # several chunks
    for max_hist in (2, 100):
        for all_prefixes in (True, False):
            items, vals, targets = dnn_history._features_for_user(
                planted, days, rows, 30.0, max_hist, all_prefixes
            )
            want = _one_block_reference(planted, days, rows, 30.0, max_hist, all_prefixes)
            assert len(items) == len(vals) == len(want)
            for got_i, got_v, (want_i, want_v) in zip(items, vals, want, strict=True):
                assert np.array_equal(got_i, want_i) and np.array_equal(got_v, want_v)
            assert len(targets) == (len(rows) - 1 if all_prefixes else 0)
