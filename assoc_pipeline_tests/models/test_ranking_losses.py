"""The ranker's listwise losses: LambdaRank's pair weights are the NDCG@k change of a swap, read
against a brute-force NDCG, and training on it lifts the positives into the top k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.models.ranking_losses import (
    LOSSES,
    lambdarank_loss,
    listwise_softmax_loss,
    rank_within_lists,
)


def ndcg_at(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Brute-force NDCG@k of one list (binary gains)."""
    order = np.argsort(-scores, kind="stable")[:k]
    dcg = sum(labels[i] / np.log2(r + 2) for r, i in enumerate(order))
    idcg = sum(1 / np.log2(r + 2) for r in range(min(int(labels.sum()), k)))
    return dcg / idcg


def brute_force_lambdarank(scores: np.ndarray, labels: np.ndarray, lists: np.ndarray, k: int) -> float:
    """Mean over lists of sum |NDCG@k(swapped) - NDCG@k| * log(1 + exp(s_neg - s_pos))."""
    per_list = []
    for lst in np.unique(lists):
        s, y = scores[lists == lst], labels[lists == lst]
        if y.sum() == 0:
            continue
        base, total = ndcg_at(s, y, k), 0.0
        for i in np.flatnonzero(y > 0):
            for j in np.flatnonzero(y == 0):
                swapped = s.copy()
                swapped[[i, j]] = swapped[[j, i]]
                total += abs(ndcg_at(swapped, y, k) - base) * np.log1p(np.exp(s[j] - s[i]))
        per_list.append(total)
    return float(np.mean(per_list))


def test_ranks_restart_in_every_list_and_ties_keep_row_order() -> None:
    scores = torch.tensor([0.1, 0.9, 0.5, 3.0, -1.0, 3.0])
    lists = torch.tensor([0, 0, 0, 1, 1, 1])
    starts = torch.tensor([0, 3])
    assert rank_within_lists(scores, lists, starts).tolist() == [2, 0, 1, 0, 2, 1]


@pytest.mark.parametrize("k", [1, 3, 10])
def test_lambdarank_weighs_each_pair_by_the_ndcg_its_swap_changes(k: int) -> None:
    rng = np.random.default_rng(k)
    sizes = rng.integers(2, 12, size=8)
    lists = np.repeat(np.arange(len(sizes)), sizes)
    scores = rng.normal(size=len(lists)).astype(np.float32)
    labels = (rng.random(len(lists)) < 0.3).astype(np.float32)
    labels[0] = 1.0  # at least one list with a positive
    got = lambdarank_loss(torch.tensor(scores), torch.tensor(labels), torch.tensor(lists), k=k)
    assert float(got) == pytest.approx(brute_force_lambdarank(scores, labels, lists, k), rel=1e-5)


def test_lambdarank_training_lifts_the_positives_into_the_top_k() -> None:
    gen = torch.Generator().manual_seed(0)
    lists = torch.repeat_interleave(torch.arange(20), 30)
    labels = (torch.rand(len(lists), generator=gen) < 0.1).float()
    logits = torch.randn(len(lists), generator=gen, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=5.0)
    for _ in range(200):
        opt.zero_grad()
        lambdarank_loss(logits, labels, lists, k=5).backward()
        opt.step()
    s, y, lst = logits.detach().numpy(), labels.numpy(), lists.numpy()
    ndcg = [ndcg_at(s[lst == i], y[lst == i], 5) for i in range(20) if y[lst == i].sum() > 0]
    assert np.mean(ndcg) > 0.99


def test_both_losses_are_finite_and_fall_when_a_positive_moves_up() -> None:
    lists = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    labels = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    low = torch.tensor([1.0, 0.5, 0.0, -0.5, 0.0, 1.0, 2.0])
    high = low.clone()
    high[2], high[4] = 2.0, 3.0
    for name, loss in LOSSES.items():
        worse, better = float(loss(low, labels, lists)), float(loss(high, labels, lists))
        assert np.isfinite(worse) and better < worse, name
    assert listwise_softmax_loss is LOSSES["softmax"]


def test_an_unknown_loss_is_named_before_any_training() -> None:
    with pytest.raises(InputError, match=r"ranker config loss: unknown loss 'listnet'.*lambdarank"):
        RankerRecommender(RankerParams(loss="listnet", device="cpu")).fit(None)  # type: ignore[arg-type]
