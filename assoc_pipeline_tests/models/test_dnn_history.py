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
