"""Exactly-k basket samples whose gradient knows about the k-item cut-off.

Why: a plain straight-through estimator passes the gradient of a softmax that ignores which items
made the cut, and every basket GAN trained that way collapsed onto a few item clusters
(shared/notes/basket-gan.md). Here the relaxed basket is ``sigmoid((logits - t) / tau)`` with the
threshold ``t`` solving ``sum sigmoid(...) = k``, and ``t`` is a differentiable function of the
logits (implicit function theorem), so raising one item's logit lowers the others' inclusion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_topk_threshold(
    logits: torch.Tensor,
    sizes: torch.Tensor,
    tau: float,
    newton_steps: int = 4,
    ordered: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per row, ``t`` with ``sum_i sigmoid((logits_i - t) / tau) = size``, differentiable in ``logits``.

    ``ordered``: each row's largest logits, descending, at least its ``size + 1`` first ones (the
    start reads places ``size`` and ``size + 1``); computed here when not given.
    The value comes from Newton steps started between the k-th and (k+1)-th largest logit (no
    graph); one extra Newton step taken *with* the graph gives the implicit gradient
    ``dt/dl_j = s'_j / sum_i s'_i`` (its residual is ~0, so only that term survives).
    """
    k = sizes.to(logits.dtype).clamp(min=1.0, max=float(logits.shape[-1] - 1))
    with torch.no_grad():
        if ordered is None:
            ordered = logits.sort(dim=-1, descending=True).values
        idx = k.long().unsqueeze(-1)
        t = 0.5 * (ordered.gather(-1, idx - 1) + ordered.gather(-1, idx)).squeeze(-1)
        for _ in range(newton_steps):
            s = torch.sigmoid((logits - t.unsqueeze(-1)) / tau)
            slope = (s * (1 - s)).sum(-1) / tau
            t = t + (s.sum(-1) - k) / slope.clamp_min(1e-6)
    s = torch.sigmoid((logits - t.unsqueeze(-1)) / tau)
    slope = (s * (1 - s)).sum(-1) / tau
    return t + (s.sum(-1) - k) / slope.clamp_min(1e-6)


def hard_topk(scores: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Multi-hot of each row's top-``size`` scores (exactly ``size`` ones per row).

    From the largest max(size) + 1 scores (``topk``), not a sort of every row: sampling a 100k-item
    log's 600k baskets sorted 10k modelled items per basket, half of the GAN's evaluation. The set
    of the ``size`` best is unique unless the size-th and the next score are equal; those rows
    take the full sort as before (:func:`_ranked_topk`), so every row gets the items it got before."""
    sizes = sizes.to(scores.device).long()
    places = min(int(sizes.max()) + 1, scores.shape[-1]) if len(sizes) else 0
    if places < 2:
        return _ranked_topk(scores, sizes)
    values, columns = scores.topk(places, dim=-1)
    kept = torch.arange(places, device=scores.device) < sizes.unsqueeze(-1)
    out = torch.zeros_like(scores).scatter_(-1, columns, kept.to(scores.dtype))
    at = sizes.clamp(1, places - 1).unsqueeze(-1)
    inside = (sizes >= 1) & (sizes < places)
    tied = inside & (values.gather(-1, at - 1) == values.gather(-1, at)).squeeze(-1)
    rows = torch.nonzero(tied).flatten()
    if len(rows):
        out[rows] = _ranked_topk(scores[rows], sizes[rows])
    return out


def _ranked_topk(scores: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """:func:`hard_topk` by a full descending sort of each row (ties: the sort's order)."""
    order = scores.argsort(dim=-1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(scores.shape[-1], device=scores.device).expand_as(order))
    return (ranks < sizes.unsqueeze(-1)).to(scores.dtype)


def gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(u))


def sample_topk(
    logits: torch.Tensor, sizes: torch.Tensor, tau: float, force: torch.Tensor | None = None
) -> torch.Tensor:
    """Baskets of exactly ``sizes`` items (Gumbel top-k, i.e. sampling without replacement) in the
    forward pass; the relaxed basket's gradient (with the differentiable threshold) backward.
    ``force``: one item index per row that is always in the basket (a constant offset, no gradient)."""
    g = logits + gumbel(logits.shape).to(logits.device)
    if force is not None:
        g = g + 1e4 * F.one_hot(force, logits.shape[-1]).to(g.dtype)
    with torch.no_grad():
        # the largest max(size) + 1 scores are all the threshold reads: 4-5x cheaper than a sort
        places = min(max(int(sizes.max()), 1) + 1, g.shape[-1])
        ordered = g.topk(places, dim=-1).values
        kth = ordered.gather(-1, (sizes.long().clamp(1, g.shape[-1]) - 1).unsqueeze(-1))
        hard = (g >= kth).to(g.dtype)  # ties have probability 0 under Gumbel noise
    t = soft_topk_threshold(g, sizes, tau, ordered=ordered)
    soft = torch.sigmoid((g - t.unsqueeze(-1)) / tau)
    return hard + soft - soft.detach()
