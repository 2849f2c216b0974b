"""Listwise losses of the ranker over a batch of candidate lists laid out row by row.

Each loss takes ``(logits, labels, list_of_row)``: one logit and one 0/1 label per (list, candidate)
row, and the list each row belongs to. Rows of a list must be contiguous and lists numbered
``0..n-1`` in row order (what :func:`~assoc_pipeline.core.recsys.ranking_lists.rows_of_lists` gives).

Why two: the softmax (ListNet) loss moves probability mass onto the positives wherever they sit in
the list; LambdaRank weighs each (positive, negative) pair by the NDCG@k the swap of the two would
change, so it spends the model on the top of the list, which is what NDCG@10 and recall@10 read.
On the shipped data's validation period LambdaRank@10 ranked repeats better (benchmarks/RESULTS.md,
"Ranker benchmark: reading").
"""

from __future__ import annotations

import torch


def listwise_softmax_loss(
    logits: torch.Tensor, labels: torch.Tensor, list_of_row: torch.Tensor
) -> torch.Tensor:
    """Mean over lists of -sum(label * log softmax within the list) / positives (ListNet-style)."""
    n = int(list_of_row.max()) + 1 if len(list_of_row) else 0
    logits = logits.float()
    top = torch.full((n,), -torch.inf, device=logits.device).scatter_reduce(
        0, list_of_row, logits, reduce="amax", include_self=True
    )
    shifted = logits - top[list_of_row]
    denom = torch.zeros(n, device=logits.device).index_add(0, list_of_row, shifted.exp())
    logp = shifted - denom.log()[list_of_row]
    pos = torch.zeros(n, device=logits.device).index_add(0, list_of_row, labels)
    per_list = -torch.zeros(n, device=logits.device).index_add(0, list_of_row, labels * logp)
    has = pos > 0
    return (per_list[has] / pos[has]).mean()


def rank_within_lists(scores: torch.Tensor, list_of_row: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """0-based rank of each row in its list by descending score (ties: earlier row first)."""
    by_score = torch.argsort(scores, descending=True, stable=True)
    order = by_score[torch.argsort(list_of_row[by_score], stable=True)]  # grouped by list, best first
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=scores.device) - starts[list_of_row[order]]
    return rank


def lambdarank_loss(
    logits: torch.Tensor, labels: torch.Tensor, list_of_row: torch.Tensor, k: int = 10
) -> torch.Tensor:
    """LambdaRank with NDCG@k weights: the mean over lists with a positive of
    ``sum over (positive i, negative j) of |ΔNDCG@k(i <-> j)| * log(1 + exp(s_j - s_i))``.

    ΔNDCG is read at the current ranking (no gradient through it). Only pairs in which one side is
    in the top ``k`` weigh anything; built per positive row against its whole list, so a batch
    costs (positives x list length), not (list length)^2."""
    logits = logits.float()
    n = int(list_of_row.max()) + 1 if len(list_of_row) else 0
    sizes = torch.bincount(list_of_row, minlength=n)
    starts = torch.cumsum(sizes, 0) - sizes
    positive = labels > 0
    with torch.no_grad():
        rank = rank_within_lists(logits, list_of_row, starts)
        discount = (rank < k).float() / torch.log2(rank.float() + 2.0)  # 0 below the top k
        n_pos = torch.zeros(n, device=logits.device).index_add(0, list_of_row, positive.float())
        ideal = torch.cumsum(1.0 / torch.log2(torch.arange(k, device=logits.device).float() + 2.0), 0)
        idcg = ideal[(n_pos.clamp(1, k) - 1).long()]
    pos_rows = torch.nonzero(positive).squeeze(1)
    pos_list = list_of_row[pos_rows]
    pair_counts = sizes[pos_list]
    i = torch.repeat_interleave(pos_rows, pair_counts)
    offsets = torch.arange(int(pair_counts.sum()), device=logits.device) - torch.repeat_interleave(
        torch.cumsum(pair_counts, 0) - pair_counts, pair_counts
    )
    j = torch.repeat_interleave(starts[pos_list], pair_counts) + offsets
    keep = ~positive[j]
    i, j = i[keep], j[keep]
    weight = (discount[i] - discount[j]).abs() / idcg[list_of_row[i]]
    pair_loss = weight * torch.nn.functional.softplus(logits[j] - logits[i])
    per_list = torch.zeros(n, device=logits.device).index_add(0, list_of_row[i], pair_loss)
    return per_list[n_pos > 0].mean()


LOSSES = {"softmax": listwise_softmax_loss, "lambdarank": lambdarank_loss}
