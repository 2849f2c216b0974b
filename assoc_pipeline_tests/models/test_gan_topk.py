"""The GAN's exactly-k sampler: a threshold read from the top places only is the same threshold."""

from __future__ import annotations

import pytest
import torch

from assoc_pipeline.core.recsys.models.gan.topk import (
    _ranked_topk,
    hard_topk,
    sample_topk,
    soft_topk_threshold,
)


def test_threshold_from_the_top_places_equals_the_full_sort() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 300, generator=gen, requires_grad=True)
    sizes = torch.randint(1, 40, (64,), generator=gen).float()
    top = logits.detach().topk(int(sizes.max()) + 1, dim=-1).values
    full = soft_topk_threshold(logits, sizes, 0.5)
    (grad_full,) = torch.autograd.grad(full.sum(), logits)
    part = soft_topk_threshold(logits, sizes, 0.5, ordered=top)
    (grad_part,) = torch.autograd.grad(part.sum(), logits)
    assert torch.equal(full, part) and torch.equal(grad_full, grad_part)


def test_samples_hold_exactly_their_size_and_the_forced_item() -> None:
    torch.manual_seed(1)
    logits = torch.randn(32, 50, requires_grad=True)
    sizes = torch.tensor([1.0, 49.0, 50.0] + [5.0] * 29)  # one row asks for every item
    force = torch.randint(0, 50, (32,))
    basket = sample_topk(logits, sizes, 0.5, force=force)
    assert torch.equal(basket.detach().sum(-1), sizes)
    assert bool((basket.detach().gather(-1, force.unsqueeze(-1)) == 1).all())
    basket.sum().backward()  # the relaxed basket carries a gradient to the logits
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("n_items", [2, 7, 300])
def test_hard_topk_picks_what_a_full_sort_picks_even_among_tied_scores(n_items: int) -> None:
    """The top-(max size + 1) shortcut gives every row the items the full descending sort gave:
    rows whose size-th and next score are tied go through the sort, so sampled baskets stay."""
    g = torch.Generator().manual_seed(n_items)
    for tied in (False, True):
        scores = torch.randn(200, n_items, generator=g)
        if tied:
            scores = (scores * 2).round()  # a handful of values: ties at the cut-off everywhere
        sizes = torch.randint(0, n_items + 1, (200,), generator=g)
        scores[torch.arange(200), torch.randint(0, n_items, (200,), generator=g)] = float("inf")
        basket = hard_topk(scores, sizes)
        assert torch.equal(basket, _ranked_topk(scores, sizes))
        assert torch.equal(basket.sum(-1), sizes.to(basket.dtype))  # exactly size items
        chosen = torch.where(basket.bool(), scores, torch.inf).min(-1).values
        left = torch.where(basket.bool(), -torch.inf, scores).max(-1).values
        assert bool((chosen >= left).all())  # nothing left out scores above what was chosen
